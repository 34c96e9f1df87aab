"""Benchmark: what a notice round writes, alone: its notices to the outbox, an event per case, and
the resolution each case was composed with (with the latest kept on the case), in one transaction.

The round's other work (resolving, rendering, signing) is left out, so that this part can be
measured on a busy machine: ``bench_notices.py`` times the whole round, and its spread between runs
is wider than this part. Run by hand; asserts nothing about speed:

    .venv/bin/python bench/bench_round_writes.py
    .venv/bin/python bench/bench_round_writes.py --cases 5000 --notices 500 --repeat 5
    .venv/bin/python bench/bench_round_writes.py --database-url postgresql://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import ipaddress
import statistics
import time
from datetime import UTC, datetime

from stores import bench_store

from hosting.rdap.parse import AbuseContacts, NetworkRecord
from hosting.resolve import Resolution
from notices.compose import CaseFacts, Composer, Draft, Plan
from takedown.intake import queue_batch
from takedown.reports import Report, validate_report
from takedown.sql_writes import writing

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=5_000)
    parser.add_argument("--notices", type=int, default=500, help="recipients, the cases shared among them")
    parser.add_argument("--repeat", type=int, default=5, help="rounds, each in a store of its own")
    parser.add_argument("--database-url", help="PostgreSQL (a schema of its own, dropped afterwards)")
    args = parser.parse_args()
    network = NetworkRecord(
        registry="ripe",
        handle="NET-1",
        name="EXAMPLE-NET",
        start=ipaddress.ip_address("192.0.2.0"),
        end=ipaddress.ip_address("192.0.2.255"),
        organisation="Example Hosting",
        country="NL",
        abuse=AbuseContacts(("abuse@example.test",), "abuse"),
    )
    timings = []
    for repeat in range(args.repeat):
        with bench_store(args.database_url) as (store, backend):
            with store.session() as session:
                reports = [
                    validate_report(Report(f"http://h{n % args.notices}.test/{n}.jpg"))
                    for n in range(args.cases)
                ]
                case_ids = [
                    result.case_id for result in queue_batch(session, reports, actor="bench", now=NOW)
                ]
            plan = _plan(case_ids, args.notices, network, repeat)
            started = time.perf_counter()
            with store.session() as session, writing(session) as writes:
                Composer.write_round(writes, plan, case_ids, level="initial", now=NOW, actor="notifier")
            timings.append(time.perf_counter() - started)
    print(
        f"{args.notices} notices, {args.cases} events and {args.cases} resolutions written, {backend}: "
        f"best {min(timings):.3f} s, median {statistics.median(timings):.3f} s of {args.repeat}"
        f" ({args.cases / min(timings):,.0f} cases/s at best)"
    )


def _plan(case_ids: list[int], notices: int, network: NetworkRecord, repeat: int) -> Plan:
    """A round's plan as the composer leaves it: each recipient's draft (a message of a typical
    notice's size), and a resolution for every case."""
    resolutions: dict[int, Resolution] = {
        case_id: Resolution(
            f"http://h.test/{case_id}", "h.test", NOW, addresses=("192.0.2.7",), network=network
        )
        for case_id in case_ids
    }
    return Plan(
        drafts=[
            Draft(
                recipient=f"abuse@p{k}.test",
                level="initial",
                message_id=f"<bench-{repeat}-{k}@hotline.test>",
                subject="Takedown request",
                role="hosting",
                party="Example Hosting",
                language="en",
                message="m" * 6_000,
                cases=[_facts(case_id) for case_id in case_ids[k::notices]],
            )
            for k in range(notices)
        ],
        unaddressable=[],
        resolutions=resolutions,
    )


def _facts(case_id: int) -> CaseFacts:
    return CaseFacts(
        id=case_id,
        url=f"http://h.test/{case_id}",
        reference=None,
        queued_at=NOW,
        last_seen_live_at=NOW,
        address="192.0.2.7",
        http_status=200,
        checked_at=NOW,
        sha256=None,
        md5=None,
        history=[],
    )


if __name__ == "__main__":
    main()
