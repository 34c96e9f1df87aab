"""The contact book beats RDAP: overrides by AS, network and platform; mailboxes moved or barred."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from faces.cli import App, cli
from hosting.contact_entries import ContactError, contact_history, list_contacts, normalise
from hosting.contact_writes import mark_mailbox_bad, remove_contact, set_contact
from hosting.contacts import ContactBook
from hosting.factory import resolver_from_settings
from hosting.resolve import HostingResolver
from sandbox import Autnum, Network, Sandbox
from takedown import exitcodes
from takedown.clock import ManualClock
from takedown.settings import Settings
from takedown.store import Store
from tests.conftest import printed_both_ways

HOSTS = {"files.test": "127.0.20.1", "moved.test": "127.0.21.1", "registry-box.test": "127.0.22.1"}
NETWORKS = [
    Network("127.0.20.0/24", "ripe", "Alpha Hosting", "NL", abuse="abuse@alpha.test", asn=64520),
    Network("127.0.21.0/24", "arin", "Beta Hosting", "US", abuse="old-desk@beta.test", asn=64521),
    # A registry's parent block: its only contact is the registry's own role mailbox.
    Network(
        "127.0.22.0/24", "apnic", "Unassigned", "AU", technical="search-apnic-not-arin@apnic.net", asn=64522
    ),
]
AUTNUMS = [
    Autnum(64520, "ripe", "ALPHA", "Alpha Hosting", "NL", "abuse@alpha.test", peers=(64530,)),
    Autnum(64530, "ripe", "TRANSIT", "Transit plc", "GB", "abuse@transit.test"),
]


@pytest.fixture(scope="module")
def world() -> Iterator[Sandbox]:
    with Sandbox(HOSTS, networks=NETWORKS, autnums=AUTNUMS) as sandbox:
        yield sandbox


@pytest.fixture
def resolver(world: Sandbox, store: Store, clock: ManualClock, tmp_path: Path) -> Iterator[HostingResolver]:
    settings = Settings.from_env({**world.environment(), "TAKEDOWN_HOME": str(tmp_path)})
    made = resolver_from_settings(settings, store=store, clock=clock)
    yield made
    made.close()


def emails(resolver: HostingResolver, url: str, role: str) -> tuple[tuple[str, ...], str]:
    party = resolver.resolve(url).party(role)
    assert party is not None, role
    return party.emails, party.contact_source


def test_an_asn_override_beats_rdap_and_a_network_override_beats_the_asn(
    world: Sandbox, resolver: HostingResolver, store: Store, clock: ManualClock
) -> None:
    url = world.url("files.test", "/f/1")
    assert emails(resolver, url, "hosting") == (("abuse@alpha.test",), "abuse")
    set_contact(
        store, "asn", "AS64520", email="reports@alpha.test", language="nl", actor="analyst:a", clock=clock
    )
    assert emails(resolver, url, "hosting") == (("reports@alpha.test",), "contact book: asn 64520")
    set_contact(
        store, "network", "127.0.20.0/25", email="customer@alpha.test", actor="analyst:a", clock=clock
    )
    hosting = resolver.resolve(url).party("hosting")
    assert hosting is not None and hosting.emails == ("customer@alpha.test",)
    assert hosting.contact_source == "contact book: network 127.0.20.0/25"


def test_a_platform_desk_is_added_as_the_site_recipient(
    world: Sandbox, resolver: HostingResolver, store: Store, clock: ManualClock
) -> None:
    set_contact(
        store, "domain", "files.test", email="abuse@files.test", language="en", actor="a", clock=clock
    )
    result = resolver.resolve(world.url("cdn.files.test", "/x"), connected_ip="127.0.20.1")
    assert [p.role for p in result.parties][:2] == ["site", "hosting"]
    site = result.party("site")
    assert site is not None and site.emails == ("abuse@files.test",) and site.language == "en"


def test_moved_and_barred_mailboxes(
    world: Sandbox, resolver: HostingResolver, store: Store, clock: ManualClock
) -> None:
    set_contact(store, "email", "OLD-desk@beta.test", email="desk@beta.test", actor="a", clock=clock)
    assert emails(resolver, world.url("moved.test", "/"), "hosting") == (("desk@beta.test",), "abuse")
    set_contact(store, "email", "desk@beta.test", never_notify=True, note="bounces", actor="a", clock=clock)
    assert emails(resolver, world.url("moved.test", "/"), "hosting") == ((), "never-notify")


def test_registry_role_mailboxes_are_never_notified_out_of_the_box(
    world: Sandbox, resolver: HostingResolver
) -> None:
    assert emails(resolver, world.url("registry-box.test", "/"), "hosting") == ((), "never-notify")


def test_never_notify_on_an_upstream(
    world: Sandbox, resolver: HostingResolver, store: Store, clock: ManualClock
) -> None:
    set_contact(store, "asn", "64530", never_notify=True, actor="a", clock=clock)
    assert emails(resolver, world.url("files.test", "/"), "upstream") == ((), "never-notify")


@pytest.mark.parametrize(
    ("scope", "value", "message"),
    [
        ("asn", "ASX", "expected an AS number"),
        ("network", "300.1.1.0/24", "expected an address range"),
        ("domain", "localhost", "expected a registrable domain"),
        ("email", "not-a-mailbox", "not a mailbox"),
        ("isp", "x", "expected one of"),
    ],
)
def test_bad_entries_are_refused_with_the_reason(scope: str, value: str, message: str) -> None:
    with pytest.raises(ContactError, match=message):
        normalise(scope, value)


def test_an_entry_needs_a_mailbox_or_never_notify(store: Store) -> None:
    with pytest.raises(ContactError, match="give --email ADDRESS, or --never-notify"):
        set_contact(store, "asn", "64500", actor="a")
    assert list_contacts(store) == []


def test_setting_twice_replaces(store: Store, clock: ManualClock) -> None:
    set_contact(store, "asn", "64500", email="one@x.test", actor="a", clock=clock)
    set_contact(store, "asn", "AS64500", email="two@x.test", actor="b", clock=clock)
    [entry] = list_contacts(store)
    assert (entry.email, entry.updated_by) == ("two@x.test", "b")
    assert ContactBook([entry]).by_asn[64500].email == "two@x.test"


def test_contacts_commands(tmp_path: Path) -> None:
    env = {"TAKEDOWN_HOME": str(tmp_path), "TAKEDOWN_ACTOR": "analyst:cli"}
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(cli, list(args), obj=App(settings=Settings.from_env(env), clock=ManualClock()))

    stored = run(
        "contacts", "set", "asn", "AS64500", "--email", "desk@alpha.test", "--language", "nl", "--json"
    )
    assert stored.exit_code == 0, stored.output
    assert json.loads(stored.output)["value"] == "64500"
    bad = run("contacts", "set", "network", "nonsense", "--email", "x@y.test")
    assert bad.exit_code == exitcodes.DATA_ERROR
    assert "expected an address range" in bad.output
    listed = run("contacts", "list")
    assert "asn      64500" in listed.output and "notify desk@alpha.test [nl]" in listed.output
    assert run("contacts", "remove", "asn", "64500").exit_code == 0
    assert run("contacts", "remove", "asn", "64500").exit_code == exitcodes.NOT_FOUND
    history = run("contacts", "history", "asn", "AS64500", "--json")
    assert history.exit_code == 0, history.output
    lines = [json.loads(line) for line in history.output.splitlines()]
    assert [(c["change"], c["actor"]) for c in lines] == [("removed", "analyst:cli"), ("set", "analyst:cli")]
    assert lines[1]["email"] == "desk@alpha.test" and lines[1]["language"] == "nl"
    assert run("contacts", "history", "asn").exit_code == exitcodes.USAGE


def test_the_book_keeps_every_change_with_who_and_when(store: Store, clock: ManualClock) -> None:
    set_contact(store, "email", "desk@host.test", email="new@host.test", actor="analyst:a", clock=clock)
    clock.advance(timedelta(hours=1))
    set_contact(
        store, "email", "desk@Host.test", never_notify=True, note="spam trap", actor="analyst:b", clock=clock
    )
    clock.advance(timedelta(hours=1))
    with store.session() as session:
        mark_mailbox_bad(session, "gone@host.test", "550 no such user", now=clock.now(), actor="notifier")
    clock.advance(timedelta(hours=1))
    assert remove_contact(store, "email", "desk@host.test", actor="analyst:c", clock=clock)
    assert not remove_contact(store, "email", "desk@host.test", actor="analyst:c", clock=clock)

    entry = [(c.change, c.email, c.note, c.actor) for c in contact_history(store, "email", "desk@HOST.test")]
    assert entry == [
        ("removed", None, None, "analyst:c"),
        ("barred", None, "spam trap", "analyst:b"),
        ("set", "new@host.test", None, "analyst:a"),
    ]
    everything = contact_history(store)
    assert [c.change for c in everything] == ["removed", "bounced", "barred", "set"]
    assert everything[1].value == "gone@host.test" and "550" in (everything[1].note or "")
    assert [c.at for c in everything] == sorted((c.at for c in everything), reverse=True)
    assert list_contacts(store)[0].value == "gone@host.test"  # the removal took the entry, not its history

    app = App(settings=Settings(database_url="unused", actor="analyst:d"), clock=clock, _store=store)
    cleared = CliRunner().invoke(
        cli, ["contacts", "clear-bounce", "gone@host.test", "never@host.test"], obj=app
    )
    assert cleared.exit_code == exitcodes.NOT_FOUND and "not marked bad: never@host.test" in cleared.output
    assert "cleared gone@host.test" in cleared.output
    assert list_contacts(store) == []  # the bounce had made the entry: vouching removes it
    assert contact_history(store, "email", "gone@host.test")[0].actor == "analyst:d"


def test_a_mailbox_is_one_entry_whatever_its_case(store: Store, clock: ManualClock) -> None:
    """The book bars and replaces mailboxes case aside, so a bounce, a vouching, a removal and the
    history find an analyst's entry however the address is written, and never make a second one."""
    from takedown.models import Contact

    set_contact(store, "email", "Desk@Host.test", email="new@host.test", actor="analyst:a", clock=clock)
    clock.advance(timedelta(hours=1))
    with store.session() as session:
        mark_mailbox_bad(session, "desk@HOST.TEST", "550 no such user", now=clock.now(), actor="outbox")
        mark_mailbox_bad(session, "Gone@Host.Test", "550 gone", now=clock.now(), actor="outbox")
        # A mark stored before addresses were normalised, as an older version wrote it.
        session.add(Contact(scope="email", value="Old@HOST.test", never_notify=False, updated_at=clock.now(),
                            updated_by="outbox", bad_since=clock.now()))  # fmt: skip
    entries = {entry.value: entry for entry in list_contacts(store)}
    assert sorted(entries) == ["Desk@host.test", "Gone@host.test", "Old@HOST.test"]
    assert entries["Desk@host.test"].email == "new@host.test"  # the analyst's entry, marked
    assert entries["Desk@host.test"].bad_since == clock.now()
    history = [(c.change, c.value) for c in contact_history(store, "email", "DESK@host.test")]
    assert history == [("bounced", "Desk@host.test"), ("set", "Desk@host.test")]

    clock.advance(timedelta(hours=1))
    app = App(settings=Settings(database_url="unused", actor="analyst:b"), clock=clock, _store=store)
    cleared = CliRunner().invoke(
        cli, ["contacts", "clear-bounce", "desk@host.test", "old@host.test", "not a mailbox"], obj=app
    )
    assert cleared.exit_code == exitcodes.NOT_FOUND, cleared.output
    assert "cleared desk@host.test" in cleared.output and "cleared old@host.test" in cleared.output
    assert "not marked bad: not a mailbox" in cleared.output
    entries = {entry.value: entry for entry in list_contacts(store)}
    assert sorted(entries) == ["Desk@host.test", "Gone@host.test"]
    assert entries["Desk@host.test"].bad_since is None and entries["Desk@host.test"].email == "new@host.test"

    set_contact(store, "email", "GONE@host.test", email="desk@host.test", actor="analyst:b", clock=clock)
    assert [
        (e.value, e.email, e.bad_since) for e in list_contacts(store) if e.value.lower() == "gone@host.test"
    ] == [
        ("Gone@host.test", "desk@host.test", None)
    ]  # setting vouches for the bounced entry, not a second one beside it
    assert remove_contact(store, "email", "gone@HOST.test", actor="analyst:b", clock=clock)
    assert [entry.value for entry in list_contacts(store)] == ["Desk@host.test"]

    with store.session() as session:  # one mailbox stored twice, as an older version could leave it
        for value in ("Twin@HOST.test", "twin@host.TEST"):
            session.add(Contact(scope="email", value=value, never_notify=False, updated_at=clock.now(),
                                updated_by="outbox", bad_since=clock.now()))  # fmt: skip
    set_contact(store, "email", "twin@host.test", email="new@host.test", actor="analyst:b", clock=clock)
    twins = [
        (e.value, e.email, e.bad_since) for e in list_contacts(store) if e.value.lower() == "twin@host.test"
    ]
    assert twins == [("Twin@HOST.test", "new@host.test", None)]  # one entry, vouched for
    assert ContactBook(list_contacts(store)).barred == set()


