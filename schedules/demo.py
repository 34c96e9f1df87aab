"""``takedown demo``: the pipeline end to end on the sandbox, in a store of its own.

It grows with the pipeline. Today: an analyst's file is queued (bad rows refused, duplicates
folded), the same file again opens nothing twice, the sandbox comes up, a revisit crawl checks
every case, each live case is resolved to the parties who can remove it, notices go out over the
sandbox's SMTP server (an initial round, then a reminder), a host removes its content after its
second notice, and the next crawl sees it gone. The chase (#6) will schedule the rounds that the
demo triggers by hand here.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import update

from sandbox import Sandbox, Scenario
from sandbox.scenario import BUNDLED_SCENARIOS
from takedown.cases import list_cases, withdraw
from takedown.clock import ManualClock
from takedown.importer import ImportFormat, ImportSummary, import_rows, read_rows
from takedown.models import Case
from takedown.presenting import iso
from takedown.settings import Settings, sqlite_url
from takedown.states import CaseState
from takedown.store import Store

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def run_demo(*, directory: Path | None, actor: str, echo: Callable[[str], None]) -> None:
    workdir = directory or Path(tempfile.mkdtemp(prefix="takedown-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    database_url = sqlite_url(workdir / "demo.db")
    store = Store.open(database_url)
    clock = ManualClock(START)
    try:
        with Sandbox.from_scenario(Scenario.load(BUNDLED_SCENARIOS / "basic.json")) as sandbox:
            reports = _write_reports(workdir / "reports.csv", sandbox)

            echo(f"1. An analyst queues the confirmed URLs in {reports.name} ({iso(clock.now())})")
            summary = _import(store, reports, actor, clock)
            echo(f"   {_counts(summary)}")
            for error in summary.errors:
                echo(f"   refused {error}")

            echo("2. The same file is queued again: nothing is opened twice")
            echo(f"   {_counts(_import(store, reports, actor, clock))}")

            echo("3. One case is withdrawn by an analyst (reported in error)")
            with store.session() as session:
                withdrawn = list_cases(session)[-1]
                withdraw(
                    session,
                    withdrawn.id,
                    reason="duplicate of a partner hotline's report",
                    actor=actor,
                    now=clock.now(),
                )
            echo(f"   case {withdrawn.id} withdrawn")

            echo("4. The revisit crawler checks every open case on the sandbox")
            _crawl(sandbox, database_url, clock.now(), echo)
            _show_cases(store, echo)

            echo(
                "5. Who must take each live case down (DNS, RDAP at five registries' servers, CDN, upstream)"
            )
            _resolve_live(sandbox, store, clock, echo)

            echo("6. Notices go out: one per recipient, listing all its cases, each with an X-ARF report")
            _notify(sandbox, store, clock, "initial", echo)
            clock.advance(timedelta(days=2))
            echo(f"7. Two days later ({iso(clock.now())}) a reminder round (the chase, #6, will schedule it)")
            with store.session() as session:
                session.execute(
                    update(Case).where(Case.state == CaseState.LIVE.value).values(next_notice_at=clock.now())
                )
            _notify(sandbox, store, clock, "reminder", echo)
            clock.advance(timedelta(days=1))
            echo(f"8. A day later ({iso(clock.now())}) the crawler revisits what is due")
            _crawl(sandbox, database_url, clock.now(), echo)
            _show_cases(store, echo)
        if directory is not None:
            echo(f"The demo's store is kept at {workdir / 'demo.db'}")
    finally:
        store.dispose()
        if directory is None:
            shutil.rmtree(workdir, ignore_errors=True)


def _write_reports(path: Path, sandbox: Sandbox) -> Path:
    rows = [
        (sandbox.url("host-a.test", "/gallery/1.jpg"), "HL-2026-0001"),
        (
            sandbox.url("HOST-A.test", "/gallery/./1.jpg#top"),
            "HL-2026-0002",
        ),  # the same URL, written otherwise
        (sandbox.url("host-a.test", "/old"), "HL-2026-0003"),  # redirects to the gallery
        (sandbox.url("cdn-fronted.test", "/v/clip.mp4"), "HL-2026-0004"),
        (sandbox.url("host-b.test", "/x.jpg"), "HL-2026-0005"),
        (sandbox.url("gone-soon.test", "/p/1"), "HL-2026-0006"),
        (sandbox.url("host-a.test", "/already-removed.jpg"), "HL-2026-0007"),
        ("ftp://files.host-a.test/x.zip", "HL-2026-0008"),
        ("http://user:secret@host-b.test/p/1", "HL-2026-0009"),
        (sandbox.url("host-b.test", "/reported-in-error.jpg"), "HL-2026-0010"),
    ]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["url", "category", "reference"])
        writer.writerows((url, "csam", reference) for url, reference in rows)
    return path


def _import(store: Store, path: Path, actor: str, clock: ManualClock) -> ImportSummary:
    with path.open("rb") as handle:
        return import_rows(store, read_rows(handle, ImportFormat.CSV), actor=actor, clock=clock)


def _counts(summary: ImportSummary) -> str:
    counts = summary.counts
    return (
        f"queued {counts['queued']}, reopened {counts['reopened']}, "
        f"already open {counts['already_open']}, refused {summary.rejected}"
    )


def _crawl(sandbox: Sandbox, database_url: str, now: datetime, echo: Callable[[str], None]) -> None:
    """One crawl, in a child process as the scheduler will run it (a reactor per process)."""
    env = {
        **os.environ,
        **sandbox.environment(),
        "TAKEDOWN_DATABASE_URL": database_url,
        "TAKEDOWN_FETCH_TIMEOUT": "5",
    }
    done = subprocess.run(
        [sys.executable, "-m", "takedown.cli", "crawl", "--json", "--now", iso(now) or ""],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the revisit crawl failed: {done.stderr.strip()[-1000:]}")
    summary = json.loads(done.stdout)
    outcomes = ", ".join(f"{name} {count}" for name, count in summary["outcomes"].items()) or "nothing due"
    echo(f"   revisited {summary['revisited']}: {outcomes}")


def _resolve_live(sandbox: Sandbox, store: Store, clock: ManualClock, echo: Callable[[str], None]) -> None:
    from hosting.factory import resolver_from_settings

    settings = Settings.from_env({**sandbox.environment(), "TAKEDOWN_DATABASE_URL": "sqlite://"})
    resolver = resolver_from_settings(settings, store=store, clock=clock)
    with store.session() as session:
        live = [(case.id, case.url) for case in list_cases(session) if case.state == "live"]
    for (case_id, _), result in zip(live, resolver.resolve_many((url, None) for _, url in live), strict=True):
        parties = "; ".join(f"{p.role} {p.name}: {', '.join(p.emails) or '-'}" for p in result.parties)
        echo(f"   case {case_id:<3} {parties}")


def _notify(
    sandbox: Sandbox, store: Store, clock: ManualClock, level: str, echo: Callable[[str], None]
) -> None:
    from hosting.factory import resolver_from_settings
    from notices.compose import Composer
    from notices.outbox import Outbox
    from notices.render import NoticeRenderer

    settings = Settings.from_env({**sandbox.environment(), "TAKEDOWN_DATABASE_URL": "sqlite://"})
    resolver = resolver_from_settings(settings, store=store, clock=clock)
    composer = Composer(store, resolver, settings, NoticeRenderer())
    before = len(sandbox.smtp.messages)
    composer.compose_round(composer.due_case_ids(clock.now()), level=level, now=clock.now())
    Outbox(store, settings, clock).deliver_due()
    for received in sandbox.smtp.messages[before:]:
        message = received.message
        echo(f"   to {message['To']}: {message['Subject']} ({len(list(message.iter_attachments()))} X-ARF)")


def _show_cases(store: Store, echo: Callable[[str], None]) -> None:
    with store.session() as session:
        for case in list_cases(session):
            echo(f"   case {case.id:<3} {case.state:<11} {case.url}")
