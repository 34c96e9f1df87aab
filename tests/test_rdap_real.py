"""Resolution against RDAP answers that real registries sent, not ones this project wrote.

The answers live in ``../shared/data/rdap-real/responses.json`` (recorded by other public projects;
they are not copied into this repository). ``TAKEDOWN_TEST_RDAP_REAL`` may point at the file
elsewhere. Without it, these tests skip and say why.

What each registry does, as these answers show it (and what the parser makes of it):

- ARIN: the network's own points of contact at the top level, the organisation's nested in the
  registrant; the network's own abuse POC wins. 2015 answers zero-pad IPv4 (``074.125.000.000``).
- RIPE NCC: the ``abuse-c`` role object carries ``e-mail`` (typed ``email``) beside the
  ``abuse-mailbox`` (typed ``abuse``); only the latter takes notices. Maintainers (``*-MNT``) carry
  the ``registrant`` role beside the organisation.
- APNIC: the IRT object is the abuse contact; its ``abuse-mailbox`` is the one with ``pref``.
  Blocks of national registries (JPNIC) list only the registry's hostmaster, whose remarks send
  abuse reports to the assignment's holder: barred by the shipped list. 1.1.1.0/24 names APNIC's
  helpdesk as IRT and Cloudflare's resolver abuse desk in a remark.
- LACNIC: entities carrying several roles at once, upper-case mail domains; its 2015 server answered
  with the queried address as the whole range. NIC.br withholds mailboxes ("object truncated due
  to server policy") when asked too often.
- AFRINIC: entities without any role; an abuse mailbox named only in a remark, or only as one of
  the organisation's addresses.
- Domains: gTLD registrars nest their abuse contact (ICANN profile); Namecheap lists it at the top
  level; AFNIC and Norid list none, so the registrar's own mailbox is used as a fallback.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hosting.contacts import ContactBook
from hosting.domain_cache import DomainCache
from hosting.factory import resolver_from_settings
from hosting.rdap.parse import parse_autnum, parse_domain, parse_network
from hosting.resolve import HostingResolver, Party
from sandbox import Network, Sandbox
from sandbox.rdap_server import RawAnswer
from takedown.clock import ManualClock
from takedown.settings import Settings
from takedown.store import Store
from tests.closing import closed_after_test

REAL_ANSWERS = Path(
    os.environ.get("TAKEDOWN_TEST_RDAP_REAL")
    or Path(__file__).resolve().parents[2] / "shared" / "data" / "rdap-real" / "responses.json"
)


def _load() -> dict[str, dict[str, Any]]:
    if not REAL_ANSWERS.is_file():
        pytest.skip(f"no recorded registry answers at {REAL_ANSWERS} (set TAKEDOWN_TEST_RDAP_REAL)")
    return {entry["id"]: entry for entry in json.loads(REAL_ANSWERS.read_text(encoding="utf-8"))}


@pytest.fixture(scope="module")
def answers() -> dict[str, dict[str, Any]]:
    return _load()


def parsed(entry: dict[str, Any]) -> Any:
    if entry["kind"] == "ip":
        return parse_network(entry["rdap"], entry["registry"])
    if entry["kind"] == "autnum":
        return parse_autnum(entry["rdap"], entry["registry"])
    return parse_domain(entry["rdap"])


def test_every_recorded_answer_is_read(answers: dict[str, dict[str, Any]]) -> None:
    assert len(answers) >= 46
    for entry in answers.values():
        record = parsed(entry)
        if entry["kind"] == "ip":
            assert record.contains(__import__("ipaddress").ip_address(entry["query"])), entry["id"]


# id -> (holder, abuse mailboxes, how they were found)
NETWORKS_AND_AS: dict[str, tuple[str | None, tuple[str, ...], str]] = {
    "arin-ip-google-v6-2015": ("Google Inc.", ("arin-contact@google.com",), "abuse"),
    "arin-ip-google-v4-zero-padded-2015": ("Google Inc.", ("arin-contact@google.com",), "abuse"),
    # the network's own abuse POC (top level) beats the organisation's (nested)
    "arin-ip-google-v6-2021": ("Google LLC", ("arin-contact@google.com",), "abuse"),
    "arin-ip-cloudflare-v6-2024": ("Cloudflare, Inc.", ("abuse@cloudflare.com",), "abuse"),
    "arin-ip-microsoft-multi-cidr-2022": ("Microsoft Corporation", ("abuse@microsoft.com",), "abuse"),
    "arin-ip-amazon-nested-only-2020": ("Amazon Technologies Inc.", ("abuse@amazonaws.com",), "abuse"),
    "arin-ip-unitedix-nested-only": ("United-IX", ("neteng@unitedix.net",), "abuse"),
    "ripe-ip-bt-v4-2015": (
        "BT-CORPORATE",
        ("zzdnsr@bt.com", "steve.a.marshall@bt.com", "lee.bailey-hague@bt.com"),
        "abuse",
    ),
    "ripe-ip-switch-2022": ("SWITCH-LAN", ("abuse@switch.ch",), "abuse"),
    # ops@ripe.net is typed "email" beside the "abuse"-typed mailbox in the same role object
    "ripe-ip-ripencc-typed-abuse-2020": ("RIPE-NCC", ("abuse@ripe.net",), "abuse"),
    "apnic-ip-jpnic-no-abuse-2015": (
        "IIJ-JPNIC-JP-20000308",
        ("hostmaster@nic.ad.jp",),
        "fallback:technical",
    ),
    "apnic-ip-krnic-irt-2015": ("BORANET-NET-210-107", ("hostmaster@nic.or.kr",), "abuse"),
    "apnic-ip-1.1.1.0-2024": ("APNIC Research and Development", ("helpdesk@apnic.net",), "abuse"),
    "lacnic-ip-triara-2015": ("Triara.com, S.A. de C.V.", ("operacion.redes@triara.com",), "abuse"),
    "lacnic-ip-neuralsoft-2020": ("NEURALSOFT S.R.L.", ("tomas.cribb@neuralsoft.com",), "abuse"),
    "lacnic-region-nicbr-no-mailbox-2020": ("Brasil Telecom S/A - Filial Distrito Federal", (), "none"),
    # no roles at all; the network's remark says where abuse reports go
    "afrinic-ip-mtn-no-roles-2015": ("ORG-VSA1-AFRINIC", ("abuse@mtnbusiness.co.za",), "remarks"),
    "afrinic-ip-vodacom-no-abuse-2020": (None, ("Jacques.hendricks@vodacom.co.za",), "fallback:technical"),
    "arin-autnum-13335-2024": ("Cloudflare, Inc.", ("abuse@cloudflare.com",), "abuse"),
    # routers@ and ops@ are the role's other mailboxes; the holder is the organisation, not COLOCLUE-MNT
    "ripe-autnum-8283-typed-abuse": ("Netwerkvereniging Coloclue", ("abuse@coloclue.net",), "abuse"),
    "ripe-autnum-205697-mnt-first": ("ALOJALIA CLOUD S.L.", ("abuse@alojalia.com",), "abuse"),
    "ripe-autnum-49037-typed-abuse": ("PROSTIE RESHENIA LLC", ("abuse@webrocket.am",), "abuse"),
    "ripe-autnum-1234-no-cards-2020": ("FORTUM-AS", (), "none"),
    # the IRT's abuse-mailbox has pref 1; its e-mail (the hostmaster) has none
    "apnic-autnum-9269-irt": ("Hong Kong Broadband Network Ltd", ("abuse@hkbn.net",), "abuse"),
    "apnic-autnum-2515-no-abuse": ("JPNIC", ("hostmaster@nic.ad.jp",), "fallback:technical"),
    "lacnic-autnum-27648-2020": ("TELECOMUNICACIONES BANTEL, C.A.", ("aperez@bantel.net.ve",), "abuse"),
    "lacnic-region-nicbr-autnum-53170": ("Cabangu Internet Ltda", (), "none"),
    # no abuse role, but the organisation lists abuse@ among its mailboxes: better than the NOC
    "afrinic-autnum-37271-no-abuse-role": (
        "Workonline Communications(Pty) Ltd",
        ("abuse@workonline.africa",),
        "fallback:abuse-address",
    ),
    "afrinic-autnum-36864-2020": ("AFRIBONE MALI SA", ("stevance@afribonemali.net",), "fallback:technical"),
}


@pytest.mark.parametrize("answer_id", sorted(NETWORKS_AND_AS))
def test_the_abuse_mailbox_the_registry_designates(
    answers: dict[str, dict[str, Any]], answer_id: str
) -> None:
    record = parsed(answers[answer_id])
    assert (record.organisation, record.abuse.emails, record.abuse.source) == NETWORKS_AND_AS[answer_id]


@pytest.mark.parametrize(
    ("answer_id", "start", "end"),
    [
        ("arin-ip-google-v4-zero-padded-2015", "74.125.0.0", "74.125.255.255"),
        ("ripe-ip-bt-v4-2015", "62.239.237.0", "62.239.237.255"),  # "/32" tails on both ends
        ("apnic-ip-jpnic-no-abuse-2015", "2001:240::", "2001:240:ffff:ffff:ffff:ffff:ffff:ffff"),
        ("afrinic-ip-tespok-v6-no-roles-2015", "2001:43f8:7b0::", "2001:43f8:7b0:ffff:ffff:ffff:ffff:ffff"),
        # no CIDR and the queried address as both ends: that address, never a wider guess
        ("lacnic-ip-triara-2015", "200.57.141.161", "200.57.141.161"),
    ],
)
def test_ranges_in_old_and_odd_spellings(
    answers: dict[str, dict[str, Any]], answer_id: str, start: str, end: str
) -> None:
    record = parsed(answers[answer_id])
    assert (str(record.start), str(record.end)) == (start, end)


def test_a_mailbox_listed_twice_in_different_case_is_written_to_once(
    answers: dict[str, dict[str, Any]],
) -> None:
    record = parsed(answers["afrinic-ip-tespok-v6-no-roles-2015"])
    assert [e.lower() for e in record.abuse.emails].count("barry@tespok.co.ke") == 1
    assert record.abuse.source == "fallback:unlabelled"


def test_nic_br_withholding_mailboxes_is_seen(answers: dict[str, dict[str, Any]]) -> None:
    assert parsed(answers["lacnic-region-nicbr-no-mailbox-2020"]).truncated
    assert parsed(answers["lacnic-region-nicbr-autnum-53170"]).truncated
    assert not parsed(answers["ripe-autnum-1234-no-cards-2020"]).truncated


DOMAINS: dict[str, tuple[str, str | None, tuple[str, ...], str]] = {
    "domain-verisign-google.com-2024": (
        "MarkMonitor Inc.",
        "292",
        ("abusecomplaints@markmonitor.com",),
        "abuse",
    ),
    "domain-markmonitor-google.com-2024": (
        "MarkMonitor Inc.",
        "292",
        ("abusecomplaints@markmonitor.com",),
        "abuse",
    ),
    # no publicIds: the ICANN profile's handle is the IANA ID
    "domain-verisign-20c.com": (
        "CSL Computer Service Langenbach GmbH d/b/a joker.com",
        "113",
        ("abuse@joker.com",),
        "abuse",
    ),
    # the registrar's own ccops@ mailbox is not its abuse desk
    "domain-microsoft.click-registrar-own-mailbox": (
        "MarkMonitor Inc.",
        "292",
        ("abusecomplaints@markmonitor.com",),
        "abuse",
    ),
    "domain-home.moscow": (
        'Limited Liability Company "Registrar of domain names REG.RU"',
        "1606",
        ("abuse@reg.ru",),
        "abuse",
    ),
    "domain-nic.xyz-centralnic": ("CentralNic Ltd", "9999", ("ops@centralnic.com",), "abuse"),
    "domain-bitcoin.org-namecheap-toplevel-abuse": ("NAMECHEAP INC", None, ("abuse@namecheap.com",), "abuse"),
    "domain-bitcoin.top-unicode-registrar": (
        "成都西维数码科技有限公司",
        "1556",
        ("westabuse@gmail.com",),
        "abuse",
    ),
    "domain-lemonde.fr-no-abuse-role": (
        "NAMESHIELD",
        "1251",
        ("registrar@nameshield.net",),
        "fallback:registrar",
    ),
    "domain-norway.no-no-abuse-role": (
        "Domeneshop AS",
        None,
        ("kundeservice@domeneshop.no",),
        "fallback:registrar",
    ),
}


@pytest.mark.parametrize("answer_id", sorted(DOMAINS))
def test_the_registrar_and_where_its_abuse_desk_is(
    answers: dict[str, dict[str, Any]], answer_id: str
) -> None:
    record = parse_domain(answers[answer_id]["rdap"])
    assert (
        record.registrar,
        record.registrar_iana_id,
        record.registrar_abuse.emails,
        record.registrar_abuse.source,
    ) == DOMAINS[answer_id]
    assert record.name == answers[answer_id]["query"]


def test_every_real_registration_comes_back_from_the_store_as_the_registry_gave_it(
    answers: dict[str, dict[str, Any]], store: Store, clock: ManualClock
) -> None:
    """The registration cache keeps the parsed record as JSON: every field a notice or the
    contact book reads (abuse handles and alternates included) must survive the round trip, on
    each database."""
    records = {  # by answer: google.com was recorded twice, years apart
        answer_id: parse_domain(entry["rdap"])
        for answer_id, entry in answers.items()
        if entry["kind"] == "domain"
    }
    assert len(records) >= 10
    writing = DomainCache(store, clock=clock)
    for key, record in records.items():
        writing.put(key, record)
    reading = DomainCache(store, clock=clock)  # another process: nothing in its memory
    assert {key: reading.get(key) for key in records} == records
    assert reading.hits == len(records)


def _hosting_party(entry: dict[str, Any]) -> Party:
    record = parsed(entry)
    return Party(
        "hosting",
        record.organisation,
        record.abuse.emails,
        record.abuse.source,
        "rdap",
        alternates=record.abuse.alternates,
    )


def test_a_barred_registry_helpdesk_gives_way_to_the_abuse_desk_its_remarks_name(
    answers: dict[str, dict[str, Any]],
) -> None:
    book = ContactBook.load(None)
    party = book._screen(_hosting_party(answers["apnic-ip-1.1.1.0-2024"]))
    assert (party.emails, party.contact_source) == (("resolver-abuse@cloudflare.com",), "remarks")


def test_a_national_registrys_hostmaster_is_never_notified(answers: dict[str, dict[str, Any]]) -> None:
    book = ContactBook.load(None)
    party = book._screen(_hosting_party(answers["apnic-ip-jpnic-no-abuse-2015"]))
    assert (party.emails, party.contact_source) == ((), "never-notify")


# --- the same answers served over HTTP to the whole resolver -------------------------------------

SERVED = {
    "apnic-ip-1.1.1.0-2024": Network("1.1.1.0/24", "apnic", "placeholder"),
    "lacnic-region-nicbr-no-mailbox-2020": Network("177.0.0.0/14", "lacnic", "placeholder"),
    "ripe-ip-ripencc-typed-abuse-2020": Network("193.0.0.0/21", "ripe", "placeholder"),
}


@pytest.fixture(scope="module")
def real_world() -> Iterator[Sandbox]:
    recorded = _load()
    with Sandbox({"reported.test": "127.0.0.2"}, networks=list(SERVED.values())) as sandbox:
        for answer_id, network in SERVED.items():
            sandbox.rdap.serve_raw("ip", network.cidr, RawAnswer.of(recorded[answer_id]["rdap"]))
        yield sandbox


def _resolve(world: Sandbox, clock: ManualClock, address: str) -> tuple[HostingResolver, Any]:
    settings = Settings.from_env({**world.environment(), "TAKEDOWN_DATABASE_URL": "sqlite://"})
    resolver = closed_after_test(resolver_from_settings(settings, clock=clock))
    return resolver, resolver.resolve("http://reported.test/x.jpg", address)


def test_resolving_a_real_ripe_answer_notifies_only_the_abuse_mailbox(
    real_world: Sandbox, clock: ManualClock
) -> None:
    _, result = _resolve(real_world, clock, "193.0.6.139")
    hosting = result.party("hosting")
    assert hosting is not None and hosting.emails == ("abuse@ripe.net",)


def test_resolving_1_1_1_1_reaches_the_desk_named_in_remarks(real_world: Sandbox, clock: ManualClock) -> None:
    _, result = _resolve(real_world, clock, "1.1.1.1")
    hosting = result.party("hosting")
    assert hosting is not None
    assert (hosting.emails, hosting.contact_source) == (("resolver-abuse@cloudflare.com",), "remarks")


def test_a_truncated_answer_is_asked_for_again_not_cached(real_world: Sandbox, clock: ManualClock) -> None:
    resolver, result = _resolve(real_world, clock, "177.0.0.1")
    problem = next(p for p in result.problems if p.step == "network")
    assert problem.kind == "TruncatedAnswer"
    assert problem.retry_at is not None and problem.retry_at > clock.now()
    assert result.party("hosting") is not None and result.party("hosting").emails == ()  # type: ignore[union-attr]
    before = resolver.rdap.queries["lacnic"]
    resolver.resolve("http://reported.test/y.jpg", "177.0.0.1")  # an allocation: cached for this address
    assert resolver.rdap.queries["lacnic"] == before + 1
