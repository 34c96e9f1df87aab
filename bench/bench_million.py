"""Benchmark: the interactive commands on a store of a million cases.

Run by hand; prints figures, asserts nothing about speed:

    .venv/bin/python bench/bench_million.py --store /tmp/million.db      # builds it once, then reuses it
    .venv/bin/python bench/bench_million.py --database-url postgresql://postgres@127.0.0.1:5432/test

The store is filled through the importer (``queue import``'s code; its rate is printed), then shaped
like a store that has been chasing for a while: half the cases live, a fifth removed, the rest gone,
unreachable or queued, 800,000 hosting resolutions over 2,000 networks in 60 countries, and an
outbox of 100,000 notices. Each command then runs as a child process, as a user would run it, and
prints its wall time and peak resident memory; the commands that write come last (each run adds a
case, withdraws one, sets a contact and makes a token). With ``--store`` (SQLite) the store is kept and
reused by the next run; a PostgreSQL store lives in a schema of its own, dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench_import import timed_import, write_reports
from sqlalchemy import bindparam, func, select, text
from stores import bench_store

from takedown.importer import IMPORT_BATCH
from takedown.models import Base, Case
from takedown.settings import sqlite_url
from takedown.store import Store

TAKEDOWN = str(Path(sys.executable).with_name("takedown"))

COMMANDS: list[tuple[str, list[str]]] = [
    ("--help", ["--help"]),
    ("url canonicalize", ["url", "canonicalize", "HTTP://Example.TEST:80/a/../b?x#y"]),
    ("queue list (first 100)", ["queue", "list"]),
    ("queue list --state live --limit 100", ["queue", "list", "--state", "live", "--limit", "100"]),
    ("case show", ["case", "show", "5000"]),
    ("queue list --count", ["queue", "list", "--count"]),
    ("queue list --state live --count", ["queue", "list", "--state", "live", "--count"]),
    ("stats", ["stats"]),
    ("stats --by country --json", ["stats", "--by", "country", "--json"]),
    ("notices list", ["notices", "list"]),
    ("notices list --status uncertain --json", ["notices", "list", "--status", "uncertain", "--json"]),
    ("portals queue", ["portals", "queue"]),
    ("inbox list", ["inbox", "list"]),
    ("contacts list", ["contacts", "list"]),
    ("users list", ["users", "list"]),
    ("stats --by portal", ["stats", "--by", "portal"]),
    ("db status", ["db", "status"]),
    ("queue list --limit 1000000 --json", ["queue", "list", "--limit", "1000000", "--json"]),
    ("queue list --limit 1000000", ["queue", "list", "--limit", "1000000"]),
]

WRITES: list[tuple[str, list[str]]] = [
    ("queue add", ["queue", "add", "http://bench-{n}.example/new.jpg"]),
    ("case withdraw", ["case", "withdraw", "{queued}", "--reason", "bench"]),
    ("contacts set", ["contacts", "set", "asn", "{n}", "--email", "desk@bench.example"]),
    ("tokens add", ["tokens", "add", "bench-{n}", "--scope", "read"]),
    ("portals add", ["portals", "add", "b{n}", "--country", "BR", "--languages", "pt", "--partner", "P"]),
    ("portals set", ["portals", "set", "b{n}", "--helpline", "Disque 100: 100"]),
    ("inbox take (one mail)", ["inbox", "take", "{mail}"]),
    ("users add (hashes a password)", ["users", "add", "bench{n}", "--role", "analyst", "--password-stdin"]),
    ("users reset (hashes a password)", ["users", "reset", "bench{n}", "--password-stdin"]),
    ("users disable", ["users", "disable", "bench{n}"]),
    ("hashes import (one entry)", ["hashes", "import", "{hashes}", "--list", "bench-{n}", "-q"]),
    ("hashes remove", ["hashes", "remove", "bench-{n}"]),
]
"""Commands that write, each run with its own arguments: ``{n}`` a number not used before,
``{queued}`` a case still queued (withdrawn by the run), ``{mail}`` a reply no notice was sent for
(it waits in the inbox), ``{hashes}`` a list file of one entry. ``users`` read the password from
stdin."""
PASSWORD = b"a long enough bench password\n"


QUEUED_EVERY = timedelta(seconds=30)
"""Cases are spread as if queued one every 30 s up to the import (a million: almost a year)."""
SKEWED_EVERY = 100
"""Every hundredth case was queued by a machine whose clock ran an hour behind."""


def spread_queued_times(store: Store) -> None:
    """Queued times over the year before the import, so that date filters have days to choose
    from; a few out of id order, as cases from several intake machines would be."""
    with store.session() as session:
        last = session.scalar(select(func.max(Case.id))) or 0
        now = session.scalar(select(func.max(Case.queued_at)))
    table = Case.__table__
    statement = table.update().where(table.c.id == bindparam("b_id")).values(queued_at=bindparam("b_at"))
    for first in range(1, last + 1, 50_000):
        with store.session() as session:
            session.execute(
                statement,
                [
                    {
                        "b_id": case_id,
                        "b_at": now
                        - (last - case_id) * QUEUED_EVERY
                        - (timedelta(hours=1) if case_id % SKEWED_EVERY == 0 else timedelta(0)),
                    }
                    for case_id in range(first, min(first + 50_000, last + 1))
                ],
            )


def shape(store: Store) -> None:
    """Queued times, states, sightings, removals and hosting rows, in a few set-based statements."""
    spread_queued_times(store)
    with store.session() as session:
        session.execute(
            text(
                """
                UPDATE "case" SET
                  state = CASE id % 10 WHEN 0 THEN 'live' WHEN 1 THEN 'live' WHEN 2 THEN 'live'
                    WHEN 3 THEN 'live' WHEN 4 THEN 'live' WHEN 5 THEN 'removed' WHEN 6 THEN 'removed'
                    WHEN 7 THEN 'gone' WHEN 8 THEN 'unreachable' ELSE 'queued' END,
                  first_seen_live_at = CASE WHEN id % 10 < 8 THEN queued_at END,
                  last_seen_live_at = CASE WHEN id % 10 < 8 THEN queued_at END
                """
            )
        )
        # removed (id % 10 in 5, 6): took (id % 700) hours; the clock column is set from Python
        # below, so the statement stays the same on both backends
    with store.session() as session:
        removed = session.execute(
            select(Case.id, Case.first_seen_live_at).where(Case.state == "removed")
        ).all()
        table = Case.__table__
        session.execute(
            table.update()
            .where(table.c.id == bindparam("b_id"))
            .values(
                removed_at=bindparam("b_removed"),
                closed_at=bindparam("b_removed"),
                removal_seconds=bindparam("b_seconds"),
            ),
            [
                {
                    "b_id": case_id,
                    "b_removed": seen + timedelta(hours=case_id % 700),
                    "b_seconds": float(case_id % 700 * 3600),
                }
                for case_id, seen in removed
            ],
        )
    with store.session() as session:
        session.execute(
            text(
                """
                INSERT INTO hosting (case_id, hostname, asn, network, organisation, country, resolved_at)
                SELECT id, host, 64000 + id % 2000,
                       '10.' || CAST(id % 2000 / 250 AS TEXT) || '.' || CAST(id % 250 AS TEXT) || '.0/24',
                       'Hosting ' || CAST(id % 2000 AS TEXT),
                       CASE id % 60 WHEN 0 THEN 'NL' WHEN 1 THEN 'US' WHEN 2 THEN 'DE'
                         ELSE 'C' || CAST(id % 60 % 10 AS TEXT) END,
                       queued_at
                FROM "case" WHERE id % 5 <> 4
                """
            )
        )
    keep_hosting_on_cases(store)
    add_notices(store)


def keep_hosting_on_cases(store: Store) -> None:
    """What resolution keeps on the case (its latest hosting row), as the pipeline does, and the
    cases waiting for an analyst: what the case list's hosting and review filters read."""
    with store.session() as session:
        session.execute(
            text(
                """
                UPDATE "case" SET
                  hosting_asn = 64000 + id % 2000,
                  hosting_network = '10.' || CAST(id % 2000 / 250 AS TEXT) || '.'
                                    || CAST(id % 250 AS TEXT) || '.0/24',
                  hosting_organisation = 'Hosting ' || CAST(id % 2000 AS TEXT),
                  hosting_country = CASE id % 60 WHEN 0 THEN 'NL' WHEN 1 THEN 'US' WHEN 2 THEN 'DE'
                                      ELSE 'C' || CAST(id % 60 % 10 AS TEXT) END
                WHERE id % 5 <> 4
                """
            )
        )
        # One live case in a thousand is waiting for an analyst (the chase gave up on it).
        session.execute(text('UPDATE "case" SET needs_analyst = true WHERE id % 1000 = 3'))


