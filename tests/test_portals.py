"""Reporting portals' configuration: what a portal shows visitors is checked on the way in."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner, Result

from faces.cli import App, cli
from takedown import exitcodes
from takedown.clock import ManualClock
from takedown.portal_views import list_portals
from takedown.portals import PortalChange, PortalError, add_portal, find_portal, set_portal
from takedown.settings import Settings
from takedown.store import Store
from tests.conftest import printed_both_ways


def run(store: Store, clock: ManualClock, *args: str) -> Result:
    app = App(settings=Settings(database_url="unused", actor="analyst:sue"), clock=clock, _store=store)
    return CliRunner().invoke(cli, list(args), obj=app)


def test_portals_are_added_changed_and_listed_from_the_command_line(store: Store, clock: ManualClock) -> None:
    added = run(
        store, clock, "portals", "add", "KE", "--country", "ke", "--languages", "en,sw", "--partner",
        "Partner Org", "--helpline", "Childline Kenya: 116", "--welcome", "Report safely.\nAnonymously.",
        "--json",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    shown = json.loads(added.stdout)
    assert (shown["slug"], shown["country"], shown["languages"]) == ("ke", "KE", ["en", "sw"])
    assert shown["helplines"] == [{"name": "Childline Kenya", "contact": "116"}]
    assert shown["welcome"] == "Report safely.\nAnonymously." and shown["acknowledgements"] is False
    changed = run(
        store, clock, "portals", "set", "ke", "--languages", "sw,en,fr", "--acknowledgements", "--json"
    )
    assert changed.exit_code == 0, changed.output
    after = json.loads(changed.stdout)
    assert after["languages"] == ["sw", "en", "fr"] and after["acknowledgements"] is True
    assert after["partner"] == "Partner Org" and after["updated_by"] == "analyst:sue"  # the rest stays
    listed = run(store, clock, "portals", "list")
    assert "ke" in listed.output and "sw,en,fr" in listed.output and "Partner Org" in listed.output
    taken = run(
        store, clock, "portals", "add", "ke", "--country", "KE", "--languages", "en", "--partner", "X"
    )
    assert taken.exit_code == exitcodes.DATA_ERROR and "already a portal's" in taken.output
    missing = run(store, clock, "portals", "set", "nowhere", "--country", "KE")
    assert missing.exit_code == exitcodes.NOT_FOUND


@pytest.mark.parametrize(
    ("slug", "change", "message"),
    [
        ("a", PortalChange(country="KE", languages=["en"], partner="P"), "2 to 32 lowercase"),
        ("ke", PortalChange(country="Kenya", languages=["en"], partner="P"), "two letters"),
        ("ke", PortalChange(country="KE", languages=["de"], partner="P"), "the portal speaks en, fr, pt, sw"),
        ("ke", PortalChange(country="KE", languages=["en"], partner="P\x00"), "control characters"),
        ("ke", PortalChange(country="KE", languages=["en"], partner="P", host="not a host"), "a host name"),
        (
            "ke",
            PortalChange(country="KE", languages=["en"], partner="P", helplines=["no colon"]),
            "NAME: CONTACT",
        ),
        (
            "ke",
            PortalChange(country="KE", languages=["en"], partner="P", welcome="x" * 2001),
            "the limit is 2000",
        ),
        ("ke", PortalChange(country="KE", partner="P"), "give its --country, --languages and --partner"),
    ],
)
def test_what_visitors_would_see_is_checked(
    store: Store, clock: ManualClock, slug: str, change: PortalChange, message: str
) -> None:
    with pytest.raises(PortalError, match=message), store.session() as session:
        add_portal(session, slug, change, actor="t", now=clock.now())
    with store.session() as session:
        assert list_portals(session) == []


def test_two_portals_cannot_share_a_host(store: Store, clock: ManualClock) -> None:
    base = PortalChange(country="BR", languages=["pt"], partner="P")
    with store.session() as session:
        add_portal(session, "br", base, actor="t", now=clock.now())
        add_portal(session, "br-2", base, actor="t", now=clock.now())
        set_portal(session, "br", PortalChange(host="Report.Partner.example."), actor="t", now=clock.now())
    with pytest.raises(PortalError, match="already another portal's"), store.session() as session:
        set_portal(session, "br-2", PortalChange(host="report.partner.example"), actor="t", now=clock.now())
    with store.session() as session:
        assert [(p.slug, p.host) for p in list_portals(session)] == [
            ("br", "report.partner.example"),
            ("br-2", None),
        ]


def test_portals_read_the_same_through_the_driver_alone(store: Store, clock: ManualClock) -> None:
    """``portals list`` at the terminal reads through sqlite3 or psycopg alone (no SQLAlchemy to
    import): each portal as the store's own path finds it (languages in order, helplines decoded,
    acknowledgements as yes or no, times in UTC), and the command prints what it prints through
    the store."""
    from takedown.direct_reads import DirectReader

    with store.session() as session:
        add_portal(session, "ke", PortalChange(country="KE", languages=["sw", "en"], partner="Partner 'K'",
                   welcome="Karibu ünïcode", helplines=["Childline: 116", "Web: https://help.test/"],
                   acknowledgements=True), actor="t", now=clock.now())  # fmt: skip
        add_portal(session, "br", PortalChange(country="BR", languages=["pt"], partner="P",
                   host="denuncie.test"), actor="t", now=clock.now())  # fmt: skip
        found = [find_portal(session, "br"), find_portal(session, "ke")]
    url = store.engine.url.render_as_string(hide_password=False)
    with DirectReader.open(url) as direct:  # type: ignore[union-attr]
        directly = list_portals(direct)
    assert directly == found == list_portals(store)
    assert directly[1].helplines[0].contact == "116" and directly[1].acknowledgements is True
    assert directly[1].languages == ("sw", "en") and directly[0].acknowledgements is False
    listed, as_json = printed_both_ways(store, clock, ["portals", "list"], ["portals", "list", "--json"])
    assert "Partner 'K'" in listed and "116" in as_json
