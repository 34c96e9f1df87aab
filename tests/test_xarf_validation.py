"""The quick X-ARF validation of csam reports says what the strict master schema says: on reports as
the composer builds them, and on the same reports broken every way a bug could break them."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from notices.xarf import (
    InvalidXarfReport,
    ReportFacts,
    _csam_problems,
    _is_ip,
    _problems,
    build_report,
    media_type_for,
    validate,
)
from takedown.classification import CLASSIFICATIONS
from takedown.errors import InvalidReport
from takedown.reports import Report, validate_report

HOSTS = st.sampled_from(["host-a.test", "xn--bcher-kva.example", "127.0.0.2", "[2001:db8::1]", "a.b.c.test"])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def reports(draw: st.DrawFn) -> dict[str, Any]:
    host = draw(HOSTS)
    scheme = draw(st.sampled_from(["http", "https"]))
    port = draw(st.sampled_from(["", ":8080", ":443"]))
    path = draw(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789/._-%", max_size=30))
    facts = ReportFacts(
        case_id=draw(st.integers(min_value=1, max_value=10**9)),
        url=f"{scheme}://{host}{port}/{path}",
        address=draw(st.sampled_from([None, "127.0.0.2", "2001:db8::1"])),
        verified_at=draw(st.datetimes(min_value=datetime(2000, 1, 1), timezones=st.just(UTC))),
        classification=draw(st.sampled_from(["baseline", "A1", "A2", "B1", "B2"])),
        sha256=draw(st.sampled_from([None, "ab" * 32])),
        md5=draw(st.sampled_from([None, "cd" * 16])),
        media_type=draw(st.sampled_from([None, "image", "video", "mixed"])),
        registrar=draw(st.sampled_from([None, "Example Registrar, Inc."])),
        hosting_provider=draw(st.sampled_from([None, "Alpha Hosting B.V."])),
        asn=draw(st.sampled_from([None, 64500])),
        country=draw(st.sampled_from([None, "NL", "us", "XXX"])),
        check=draw(st.sampled_from([None, {"status": 200}])),
    )
    return build_report(
        facts,
        reporter_org="Hotline",
        reporter_email="reports@hotline.test",
        now=datetime(2026, 11, 30, 4, 0, tzinfo=UTC),
    )


@st.composite
def broken(draw: st.DrawFn) -> dict[str, Any]:
    report = copy.deepcopy(draw(reports()))
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        key = draw(st.sampled_from(sorted(report)))
        how = draw(st.sampled_from(["drop", "replace", "nested"]))
        if how == "drop":
            report.pop(key, None)
        elif how == "replace" or not isinstance(report.get(key), dict | list):
            report[key] = draw(JSON_VALUES)
        elif isinstance(report[key], dict) and report[key]:
            inner = draw(st.sampled_from(sorted(report[key])))
            report[key][inner] = draw(JSON_VALUES)
        elif isinstance(report[key], list) and report[key]:
            report[key][0] = draw(JSON_VALUES)
    return report


def test_the_quick_validation_is_used_for_csam_reports() -> None:
    assert _csam_problems(build_report_example()) == []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(reports())
def test_built_reports_pass_both_ways(report: dict[str, Any]) -> None:
    assert bool(_csam_problems(report)) == bool(_problems(report, strict=True)), report


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(broken())
def test_broken_reports_fail_both_ways(report: dict[str, Any]) -> None:
    quick, strict = _csam_problems(report), _problems(report, strict=True)
    assert bool(quick) == bool(strict), (report, quick, strict)


def test_a_broken_report_is_refused_with_what_is_wrong() -> None:
    report = build_report_example()
    report["classification"] = "Z9"
    report.pop("reporter")
    with pytest.raises(InvalidXarfReport) as refused:
        validate(report)
    assert "classification" in str(refused.value) and "reporter" in str(refused.value)


def build_report_example() -> dict[str, Any]:
    facts = ReportFacts(
        case_id=1,
        url="http://host-a.test/x.jpg",
        address="127.0.0.2",
        verified_at=datetime(2026, 11, 30, tzinfo=UTC),
        classification="baseline",
        sha256="ab" * 32,
    )
    return build_report(
        facts,
        reporter_org="Hotline",
        reporter_email="reports@hotline.test",
        now=datetime(2026, 11, 30, tzinfo=UTC),
    )


# --- valid by construction ------------------------------------------------------------------------

HOSTILE_TEXT = st.text(max_size=300)  # whatever a registry's RDAP answer or a setting may hold


@st.composite
def reported_urls(draw: st.DrawFn) -> str:
    """A URL as intake accepts it (anything it refuses never becomes a case)."""
    host = draw(
        st.sampled_from(["host-a.test", "xn--bcher-kva.example", "sub.domain.example"])
        | st.ip_addresses(v=4).map(str)
        | st.ip_addresses(v=6).map(lambda a: f"[{a}]")
    )
    port = draw(st.none() | st.integers(min_value=1, max_value=65535))
    path = draw(st.text(max_size=40).map(lambda t: quote(t, safe="/;=&?")))
    url = f"{draw(st.sampled_from(['http', 'https']))}://{host}{f':{port}' if port else ''}/{path}"
    try:
        return validate_report(Report(url)).url
    except InvalidReport:
        reject()
        raise  # unreachable: reject() raises


@st.composite
def any_facts(draw: st.DrawFn) -> tuple[ReportFacts, str, str]:
    hexes = st.text(alphabet="0123456789abcdef", min_size=1, max_size=1)
    facts = ReportFacts(
        case_id=draw(st.integers(min_value=1, max_value=2**63 - 1)),
        url=draw(reported_urls()),
        address=draw(st.none() | st.ip_addresses().map(str)),
        verified_at=draw(st.datetimes(min_value=datetime(1990, 1, 1), timezones=st.just(UTC))),
        # mostly what the pipeline stores, sometimes what an old or damaged row might hold
        classification=draw(st.sampled_from(sorted(CLASSIFICATIONS)) | st.text(max_size=10)),
        sha256=draw(
            st.none() | st.lists(hexes, min_size=64, max_size=64).map("".join) | st.text(max_size=70)
        ),
        md5=draw(st.none() | st.lists(hexes, min_size=32, max_size=32).map("".join) | st.text(max_size=40)),
        media_type=draw(st.builds(media_type_for, st.none() | HOSTILE_TEXT) | st.text(max_size=8)),
        registrar=draw(st.none() | HOSTILE_TEXT),
        hosting_provider=draw(st.none() | HOSTILE_TEXT),
        asn=draw(st.none() | st.integers(min_value=0, max_value=2**32 - 1)),
        country=draw(st.none() | st.text(max_size=3)),
        check=draw(st.none() | st.dictionaries(st.text(max_size=12), JSON_VALUES, max_size=5)),
        known_to_lists=draw(st.booleans()),
    )
    reporter_org = draw(st.text(min_size=1, max_size=300))
    reporter_email = draw(st.emails())
    return facts, reporter_org, reporter_email


def strict_problems(report: dict[str, Any]) -> list[str]:
    """The strict master schema's verdict, with the one exception :func:`validate` makes (a URL on
    an IP address or an internationalised name has no domain X-ARF can carry)."""
    problems = _problems(report, strict=True)
    host = urlsplit(report["url"]).hostname or ""
    if "domain" not in report and (_is_ip(host) or "xn--" in host):
        problems = [p for p in problems if "'domain' is a required property" not in p]
    return problems


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]
)
@given(any_facts(), st.datetimes(min_value=datetime(2000, 1, 1), timezones=st.just(UTC)))
def test_every_report_the_composer_can_build_is_valid(
    made: tuple[ReportFacts, str, str], now: datetime
) -> None:
    """Why the composer validates only the first report of each notice in full: whatever the
    facts (RDAP's text, a setting's, any URL intake takes), the report built from them passes the
    strict schema, or is refused for a fact no check of the pipeline's would let through."""
    facts, reporter_org, reporter_email = made
    try:
        report = build_report(facts, reporter_org=reporter_org, reporter_email=reporter_email, now=now)
    except InvalidXarfReport as refused:  # only for facts the pipeline's own checks never let through
        assert (
            facts.classification not in CLASSIFICATIONS
            or (facts.sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", facts.sha256))
            or (facts.md5 is not None and not re.fullmatch(r"[0-9a-fA-F]{32}", facts.md5))
            or facts.media_type not in ("image", "video", "audio", "text", "mixed")
        ), refused
        return
    assert strict_problems(report) == [], report


def test_a_url_on_an_internationalised_name_gets_a_valid_report_without_a_domain() -> None:
    # X-ARF's domain pattern has no room for punycode ("xn--"): such a case was refused a report,
    # so never notified. The URL carries the host; the domain is left out, as for an IP address.
    facts = ReportFacts(
        case_id=7,
        url="http://xn--bcher-kva.example/x.jpg",
        address="127.0.0.2",
        verified_at=datetime(2026, 11, 30, tzinfo=UTC),
        classification="baseline",
    )
    report = build_report(
        facts,
        reporter_org="Hotline",
        reporter_email="reports@hotline.test",
        now=datetime(2026, 11, 30, tzinfo=UTC),
    )
    assert "domain" not in report and report["url"] == facts.url
    validate(report)  # does not raise
    assert build_report_example()["domain"] == "host-a.test"
