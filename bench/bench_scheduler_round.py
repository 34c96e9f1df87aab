"""Benchmark: one scheduler round's search for due work among N open cases (default 1,000,000).

Fills a store with N open cases (60% live, 20% queued, 10% unreachable, 10% gone; a small share due
for a revisit and a notice now, the rest later), then times what a round asks the store: the
first page of due revisits, all due revisits paged through, and the due notice round's cases.
Run by hand; asserts nothing about speed:

    .venv/bin/python bench/bench_scheduler_round.py
    .venv/bin/python bench/bench_scheduler_round.py --database-url postgresql://postgres@127.0.0.1:5432/test

With PostgreSQL the benchmark works in a schema of its own and drops it afterwards (bench/stores.py).
"""

from __future__ import annotations

import argparse
import hashlib
import random
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select, text
from stores import bench_store

from takedown.models import Case
from takedown.revisits import due_cases
from takedown.states import CaseState
from takedown.store import Store

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def fill(store: Store, count: int, due_share: float, seed: int = 11) -> None:
    rng = random.Random(seed)
    states = ["live"] * 6 + ["queued"] * 2 + ["unreachable", "gone"]
    batch: list[dict[str, object]] = []
    started = time.perf_counter()
    for n in range(count):
        state = states[n % 10]
        due = rng.random() < due_share
        url = f"http://h{n % 20000}.example/{n}.jpg"
        batch.append(
            {
                "url": url,
                "canonical_url": url,
                "dedup_key": url,
                "dedup_hash": hashlib.sha256(url.encode()).hexdigest(),
                "host": f"h{n % 20000}.example",
                "category": "csam",
                "state": state,
                "queued_by": "bench",
                "queued_at": NOW - timedelta(days=30),
                "updated_at": NOW - timedelta(days=1),
                "next_check_at": NOW - timedelta(minutes=rng.randint(1, 600))
                if due
                else NOW + timedelta(minutes=rng.randint(1, 10_000)),
                "next_notice_at": (NOW - timedelta(minutes=5) if due else NOW + timedelta(days=2))
                if state == "live"
                else None,
                "notice_rounds": rng.randint(0, 3) if state == "live" else 0,
                "needs_analyst": False,
            }
        )
        if len(batch) == 20_000:
            with store.session() as session:
                session.execute(insert(Case), batch)
            batch = []
    if batch:
        with store.session() as session:
            session.execute(insert(Case), batch)
    if store.engine.dialect.name == "postgresql":
        with store.engine.begin() as connection:
            connection.execute(text('ANALYZE "case"'))
    print(f"filled {count} cases in {time.perf_counter() - started:.1f} s")


def measure(store: Store) -> None:
    started = time.perf_counter()
    pages = due_cases(store, now=NOW, page_size=500)
    first = [next(pages) for _ in range(1)]
    first_page = time.perf_counter() - started
    revisits = len(first) + sum(1 for _ in pages)
    all_revisits = time.perf_counter() - started
    started = time.perf_counter()
    with store.session() as session:
        notices = session.execute(
            select(Case.id, Case.notice_rounds)
            .where(Case.next_notice_at <= NOW, Case.state == CaseState.LIVE.value)
            .order_by(Case.next_notice_at, Case.id)
            .limit(5000)
        ).all()
    notice_query = time.perf_counter() - started
    print(f"first page of due revisits: {first_page * 1000:.1f} ms")
    print(f"all {revisits} due revisits, paged by 500: {all_revisits:.2f} s")
    print(f"due notice round ({len(notices)} cases, limit 5,000): {notice_query * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--due-share", type=float, default=0.005, help="share of cases due now")
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with bench_store(args.database_url) as (store, backend):
        print(f"backend {backend}")
        fill(store, args.cases, args.due_share)
        measure(store)
        measure(store)


if __name__ == "__main__":
    main()
