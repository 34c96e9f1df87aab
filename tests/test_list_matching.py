"""Revisits match what they fetched against the hash lists in use: every match recorded on the
check, and a changed body that a list knows as imagery of the case's category still counts as live."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from sqlalchemy import select

from takedown.clock import ManualClock
from takedown.hash_list_import import HashRow, ReadHashRow, import_hash_list
from takedown.intake import queue_batch
from takedown.models import Case, CheckMatch, Event
from takedown.reports import Report, validate_report
from takedown.revisits import Fetch, record_fetches
from takedown.store import Store


def digests(label: str) -> dict[str, str]:
    body = label.encode()
    return {name: hashlib.new(name, body).hexdigest() for name in ("sha256", "md5", "sha1")}


def queued(
    store: Store, clock: ManualClock, url: str, category: str = "csam", sha256: str | None = None
) -> int:
    with store.session() as session:
        [result] = queue_batch(
            session,
            [validate_report(Report(url, category=category, sha256=(sha256,) if sha256 else ()))],
            actor="analyst:t",
            now=clock.now(),
        )
    return result.case_id


def fetched(store: Store, clock: ManualClock, case_id: int, label: str) -> str:
    with store.session() as session:
        [recorded] = record_fetches(
            session, [Fetch(case_id, clock.now(), http_status=200, final_url="http://x", **digests(label))]
        )
        assert recorded is not None
        return recorded.judgement.outcome.value


def test_a_check_records_its_matches_and_known_imagery_is_still_live(
    store: Store, clock: ManualClock
) -> None:
    entries = [
        ReadHashRow(2, HashRow(sha1=digests("known-a")["sha1"], category="csam", reference="L-1")),
        ReadHashRow(3, HashRow(md5=digests("known-b")["md5"], category="csam", reference="L-2")),
        ReadHashRow(4, HashRow(sha256=digests("other-kind")["sha256"], category="grooming", reference="L-3")),
    ]
    import_hash_list(store.session, iter(entries), name="partner", version="v7", actor="t", clock=clock)
    reported = queued(store, clock, "http://m.test/a.jpg", sha256=digests("original")["sha256"])

    assert fetched(store, clock, reported, "original") == "live"
    clock.advance(timedelta(hours=6))
    # Another file at the URL, but one the list knows, of the case's own category: still live.
    assert fetched(store, clock, reported, "known-a") == "live"
    clock.advance(timedelta(hours=6))
    assert fetched(store, clock, reported, "known-b") == "live"
    clock.advance(timedelta(hours=6))
    # Known to the list, but as something else: that is a change for an analyst to look at.
    assert fetched(store, clock, reported, "other-kind") == "changed"

    with store.session() as session:
        rows = session.execute(
            select(
                CheckMatch.list_name, CheckMatch.list_version, CheckMatch.algorithm, CheckMatch.reference
            ).order_by(CheckMatch.id)
        ).all()
        assert [tuple(row) for row in rows] == [
            ("partner", "v7", "sha1", "L-1"),
            ("partner", "v7", "md5", "L-2"),
            ("partner", "v7", "sha256", "L-3"),
        ]
        assert session.get_one(Case, reported).state == "changed"
    clock.advance(timedelta(hours=6))
    assert fetched(store, clock, reported, "known-a") == "live"  # known again: back to the chase
    with store.session() as session:
        back = session.scalars(
            select(Event.detail).where(Event.case_id == reported).order_by(Event.id.desc())
        ).first()
    assert (
        back is not None and "matches list partner (entry L-1, sha1): still known imagery" in back["reason"]
    )


def test_no_list_no_match_and_a_gone_page_is_not_looked_up(store: Store, clock: ManualClock) -> None:
    case_id = queued(store, clock, "http://n.test/b.jpg", sha256=digests("original")["sha256"])
    assert fetched(store, clock, case_id, "something-else") == "changed"
    with store.session() as session:
        assert session.scalars(select(CheckMatch)).all() == []


def test_a_pdq_hash_matches_within_the_distance_set(store: Store, clock: ManualClock) -> None:
    import pytest

    from takedown.errors import ConfigurationError
    from takedown.settings import Settings

    entry = digests("picture")["sha256"]  # 64 hexadecimal digits, as a PDQ hash is
    twenty_off = f"{int(entry, 16) ^ ((1 << 20) - 1):064x}"
    row = ReadHashRow(2, HashRow(pdq=entry, category="csam", reference="P-9"))
    import_hash_list(store.session, iter([row]), name="perceptual", version="1", actor="t", clock=clock)
    first = queued(store, clock, "http://q.test/1.jpg", sha256=digests("reported")["sha256"])
    second = queued(store, clock, "http://q.test/2.jpg", sha256=digests("reported")["sha256"])
    low = queued(store, clock, "http://q.test/3.jpg", sha256=digests("reported")["sha256"])
    with store.session() as session:
        outcomes = [
            record_fetches(session, [Fetch(case, clock.now(), http_status=200, final_url="http://x",
                                           pdq=twenty_off, pdq_quality=quality)], pdq_distance=distance)[0]
            for case, quality, distance in ((first, 100, 31), (second, 100, 10), (low, 20, 31))
        ]  # fmt: skip
    assert [o.judgement.outcome.value for o in outcomes if o] == ["live", "changed", "changed"]
    with store.session() as session:
        [(algorithm, distance)] = session.execute(select(CheckMatch.algorithm, CheckMatch.distance)).all()
    assert (algorithm, distance) == ("pdq", 20)  # the low-quality hash was kept, never matched
    assert Settings.from_env({"TAKEDOWN_PDQ_DISTANCE": "20"}).pdq_distance == 20
    with pytest.raises(ConfigurationError, match="Meta advises 31"):
        Settings.from_env({"TAKEDOWN_PDQ_DISTANCE": "65"})
