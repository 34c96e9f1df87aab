"""Benchmark: notices composed (resolved, rendered, X-ARF validated, written) and delivered per second.

N live cases (default 5,000) on M networks (default 500), each network its own abuse mailbox, so a
round writes M notices of N/M cases each, then delivers them to the sandbox's SMTP server over
``--connections`` connections. The sandbox (DNS, RDAP and SMTP servers) runs in a process of its own, as real
registries and mail servers are elsewhere: in this process its threads would take the interpreter
from the composer (``--world-here`` measures it that way, for comparison). Run by hand; asserts
nothing about speed:

    .venv/bin/python bench/bench_notices.py
    .venv/bin/python bench/bench_notices.py --cases 5000 --networks 500
    .venv/bin/python bench/bench_notices.py --cases 1000 --networks 100 --rdap-latency 0.2
    .venv/bin/python bench/bench_notices.py --cases 1000 --networks 200 --rdap-latency 0.1 \
        --handshake-latency 0.2 [--no-keep-alive]        # a far registry; new connections or kept
    .venv/bin/python bench/bench_notices.py --cases 500 --networks 500 --relay smtp-sink --deliveries 7
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import dataclasses
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from multiprocessing.connection import Connection

from child_servers import cpu_seconds, free_port, serving
from sqlalchemy import update
from stores import bench_store

from hosting.factory import resolver_from_settings
from notices.compose import Composer
from notices.outbox import Outbox
from notices.render import NoticeRenderer
from sandbox import Network, Sandbox
from takedown.clock import ManualClock
from takedown.intake import queue_batch
from takedown.models import Notice
from takedown.reports import Report, validate_report
from takedown.revisits import Fetch, record_fetches
from takedown.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=5_000)
    parser.add_argument(
        "--profile", metavar="FILE", help="cProfile the composing round into FILE (its figures run slower)"
    )
    parser.add_argument("--database-url", help="PostgreSQL (a schema of its own, dropped afterwards)")
    parser.add_argument("--networks", type=int, default=500)
    parser.add_argument("--connections", type=int, default=4, help="TAKEDOWN_SMTP_CONNECTIONS")
    parser.add_argument(
        "--resolve-concurrency", type=int, default=8, help="TAKEDOWN_RESOLVE_CONCURRENCY (host names at once)"
    )
    parser.add_argument(
        "--rdap-latency",
        type=float,
        default=0.0,
        help="seconds each of the sandbox's RDAP answers takes (real registries: 0.1 to 1)",
    )
    parser.add_argument(
        "--handshake-latency",
        type=float,
        default=0.0,
        help="seconds each new connection to the sandbox's RDAP server takes before it is served (the"
        " TCP and TLS handshakes with a far registry: two round trips, 0.1 to 0.5 s)",
    )
    parser.add_argument(
        "--no-keep-alive",
        action="store_true",
        help="open a new connection for every RDAP query (as before connections were kept), to compare",
    )
    parser.add_argument(
        "--relay-delay", type=float, default=0.0, help="seconds the SMTP server takes to accept each message"
    )
    parser.add_argument(
        "--relay",
        choices=("sandbox", "aiosmtpd", "smtp-sink"),
        default="sandbox",
        help="where notices are delivered: the sandbox's SMTP server (in the sandbox's process, which"
        " keeps every message), aiosmtpd's Sink in a process of its own, or Postfix's smtp-sink (a C"
        " test server: apt-get install postfix)",
    )
    parser.add_argument(
        "--deliveries",
        type=int,
        default=1,
        help="deliver the notices this many times (put back to pending each time), for steadier figures",
    )
    parser.add_argument(
        "--world-here",
        action="store_true",
        help="run the sandbox in this process, sharing its interpreter lock with the composer",
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
    latencies = (args.rdap_latency, args.handshake_latency)
    world_here = args.world_here
    with (
        tempfile.TemporaryDirectory() as directory,
        _world(hosts, networks, latencies, args.relay_delay, here=world_here) as environment,
        bench_store(args.database_url) as (store, backend),
    ):
        settings = Settings.from_env(
            {
                **environment,
                "TAKEDOWN_HOME": directory,
                "TAKEDOWN_SMTP_CONNECTIONS": str(args.connections),
                "TAKEDOWN_RESOLVE_CONCURRENCY": str(args.resolve_concurrency),
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
        resolver = resolver_from_settings(settings, store=store, clock=clock)
        if args.no_keep_alive:
            for pool in (resolver.rdap._connections, resolver.rdap._guarded_connections):
                pool.idle_per_origin = 0
        composer = Composer(store, resolver, settings, NoticeRenderer())
        profiler = cProfile.Profile() if args.profile else None
        world_cpu = _children_cpu()
        started, cpu_started = time.perf_counter(), time.process_time()
        with profiler or contextlib.nullcontext():
            summary = composer.compose_round(
                composer.due_case_ids(clock.now()), level="initial", now=clock.now()
            )
        composed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        world_cpu = _children_cpu() - world_cpu
        if profiler is not None:
            profiler.dump_stats(args.profile)
        with contextlib.ExitStack() as relay:
            if args.relay != "sandbox":
                port = relay.enter_context(_separate_relay(args.relay))
                settings = dataclasses.replace(settings, smtp_port=port)
            timings = []
            for _ in range(args.deliveries):
                with store.session() as session:
                    session.execute(
                        update(Notice).values(status="pending", attempts=0, next_attempt_at=clock.now())
                    )
                started = time.perf_counter()
                delivered = Outbox(store, settings, clock).deliver_due()
                timings.append(time.perf_counter() - started)
        print(
            f"{args.cases} live cases on {args.networks} networks, {backend}; RDAP answers in"
            f" {args.rdap_latency:.2f} s, a new connection to it takes {args.handshake_latency:.2f} s"
            f" more; {args.resolve_concurrency} host names resolved at once;"
            f" the sandbox {'in this process' if world_here else 'in a process of its own'}"
        )
        print(
            f"composed {len(summary.notices)} notices about {summary.cases} cases in {composed:.1f} s:"
            f" {len(summary.notices) / composed:.0f} notices/s, {summary.cases / composed:.0f} cases/s"
            " (resolution, rendering, X-ARF validation, outbox write)"
        )
        queries = sum(resolver.rdap.queries.values())
        print(
            f"  RDAP: {queries} queries over {resolver.rdap.connections_opened} connections"
            f" ({'a new one for each query' if args.no_keep_alive else 'kept alive'})"
        )
        print(
            f"  this process's CPU time: {cpu:.1f} s ({summary.cases / cpu:.0f} cases per CPU second);"
            " the rest of the wall time is waiting for the servers"
        )
        if not world_here and world_cpu:
            print(
                f"  the sandbox's CPU time meanwhile: {world_cpu:.1f} s (its DNS and RDAP servers; on a"
                f" machine of {os.cpu_count()} cores, the two processes share them)"
            )
        held = {"sandbox": "the sandbox's SMTP server", "aiosmtpd": "aiosmtpd's Sink"}.get(
            args.relay, args.relay
        )
        rates = sorted(sum(delivered.counts.values()) / t for t in timings)
        print(
            f"delivered {delivered.counts} to {held} over {settings.smtp_connections} connection(s):"
            f" {statistics.median(rates):.0f} notices/s (median of {len(rates)};"
            f" {', '.join(f'{r:.0f}' for r in rates)})"
        )


def _children_cpu() -> float:
    """CPU seconds used so far by this process's running children (the sandbox's process), read
    from ``/proc``; 0 where there is none to read."""
    total = 0.0
    for child in multiprocessing.active_children():
        with contextlib.suppress(OSError):
            total += cpu_seconds(child.pid or 0)
    return total


@contextlib.contextmanager
def _world(
    hosts: dict[str, str],
    networks: list[Network],
    latencies: tuple[float, float],
    relay_delay: float,
    *,
    here: bool,
) -> Iterator[dict[str, str]]:
    """The sandbox's environment, with the sandbox running here or in a child process."""
    if here:
        with _sandbox(hosts, networks, latencies, relay_delay) as world:
            yield world.environment()
        return
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(target=_serve_world, args=(theirs, hosts, networks, latencies, relay_delay))
    child.start()
    try:
        yield ours.recv()
    finally:
        ours.send("stop")
        child.join(30)