def add_notices(store: Store) -> None:
    """An outbox of 100,000 notices, each about three cases, mostly sent, a few failed, retrying or
    in doubt (what ``notices list`` reads), unless the store has notices already."""
    with store.session() as session:
        if session.scalar(text("SELECT count(*) FROM notice")):
            return
        session.execute(
            text(
                """
                INSERT INTO notice (id, recipient, level, message_id, subject, status, attempts,
                                    created_at, sent_at, last_error, role, party, language)
                SELECT id, 'abuse@hosting' || CAST(id % 2000 AS TEXT) || '.test',
                       CASE id % 3 WHEN 0 THEN 'initial' WHEN 1 THEN 'reminder' ELSE 'escalation' END,
                       '<' || CAST(id AS TEXT) || '@bench.test>', 'Notice ' || CAST(id AS TEXT),
                       CASE id % 500 WHEN 1 THEN 'failed' WHEN 11 THEN 'uncertain' WHEN 21 THEN 'retry'
                         ELSE 'sent' END,
                       1, queued_at, CASE WHEN id % 500 IN (1, 11, 21) THEN NULL ELSE queued_at END,
                       CASE WHEN id % 500 IN (1, 21) THEN '550 mailbox unavailable' END,
                       'hosting', 'Hosting ' || CAST(id % 2000 AS TEXT), 'en'
                FROM "case" WHERE id % 10 = 1 AND id + 2 <= (SELECT max(id) FROM "case")
                """
            )
        )
        for step in range(3):
            session.execute(
                text(f"INSERT INTO notice_case (notice_id, case_id) SELECT id, id + {step} FROM notice")
            )


