"""Benchmark: URLs revisited per second against the sandbox, beside two references on the same URLs:
bare Scrapy (bare_spider.py: fetching and nothing else) and a plain asyncio checker
(asyncio_checker.py: fetching and hashing while streaming, in one process, without Scrapy).

Run by hand; prints figures, asserts nothing:

    .venv/bin/python bench/bench_revisit.py [--urls 3000] [--hosts 10] [--size 20000]
    .venv/bin/python bench/bench_revisit.py --pictures     # images: PDQ hashing on, then off
    .venv/bin/python bench/bench_revisit.py --server nginx --processes 2   # apt-get install nginx

All three run as child processes with the same concurrency; the two crawls are timed by Scrapy's
own ``elapsed_time_seconds``, the checker from its first request to its last answer (start-up
excluded in every case). The revisit crawl does everything a real one does:
reads due cases from the store, resolves each host through the SSRF guard, fingerprints every
body while it streams, judges the outcome and commits a check and a state change per case.

The sandbox's web server is Python, in this process: at a thousand URLs a second it takes a good
share of a core from the crawl. ``--server nginx`` serves the same URLs from nginx instead (one
worker, the same body for every URL), as the crawl's ceiling was first measured, so that what is
measured is the crawl; the sandbox still answers DNS.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from statistics import median
from urllib.parse import urlsplit

from child_servers import free_port, serving
from crawling import crawl, run_reference

from sandbox import Sandbox
from sandbox.web import Picture, Serve
from takedown.clock import SystemClock
from takedown.intake import queue_batch
from takedown.reports import Report, validate_report
from takedown.settings import sqlite_url
from takedown.store import Store

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--urls", type=int, default=3000)
    parser.add_argument("--hosts", type=int, default=10)
    parser.add_argument("--size", type=int, default=20_000, help="bytes per body")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--per-host", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2, help="best of this many runs each")
    parser.add_argument(
        "--processes", type=int, default=1, help="takedown crawl --processes (side-by-side Scrapy processes)"
    )
    parser.add_argument(
        "--server",
        choices=("sandbox", "nginx"),
        default="sandbox",
        help="who serves the URLs: the sandbox's web server (Python, in this process) or nginx",
    )
    parser.add_argument(
        "--pictures",
        action="store_true",
        help="serve images drawn by the sandbox (100 different ones) and crawl them with perceptual"
        " hashing on and off (TAKEDOWN_PERCEPTUAL_MAX_BYTES=0)",
    )
    args = parser.parse_args()
    if args.pictures and args.server == "nginx":
        parser.error("--pictures needs the sandbox's server (it draws the images)")

    hosts = {f"host-{n}.bench.test": f"127.0.0.{n + 2}" for n in range(args.hosts)}
    with (
        Sandbox(hosts) as sandbox,
        tempfile.TemporaryDirectory(prefix="takedown-bench-") as tmp,
        contextlib.ExitStack() as servers,
    ):
        workdir = Path(tmp)
        names = list(hosts)
        if args.server == "nginx":
            port = servers.enter_context(_nginx(workdir / "nginx", args.size))
            urls = [f"http://{names[i % len(names)]}:{port}/item/{i}.jpg" for i in range(args.urls)]
        else:
            port = sandbox.port
            urls = [
                sandbox.serve(
                    names[i % len(names)],
                    f"/item/{i}.jpg",
                    Picture(i % 100) if args.pictures else Serve(f"c{i % 100}", args.size),
                )
                for i in range(args.urls)
            ]
        targets = workdir / "targets.txt"
        lines = []
        for url in urls:
            parts = urlsplit(url)
            lines.append(f"http://{hosts[parts.hostname or '']}:{port}{parts.path} {parts.hostname}\n")
        targets.write_text("".join(lines))
        bare_rates: list[float] = []
        checker_rates: list[float] = []
        revisit_rates: list[float] = []
        unhashed_rates: list[float] = []
        memory: list[float] = []
        for round_number in range(args.rounds):
            limits = {"concurrency": args.concurrency, "per_host": args.per_host}
            bare = run_reference(HERE / "bare_spider.py", targets, **limits)
            bare_rates.append(bare["fetched"] / bare["elapsed_seconds"])
            checked = run_reference(HERE / "asyncio_checker.py", targets, **limits)
            assert checked["fetched"] == args.urls, checked
            checker_rates.append(checked["fetched"] / checked["elapsed_seconds"])

            for perceptual in (True, False) if args.pictures else (True,):
                database = sqlite_url(workdir / f"revisit-{round_number}-{perceptual}.db")
                store = Store.open(database)
                with store.session() as session:
                    queue_batch(
                        session,
                        [validate_report(Report(u)) for u in urls],
                        actor="bench",
                        now=SystemClock().now(),
                    )
                store.dispose()
                env = {
                    **os.environ,
                    **sandbox.environment(),
                    "TAKEDOWN_DATABASE_URL": database,
                    "TAKEDOWN_CONCURRENCY_PER_HOST": str(args.per_host),
                    **({} if perceptual else {"TAKEDOWN_PERCEPTUAL_MAX_BYTES": "0"}),
                }
                revisit = crawl(env, processes=args.processes)
                if revisit is None:
                    return 1
                assert revisit["revisited"] == args.urls, revisit
                rate = revisit["revisited"] / revisit["elapsed_seconds"]
                (revisit_rates if perceptual else unhashed_rates).append(rate)
                memory.append(revisit["peak_memory_mib"])

    print(
        f"urls            {args.urls:,} on {args.hosts} hosts, {args.size:,} B each, served by {args.server}"
    )
    print(f"processes       {args.processes} (takedown crawl --processes)")
    print(
        f"concurrency     {args.concurrency} ({args.per_host} per host); best, median of {args.rounds} runs"
    )
    references = (("asyncio checker", checker_rates), ("bare Scrapy", bare_rates))
    for label, rates in (*references, ("takedown crawl", revisit_rates)):
        runs = ", ".join(f"{rate:.0f}" for rate in rates)
        print(f"{label:<15} best {max(rates):6.1f}  median {median(rates):6.1f} URLs/s   (runs: {runs})")
    print(f"crawl peak RSS  {max(memory):.0f} MiB (the crawl process's VmHWM)")
    if unhashed_rates:
        runs = ", ".join(f"{rate:.0f}" for rate in unhashed_rates)
        best, middle = max(unhashed_rates), median(unhashed_rates)
        print(f"{'PDQ off':<15} best {best:6.1f}  median {middle:6.1f} URLs/s   (runs: {runs})")
        print(f"PDQ on / off    best {max(revisit_rates) / max(unhashed_rates):6.1%}  median "
              f"{median(revisit_rates) / median(unhashed_rates):6.1%}")  # fmt: skip
    print(
        f"ratio           best {max(revisit_rates) / max(bare_rates):6.1%}  "
        f"median {median(revisit_rates) / median(bare_rates):6.1%}   (target: at least 80%)"
    )
    print(
        f"of the checker  best {max(revisit_rates) / max(checker_rates):6.1%}  "
        f"median {median(revisit_rates) / median(checker_rates):6.1%}"
    )
    return 0


@contextlib.contextmanager
def _nginx(directory: Path, size: int) -> Iterator[int]:
    """nginx in the foreground with one worker, answering every /item/ path with the same body of
    ``size`` bytes on every loopback address; its port."""
    directory.mkdir()
    (directory / "body.jpg").write_bytes(os.urandom(size))
    port = free_port()
    config = directory / "nginx.conf"
    config.write_text(
        ("user root;\n" if os.geteuid() == 0 else "")  # its worker reads this private directory
        + f"""daemon off;
worker_processes 1;
pid {directory}/nginx.pid;
error_log {directory}/error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {directory};
    proxy_temp_path {directory};
    fastcgi_temp_path {directory};
    uwsgi_temp_path {directory};
    scgi_temp_path {directory};
    keepalive_requests 100000;
    server {{
        listen {port};
        root {directory};
        location /item/ {{ default_type image/jpeg; try_files /body.jpg =404; }}
    }}
}}
"""
    )
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    log = directory / "error.log"
    with serving(
        [nginx, "-c", str(config), "-p", str(directory)],
        ("127.0.0.2", port),
        why_not=lambda: log.read_text() if log.exists() else "",
    ):
        yield port


if __name__ == "__main__":
    sys.exit(main())