def _serve_world(
    pipe: Connection,
    hosts: dict[str, str],
    networks: list[Network],
    latencies: tuple[float, float],
    relay_delay: float,
) -> None:
    with _sandbox(hosts, networks, latencies, relay_delay) as world:
        pipe.send(world.environment())
        pipe.recv()


@contextlib.contextmanager
def _sandbox(
    hosts: dict[str, str], networks: list[Network], latencies: tuple[float, float], relay_delay: float
) -> Iterator[Sandbox]:
    with Sandbox(
        {"web.test": "127.0.0.2"},
        extra_records={h: {"A": [a]} for h, a in hosts.items()},
        networks=networks,
    ) as world:
        world.rdap.latency, world.rdap.handshake_latency = latencies
        world.smtp.stall_after_data = relay_delay
        yield world


@contextlib.contextmanager
def _separate_relay(kind: str) -> Iterator[int]:
    """An SMTP server that takes every message and keeps none, in a child process; its port."""
    port = free_port()
    if kind == "aiosmtpd":
        command = [sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink"]
        command += ["-l", f"127.0.0.1:{port}"]
    else:
        sink = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
        command = [sink, "-u", "nobody", "-c", f"127.0.0.1:{port}", "1000"]
    with serving(command, ("127.0.0.1", port)):
        yield port


if __name__ == "__main__":
    main()
