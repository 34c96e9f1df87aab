"""Benchmark: notices composed (resolved, rendered, X-ARF validated, written) and delivered per second.

N live cases (default 5,000) on M networks (default 500), each network its own abuse mailbox, so a
round writes M notices of N/M cases each, then delivers them to the sandbox's SMTP server over one
connection. Run by hand; asserts nothing about speed:

    .venv/bin/python bench/bench_notices.py
    .venv/bin/python bench/bench_notices.py --cases 5000 --networks 500
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from hosting.factory import resolver_from_settings
from notices.compose import Composer
from notices.outbox import Outbox
from notices.render import NoticeRenderer
from sandbox import Network, Sandbox
from takedown.clock import ManualClock
from takedown.intake import queue_batch
from takedown.reports import Report, validate_report
from takedown.revisits import Fetch, record_fetches
from takedown.settings import Settings, sqlite_url
from takedown.store import Store


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=5_000)
    parser.add_argument("--networks", type=int, default=500)
    parser.add_argument("--connections", type=int, default=4, help="TAKEDOWN_SMTP_CONNECTIONS")
    parser.add_argument(
        "--relay-delay", type=float, default=0.0, help="seconds the SMTP server takes to accept each message"
    )
    args = parser.parse_args()
    registries = ["arin", "ripe", "apnic", "lacnic", "afrinic"]
    networks = [
        Network(
            f"127.{100 + n // 250}.{n % 250}.0/24",
            registries[n % 5],
            f"Provider {n}",
            abuse=f"abuse@p{n}.test",
        )
        for n in range(args.networks)
    ]
    hosts = {f"p{n}.test": f"127.{100 + n // 250}.{n % 250}.1" for n in range(args.networks)}
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    with (
        tempfile.TemporaryDirectory() as directory,
        Sandbox(
            {"web.test": "127.0.0.2"},
            extra_records={h: {"A": [a]} for h, a in hosts.items()},
            networks=networks,
        ) as world,
    ):
        store = Store.open(sqlite_url(Path(directory) / "bench.db"))
        settings = Settings.from_env(
            {
                **world.environment(),
                "TAKEDOWN_HOME": directory,
                "TAKEDOWN_SMTP_CONNECTIONS": str(args.connections),
            }
        )
        urls = {
            f"http://p{c % args.networks}.test/item/{c}.jpg": hosts[f"p{c % args.networks}.test"]
            for c in range(args.cases)
        }
        with store.session() as session:
            results = queue_batch(
                session, [validate_report(Report(url)) for url in urls], actor="bench", now=clock.now()
            )
        with store.session() as session:
            record_fetches(
                session,
                [
                    Fetch(r.case_id, clock.now(), http_status=200, final_url=url, connected_ip=urls[url])
                    for r, url in zip(results, urls, strict=True)
                ],
            )
        composer = Composer(
            store, resolver_from_settings(settings, store=store, clock=clock), settings, NoticeRenderer()
        )
        started = time.perf_counter()
        summary = composer.compose_round(composer.due_case_ids(clock.now()), level="initial", now=clock.now())
        composed = time.perf_counter() - started
        started = time.perf_counter()
        world.smtp.stall_after_data = args.relay_delay
        delivered = Outbox(store, settings, clock).deliver_due()
        sent = time.perf_counter() - started
        print(f"{args.cases} live cases on {args.networks} networks")
        print(
            f"composed {len(summary.notices)} notices about {summary.cases} cases in {composed:.1f} s:"
            f" {len(summary.notices) / composed:.0f} notices/s, {summary.cases / composed:.0f} cases/s"
            " (resolution, rendering, X-ARF validation, outbox write)"
        )
        print(
            f"delivered {delivered.counts} in {sent:.1f} s:"
            f" {sum(delivered.counts.values()) / sent:.0f} notices/s;"
            f" the SMTP server holds {len(world.smtp.messages)} messages"
        )
        store.dispose()


if __name__ == "__main__":
    main()