def test_the_book_reads_the_same_through_the_driver_alone(store: Store, clock: ManualClock) -> None:
    """``contacts list`` at the terminal reads through sqlite3 or psycopg alone (no SQLAlchemy to
    import): every entry as the mapped models hold it (never-notify as a yes or no, times in UTC,
    a bounced mailbox's mark), and the command prints what it prints through the store."""
    from sqlalchemy import select

    from takedown.direct_reads import DirectReader
    from takedown.models import Contact, ContactChange

    set_contact(store, "network", "192.0.2.0/24", email="noc@net.test", language="nl",
                note="Their 'desk' ünïcode", actor="analyst:a", clock=clock)  # fmt: skip
    set_contact(store, "asn", "64500", never_notify=True, actor="analyst:b", clock=clock)
    clock.advance(timedelta(hours=1))
    with store.session() as session:
        mark_mailbox_bad(session, "gone@host.test", "550 no such user", now=clock.now(), actor="outbox")
    with store.reading() as session:
        held = [
            (c.scope, c.value, c.email, c.language, c.never_notify, c.note, c.updated_at, c.updated_by,
             c.bad_since)
            for c in session.scalars(select(Contact).order_by(Contact.scope, Contact.value))
        ]  # fmt: skip
    url = store.engine.url.render_as_string(hide_password=False)
    with DirectReader.open(url) as direct:  # type: ignore[union-attr]
        directly = list_contacts(direct)
    assert [dataclasses.astuple(entry) for entry in directly] == held
    assert directly == list_contacts(store)
    assert [entry.never_notify for entry in directly] == [True, False, False]
    assert directly[1].bad_since == clock.now() and directly[0].updated_at is not None
    [listed] = printed_both_ways(store, clock, ["contacts", "list", "--json"])
    assert "gone@host.test" in listed
    assert json.loads(listed.splitlines()[0])["never_notify"] is True  # not SQLite's 1
    with store.reading() as session:
        changes = [
            (c.scope, c.value, c.change, c.email, c.language, c.note, c.at, c.actor)
            for c in session.scalars(select(ContactChange).order_by(ContactChange.id.desc()))
        ]
    with DirectReader.open(url) as direct:  # type: ignore[union-attr]
        assert [dataclasses.astuple(change) for change in contact_history(direct)] == changes
        one = contact_history(direct, "NETWORK", "192.0.2.7/24")  # kept as 192.0.2.0/24
        with pytest.raises(ContactError, match="expected an AS number"):
            contact_history(direct, "asn", "sixty-four")
    assert [(change.value, change.change) for change in one] == [("192.0.2.0/24", "set")]
    assert [change[2] for change in changes] == ["bounced", "barred", "set"]
    every, one_entry = printed_both_ways(
        store, clock, ["contacts", "history"], ["contacts", "history", "email", "gone@HOST.test", "--json"]
    )
    assert "gone@host.test" in every and json.loads(one_entry)["change"] == "bounced"
