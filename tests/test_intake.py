"""Intake: what is refused and why, and what queuing does with new, open and closed URLs."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from takedown.case_moves import withdraw
from takedown.cases import get_case, transition
from takedown.errors import InvalidReport
from takedown.intake import QueueOutcome, queue_batch
from takedown.models import Event
from takedown.reports import Report, validate_report
from takedown.states import CaseState
from takedown.store import Store

SHA = "a" * 64


@pytest.mark.parametrize(
    ("report", "field", "message"),
    [
        (Report(""), "url", "is empty"),
        (Report("   "), "url", "is empty"),
        (Report("example.com/x"), "url", "has no scheme"),
        (Report("ftp://example.com/x"), "url", "scheme 'ftp' is not allowed"),
        (Report("javascript://alert(1)"), "url", "scheme 'javascript' is not allowed"),
        (Report("http://user:pw@example.com/"), "url", "contains credentials"),
        (Report("http://user@example.com/"), "url", "contains credentials"),
        (Report("http:///path-only"), "url", "has no host"),
        (Report("http://example.com:0/"), "url", "port 0"),
        (Report("http://example.com:70000/"), "url", "cannot be parsed"),
        (Report("http://example.com/a\r\nX-Injected: 1"), "url", "control character U+000D at position 21"),
        (Report("http://example.com/\u202eevil"), "url", "control character U+202E"),
        (Report("http://" + "a" * 8200 + ".com/"), "url", "the limit is 8192"),
        (Report("http://exa mple.com/"), "url", "not a valid host name"),
        (Report("http://a..b.com/"), "url", "empty label"),
        (Report("http://-lead.example/"), "url", "not a valid host name"),
        (Report("http://" + "a" * 64 + ".example/"), "url", "not a valid host name"),
        (Report("http://%65xample.com/"), "url", "percent-escaped"),
        (Report("http://a.test/", category="spam"), "category", "'spam' is not one of"),
        (Report("http://a.test/", reference="x" * 201), "reference", "the limit is 200"),
        (Report("http://a.test/", reference="HL-1\n2"), "reference", "control character"),
        (Report("http://a.test/", sha256=("abc",)), "sha256", "not a sha256 digest"),
        (Report("http://a.test/", sha256=("g" * 64,)), "sha256", "not a sha256 digest"),
        (Report("http://a.test/", md5=(SHA,)), "md5", "not a md5 digest"),
    ],
)
def test_bad_reports_are_refused_naming_the_field(report: Report, field: str, message: str) -> None:
    with pytest.raises(InvalidReport) as caught:
        validate_report(report)
    assert caught.value.field == field
    assert message in caught.value.message


@pytest.mark.parametrize(
    ("url", "host", "dedup_key"),
    [
        ("  http://Example.COM/a  ", "example.com", "http://example.com/a"),
        ("http://bücher.example/ü", "xn--bcher-kva.example", "http://xn--bcher-kva.example/%C3%BC"),
        ("http://3279880203/a", "195.127.0.11", "http://195.127.0.11/a"),
        ("http://[2001:DB8::1]:8443/a", "2001:db8::1", "http://[2001:db8::1]:8443/a"),
        ("https://example.com:8443/a", "example.com", "https://example.com:8443/a"),
        ("http://under_score.example/", "under_score.example", "http://under_score.example/"),
        ("http://example.com./a", "example.com", "http://example.com/a"),
    ],
)
def test_accepted_urls_are_kept_as_reported_with_their_keys(url: str, host: str, dedup_key: str) -> None:
    valid = validate_report(Report(url))
    assert valid.url == url.strip()
    assert valid.host == host
    assert valid.canonical.dedup_key == dedup_key


def test_digests_are_normalised_and_deduplicated() -> None:
    valid = validate_report(Report("http://a.test/", sha256=(SHA.upper(), SHA), md5=("B" * 32,)))
    assert valid.fingerprints == (("sha256", SHA), ("md5", "b" * 32))


def test_queuing_opens_a_case_with_its_event_and_fingerprints(store: Store, clock) -> None:
    report = validate_report(Report("http://a.test/x", reference="HL-7", sha256=(SHA,)))
    with store.session() as session:
        [result] = queue_batch(session, [report], actor="analyst:ann", now=clock.now())
    assert result.outcome is QueueOutcome.QUEUED
    with store.session() as session:
        case = get_case(session, result.case_id, with_history=True)
        assert (case.state, case.url, case.reference, case.queued_by) == (
            "queued",
            "http://a.test/x",
            "HL-7",
            "analyst:ann",
        )
        assert case.next_check_at == clock.now(), "a new case is due for its first revisit at once"
        assert [(f.algorithm, f.digest) for f in case.fingerprints] == [("sha256", SHA)]
        assert [(e.action, e.to_state, e.actor) for e in case.events] == [("queued", "queued", "analyst:ann")]


def test_requeuing_an_open_url_in_another_spelling_is_a_no_op(store: Store, clock) -> None:
    with store.session() as session:
        [first] = queue_batch(
            session, [validate_report(Report("http://a.test/x/"))], actor="a", now=clock.now()
        )
    with store.session() as session:
        [again] = queue_batch(
            session,
            [validate_report(Report("HTTP://A.TEST:80/x/./#frag", reference="other"))],
            actor="b",
            now=clock.now(),
        )
    assert again.outcome is QueueOutcome.ALREADY_OPEN
    assert again.case_id == first.case_id
    assert "already open as case" in again.describe()
    with store.session() as session:
        assert session.scalars(select(Event.action)).all() == ["queued"], "a no-op writes nothing"
        assert get_case(session, first.case_id).reference is None


def test_two_ports_are_two_cases(store: Store, clock) -> None:
    reports = [validate_report(Report(u)) for u in ("http://a.test/x", "http://a.test:8080/x")]
    with store.session() as session:
        results = queue_batch(session, reports, actor="a", now=clock.now())
    assert [r.outcome for r in results] == [QueueOutcome.QUEUED, QueueOutcome.QUEUED]
    assert results[0].case_id != results[1].case_id


def test_duplicates_within_one_batch_open_one_case(store: Store, clock) -> None:
    reports = [validate_report(Report(u)) for u in ("http://a.test/x", "http://a.test/y", "http://A.test/x")]
    with store.session() as session:
        results = queue_batch(session, reports, actor="a", now=clock.now())
    assert [r.outcome for r in results] == [
        QueueOutcome.QUEUED,
        QueueOutcome.QUEUED,
        QueueOutcome.ALREADY_OPEN,
    ]
    assert results[2].case_id == results[0].case_id


@pytest.mark.parametrize("closing", ["withdrawn", "removed"])
def test_requeuing_a_closed_url_opens_a_new_case_linked_to_the_old(store: Store, clock, closing: str) -> None:
    report = validate_report(Report("http://a.test/x"))
    with store.session() as session:
        [first] = queue_batch(session, [report], actor="a", now=clock.now())
    with store.session() as session:
        if closing == "withdrawn":
            withdraw(session, first.case_id, reason="test", actor="a", now=clock.now())
        else:
            case = get_case(session, first.case_id)
            transition(session, case, CaseState.GONE, actor="revisit", now=clock.now())
            transition(session, case, CaseState.REMOVED, actor="revisit", now=clock.now())
    with store.session() as session:
        [second] = queue_batch(session, [report], actor="b", now=clock.now())
    assert second.outcome is QueueOutcome.REOPENED
    assert second.previous_case_id == first.case_id
    assert second.case_id != first.case_id
    with store.session() as session:
        new = get_case(session, second.case_id, with_history=True)
        old = get_case(session, first.case_id, with_history=True)
        assert new.previous_case_id == first.case_id and new.state == "queued"
        assert new.events[0].detail == {"category": "csam", "reopens_case": first.case_id}
        assert old.events[-1].action == "reopened_as" and old.events[-1].detail == {"case": second.case_id}
        assert old.state == closing, "the old case stays closed"


def test_the_analysts_classification_is_checked_and_kept(store: Store, clock) -> None:
    assert validate_report(Report("http://a.example/x", classification="a1")).classification == "A1"
    assert validate_report(Report("http://a.example/x", classification=" ")).classification is None
    with pytest.raises(InvalidReport, match=r"classification: 'C3' is not one of baseline, A1, A2, B1, B2"):
        validate_report(Report("http://a.example/x", classification="C3"))
    with store.session() as session:
        [result] = queue_batch(
            session,
            [validate_report(Report("http://a.example/x", classification="B2"))],
            actor="a",
            now=clock.now(),
        )
    with store.session() as session:
        assert get_case(session, result.case_id).classification == "B2"