def run(command: list[str], env: dict[str, str], stdin: bytes | None = None) -> tuple[float, float, int]:
    """Wall seconds, peak RSS in MiB, and bytes written to stdout.

    The peak is measured by GNU time around the command: this process is large after building the
    store, and a child it starts (fork, or posix_spawn's vfork) is charged this process's pages
    in ``ru_maxrss``. Without /usr/bin/time the peak is not shown."""
    gnu_time = shutil.which("time", path="/usr/bin:/bin")
    with tempfile.TemporaryFile() as out, tempfile.NamedTemporaryFile() as peak:
        wrapper = [gnu_time, "-f", "%M", "-o", peak.name] if gnu_time else []
        started = time.perf_counter()
        done = subprocess.run(
            [*wrapper, TAKEDOWN, *command], stdout=out, stderr=subprocess.PIPE, env=env, input=stdin
        )
        elapsed = time.perf_counter() - started
        written = out.seek(0, os.SEEK_END)
        kib = Path(peak.name).read_text().strip().splitlines()[-1:] if gnu_time else []
    if done.returncode != 0:
        error = done.stderr.decode(errors="replace")[-300:]
        print(f"   ! {' '.join(command)} exited {done.returncode}: {error}")
    mib = int(kib[0]) / 1024 if kib and kib[0].isdigit() else float("nan")
    return elapsed, mib, written


