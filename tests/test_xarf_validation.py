"""The quick X-ARF validation of csam reports says what the strict master schema says: on reports as
the composer builds them, and on the same reports broken every way a bug could break them."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notices.xarf import InvalidXarfReport, ReportFacts, _csam_problems, _problems, build_report, validate

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
