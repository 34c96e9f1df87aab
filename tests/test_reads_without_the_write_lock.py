"""What only reads the store does so in a reading session (``Store.reading``), so on SQLite it
neither waits for the one write lock nor holds a writer up: the crawler paging through due cases,
the composer reading a round's facts, the scheduler asking who holds its lock, a notice read back.
Each is asked while another connection holds the lock, as the portal's writer or a crawl's records
would; waiting for it would take SQLite's busy timeout (30 s)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from hosting.contacts import bad_mailboxes
from notices.sent import NoticeNotFound, read_notice
from schedules.lock import StoreLock
from takedown.clock import ManualClock
from takedown.intake import queue_batch
from takedown.reports import Report, validate_report
from takedown.revisits import due_cases, due_hosts
from takedown.store import Store
from tests.conftest import within, write_lock_held

NOW = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _missing_notice(store: Store) -> None:
    with pytest.raises(NoticeNotFound):
        read_notice(store, 404)


READS: dict[str, Callable[[Store], object]] = {
    "the crawler's due cases": lambda store: list(due_cases(store, now=NOW + timedelta(days=1))),
    "the crawler's named cases": lambda store: list(due_cases(store, now=NOW, case_ids=[1, 2])),
    "the crawler's share by host": lambda store: list(
        due_cases(store, now=NOW + timedelta(days=1), hosts=frozenset({"a.test"}))
    ),
    "the due hosts": lambda store: due_hosts(store, now=NOW + timedelta(days=1)),
    "the bad mailboxes": bad_mailboxes,
    "a notice read back": _missing_notice,
    "the scheduler lock's holder": lambda store: StoreLock(store, ManualClock(NOW)).holder(),
}


@pytest.mark.parametrize("read", sorted(READS))
def test_a_read_answers_while_a_writer_holds_the_store(store: Store, read: str) -> None:
    with store.session() as session:
        queue_batch(session, [validate_report(Report(f"http://a.test/{n}")) for n in range(3)],
                    actor="analyst:t", now=NOW)  # fmt: skip
    answers: list[object] = []
    with write_lock_held(store):
        assert within(10, lambda: answers.append(READS[read](store))), f"{read} waited for the writer"
    assert answers
