"""What a fetch means for a case, decided without any network: the rules of judge()."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from takedown.revisits import DEFAULT_REMOVED_PAGE_PATTERNS, Fetch, Outcome, Prefix, judge

NOW = datetime(2026, 3, 1, tzinfo=UTC)
SHA = "a" * 64
MD5 = "b" * 32


def fetch(**fields: object) -> Fetch:
    return Fetch(case_id=1, checked_at=NOW, **fields)  # type: ignore[arg-type]


def outcome(f: Fetch, fingerprints: list[tuple[str, str]] | None = None) -> Outcome:
    return judge(f, fingerprints or [], DEFAULT_REMOVED_PAGE_PATTERNS).outcome


def test_a_match_on_either_digest_is_live() -> None:
    assert outcome(fetch(http_status=200, sha256=SHA, md5="0" * 32), [("sha256", SHA)]) is Outcome.LIVE
    assert outcome(fetch(http_status=200, sha256="0" * 64, md5=MD5), [("md5", MD5)]) is Outcome.LIVE
    assert judge(fetch(http_status=200, sha256=SHA), [("sha256", SHA)], []).fingerprint_match is True


def test_no_match_is_changed_unless_the_body_was_cut_at_the_cap() -> None:
    assert outcome(fetch(http_status=200, sha256="0" * 64), [("sha256", SHA)]) is Outcome.CHANGED
    truncated = judge(fetch(http_status=200, sha256="0" * 64, truncated=True), [("sha256", SHA)], [])
    assert (truncated.outcome, truncated.fingerprint_match) == (Outcome.LIVE, None)


@pytest.mark.parametrize("status", [404, 410, 451])
def test_removal_statuses_are_gone(status: int) -> None:
    assert outcome(fetch(http_status=status)) is Outcome.GONE


@pytest.mark.parametrize("status", [500, 502, 503, 429, 403, 301])
def test_other_non_2xx_statuses_are_unreachable_not_gone(status: int) -> None:
    assert outcome(fetch(http_status=status)) is Outcome.UNREACHABLE


@pytest.mark.parametrize(
    ("final_url", "expected"),
    [
        ("http://h.test/account-suspended", Outcome.GONE),
        ("http://h.test/suspended.html", Outcome.GONE),
        ("http://h.test/cgi-sys/suspendedpage.cgi", Outcome.GONE),
        ("http://h.test/content-removed", Outcome.GONE),
        ("http://h.test/abuse-notice.html?id=3", Outcome.GONE),
        ("http://h.test/gallery/removed-items-list/photo.jpg", Outcome.LIVE),
        ("http://h.test/index.html", Outcome.LIVE),
    ],
)
def test_a_redirect_to_a_removal_page_is_gone(final_url: str, expected: Outcome) -> None:
    f = fetch(http_status=200, final_url=final_url, redirect_chain=("http://h.test/x",))
    assert outcome(f) is expected


def test_a_removal_looking_url_that_was_not_reached_by_redirect_is_just_live() -> None:
    assert outcome(fetch(http_status=200, final_url="http://h.test/suspended")) is Outcome.LIVE


def test_dns_verdicts_decide_before_anything_else() -> None:
    assert outcome(fetch(dns_status="nxdomain")) is Outcome.GONE
    assert outcome(fetch(dns_status="no_address")) is Outcome.GONE
    assert outcome(fetch(dns_status="refused", error_detail="x is a loopback address")) is Outcome.REFUSED
    assert outcome(fetch(dns_status="failed", error_class="CannotResolveHostError")) is Outcome.UNREACHABLE
    assert outcome(fetch(error_class="TimeoutError")) is Outcome.UNREACHABLE


def test_a_truncated_body_is_compared_with_the_last_prefix_of_the_same_length() -> None:
    cut = fetch(http_status=200, sha256=SHA, truncated=True, size_bytes=1024, declared_length=10**9)
    first = judge(cut, [("sha256", "0" * 64)], [])
    assert (first.outcome, first.fingerprint_match) == (Outcome.LIVE, None)
    assert "1000000000 bytes declared" in first.reason and "first 1024 bytes" in first.reason
    same = judge(cut, [], [], Prefix(SHA, 1024, 10**9, '"a"'))
    assert same.outcome is Outcome.LIVE and "match the last check" in same.reason
    other = judge(cut, [], [], Prefix("c" * 64, 1024))
    assert (other.outcome, other.fingerprint_match) == (Outcome.CHANGED, False)
    # a prefix of another length (the cap was changed) is no reference: taken as a first look
    assert judge(cut, [], [], Prefix("c" * 64, 2048)).outcome is Outcome.LIVE


def test_a_bomb_is_refused_and_an_undecodable_body_is_tried_again() -> None:
    bomb = fetch(http_status=200, error_class="DecompressionBomb", error_detail="a decompression bomb")
    assert outcome(bomb) is Outcome.REFUSED
    assert outcome(fetch(http_status=200, error_class="UndecodableBody")) is Outcome.UNREACHABLE
    assert outcome(fetch(http_status=404, error_class="UndecodableBody")) is Outcome.GONE
