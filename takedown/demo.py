"""``takedown demo``: the pipeline on sample data, in a store of its own.

It grows with the pipeline. Today it shows intake: an analyst's file queued with a bad row
refused, the same file queued again without duplicates, a timeline, and a withdrawal.
"""

from __future__ import annotations

import csv
import shutil
import tempfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from takedown.cases import get_case, list_cases, withdraw
from takedown.clock import ManualClock
from takedown.importer import ImportFormat, ImportSummary, import_rows, read_rows
from takedown.presenting import describe_event, iso
from takedown.settings import sqlite_url
from takedown.store import Store

SAMPLE_ROWS = [
    {"url": "http://images.example-host.test/gallery/a1.jpg", "reference": "HL-2026-0001"},
    {"url": "http://IMAGES.example-host.test:80/gallery/./a1.jpg#top", "reference": "HL-2026-0002"},
    {"url": "https://cdn-fronted.test/v/clip?id=17", "reference": "HL-2026-0003"},
    {"url": "http://bücher-forum.test/thread/9", "reference": "HL-2026-0004"},
    {"url": "http://3279880203/upload/x.png", "reference": "HL-2026-0005"},
    {"url": "ftp://files.example-host.test/x.zip", "reference": "HL-2026-0006"},
    {"url": "http://user:secret@board.test/p/1", "reference": "HL-2026-0007"},
    {"url": "http://board.test:8080/p/1", "reference": "HL-2026-0008"},
]


def run_demo(*, directory: Path | None, actor: str, echo: Callable[[str], None]) -> None:
    workdir = directory or Path(tempfile.mkdtemp(prefix="takedown-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    store = Store.open(sqlite_url(workdir / "demo.db"))
    clock = ManualClock()
    try:
        reports = workdir / "reports.csv"
        with reports.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["url", "category", "reference"])
            writer.writeheader()
            writer.writerows({"category": "csam", **row} for row in SAMPLE_ROWS)

        echo(f"1. An analyst queues {len(SAMPLE_ROWS)} confirmed URLs from {reports.name}")
        summary = _import(store, reports, actor, clock)
        echo(f"   {_counts(summary.counts)}, refused {summary.rejected}")
        for error in summary.errors:
            echo(f"   refused {error}")

        echo("2. The same file is queued again: nothing is opened twice")
        clock.advance(_hours(1))
        again = _import(store, reports, actor, clock)
        echo(f"   {_counts(again.counts)}, refused {again.rejected}")

        echo("3. The queue")
        with store.session() as session:
            for case in list_cases(session):
                echo(f"   case {case.id:<3} {case.state:<9} {case.dedup_key}")

        echo("4. An analyst withdraws case 2 (reported in error); its timeline")
        clock.advance(_hours(2))
        with store.session() as session:
            withdraw(
                session, 2, reason="duplicate report from a partner hotline", actor=actor, now=clock.now()
            )
        with store.session() as session:
            case = get_case(session, 2, with_history=True)
            for event in case.events:
                echo(f"   {iso(event.at)}  {event.actor}  {describe_event(event)}")

        echo("Next in the pipeline (not built yet): revisits, hosting resolution, notices, the chase.")
        if directory is not None:
            echo(f"The demo's store is kept at {workdir / 'demo.db'}")
    finally:
        store.dispose()
        if directory is None:
            shutil.rmtree(workdir, ignore_errors=True)


def _import(store: Store, path: Path, actor: str, clock: ManualClock) -> ImportSummary:
    with path.open("rb") as handle:
        return import_rows(store, read_rows(handle, ImportFormat.CSV), actor=actor, clock=clock)


def _counts(counts: dict[str, int]) -> str:
    return f"queued {counts['queued']}, reopened {counts['reopened']}, already open {counts['already_open']}"


def _hours(hours: int) -> timedelta:
    return timedelta(hours=hours)