def measure(store: Store, url: str, backend: str, repeat: int) -> None:
    with store.session() as session:
        cases = session.scalar(select(func.count()).select_from(Case)) or 0
    print(f"backend {backend}, {cases:,} cases")
    env = {**os.environ, "TAKEDOWN_DATABASE_URL": url}
    # As a user runs it: with the project's own modules compiled once, not at every command (some
    # machines set this variable, and it added 0.2 s to every command measured here).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    for name, command in COMMANDS:
        _print_best(name, [run(command, env) for _ in range(repeat)])
    with store.reading() as session:
        queued = list(session.scalars(select(Case.id).where(Case.state == "queued").limit(repeat)))
    first = int(time.time())  # numbers no earlier run of the bench used
    with tempfile.TemporaryDirectory() as files:
        hashes = Path(files) / "one.csv"
        hashes.write_text("sha256\n" + "ab" * 32 + "\n", encoding="utf-8")
        for name, template in WRITES:
            runs = []
            for index in range(min(repeat, len(queued))):
                mail = Path(files) / f"reply-{first + index}.eml"
                mail.write_bytes(
                    f"From: desk@bench.example\r\nSubject: about your notice\r\n"
                    f"Message-ID: <{first + index}@bench.example>\r\n\r\nWhich notice?\r\n".encode()
                )
                values = {"n": str(first + index), "queued": str(queued[index]), "mail": str(mail),
                          "hashes": str(hashes)}  # fmt: skip
                stdin = PASSWORD if template[0] == "users" else None
                runs.append(run([part.format(**values) for part in template], env, stdin))
            _print_best(name, runs)


def _print_best(name: str, runs: list[tuple[float, float, int]]) -> None:
    best = min(runs)
    print(
        f"{name:<40} {best[0]:7.2f} s  {max(r[1] for r in runs):7.0f} MiB  {best[2] / 1e6:8.1f} MB out",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--store", type=Path, help="a SQLite file to build once and reuse")
    parser.add_argument("--database-url", help="PostgreSQL (a schema of its own, dropped afterwards)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per command; the best is shown")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL schema afterwards")
    args = parser.parse_args()

    if args.store and args.store.exists():
        store = Store.open(sqlite_url(args.store))
        add_notices(store)  # a store built before the outbox was part of the bench
        measure(store, sqlite_url(args.store), "sqlite (reused)", args.repeat)
        return 0
    with tempfile.TemporaryDirectory(prefix="takedown-bench-") as tmp:
        reports = Path(tmp) / "reports.csv"
        write_reports(reports, args.cases)
        if args.store:
            store = Store.open(sqlite_url(args.store))
            build(store, reports, args.cases)
            measure(store, sqlite_url(args.store), "sqlite", args.repeat)
            return 0
        with bench_store(args.database_url, keep=args.keep) as (store, backend):
            build(store, reports, args.cases)
            measure(store, store.engine.url.render_as_string(hide_password=False), backend, args.repeat)
    return 0


def build(store: Store, reports: Path, cases: int) -> None:
    seconds, counts = timed_import(store, reports, IMPORT_BATCH)
    print(f"import {cases:,} rows: {seconds:.1f} s, {cases / seconds:,.0f} rows/s {counts}", flush=True)
    started = time.perf_counter()
    shape(store)
    settle(store)
    print(f"shaped in {time.perf_counter() - started:.1f} s", flush=True)


def settle(store: Store) -> None:
    """On PostgreSQL, what autovacuum does to a store that has been running: statistics gathered
    and a visibility map, without which no index-only scan is possible. Every table: without
    statistics for the outbox, PostgreSQL took 100,000 notices for 4,000 and walked them all to
    find a case's (a case page took 250 ms instead of 10). (SQLite stores are never ANALYZEd by
    the pipeline, so neither is the bench's.)"""
    if store.engine.dialect.name == "postgresql":
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            for table in Base.metadata.sorted_tables:
                connection.exec_driver_sql(f'VACUUM ANALYZE "{table.name}"')


if __name__ == "__main__":
    sys.exit(main())
