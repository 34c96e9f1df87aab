"""One crawl over several processes: the due cases split by server over N crawls (``python -m
crawler --hosts-file``), run side by side, their summaries added up.

One Scrapy process is bound to one core (Twisted's reactor is single-threaded): a crawl against
fast servers is CPU-bound at a few hundred URLs per second whatever the concurrency. N processes
on N cores go about N times as fast. The split is by *server*: each due host name is looked up
once, here, and every name that reaches the same server address goes to the same process, so
the per-server limit (``TAKEDOWN_CONCURRENCY_PER_HOST``) holds for shared hosting as it does in
one process. (A name that does not resolve is placed by its own name: its crawl records the
failure.) Each crawl still resolves and guards every address itself before connecting.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import zlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Any

from crawler.summary import CrawlSummary, read_summary
from hosting.dns import AddressLookup, DNSClient, LookupStatus
from takedown.clock import SystemClock
from takedown.errors import TakedownError
from takedown.portal_reports import revisit_hosts
from takedown.revisits import due_hosts
from takedown.settings import Settings
from takedown.store import Store

log = logging.getLogger(__name__)


class CrawlProcessFailed(TakedownError):
    """A crawl process of a several-process crawl ended without a summary."""


CASES_PER_PROCESS = 1_000
"""When the number of processes is left to the crawl (``--processes auto``), one process per this
many due cases, up to the machine's cores. A Scrapy process spends a second or two of CPU starting;
one process checks a thousand URLs in a few seconds, so a smaller crawl would spend more starting
a second process than that process could save."""


def processes_for(work: int, limit: int) -> int:
    """How many crawls to run side by side for ``work`` due cases, at most ``limit``."""
    return max(1, min(limit, -(-work // CASES_PER_PROCESS)))


def run_in_processes(
    settings: Settings,
    processes: int | None,
    *,
    now: datetime | None = None,
    overrides: Mapping[str, Any] | None = None,
    verbose: int = 0,
    lookup: Callable[[str], AddressLookup] | None = None,
) -> CrawlSummary:
    """Revisit the due cases with up to ``processes`` crawls side by side (one per share that has
    any host; ``None``: as many as :func:`processes_for` the cases due, up to the cores); their
    summaries, added up. SIGTERM or SIGINT to this process is passed on to every crawl (each stops
    gracefully). A crawl left with one share runs here, in this process, as one crawl would.
    ``lookup`` replaces the DNS lookup of a host name (tests)."""
    store = Store.open(settings.database_url)
    try:
        due = due_hosts(store, now=now or SystemClock().now())
        with store.session() as session:  # reported URLs' one revisit is shared out the same way
            reported = set(revisit_hosts(session))
    finally:
        store.dispose()
    names = sorted(set(due) | reported)
    if processes is None:
        processes = processes_for(sum(due.values()) + len(reported), os.cpu_count() or 1)
    lookup = lookup or DNSClient(settings.dns_server, timeout=10.0).addresses
    with ThreadPoolExecutor(max_workers=32) as pool:
        found = dict(zip(names, pool.map(lookup, names), strict=True))
    shares = [
        share for share in assign_by_server(names, processes, lambda name: server_of(found[name])) if share
    ]
    if not shares:
        return CrawlSummary(
            revisited=0, outcomes={}, finish_reason="finished", elapsed_seconds=0.0, processes=0
        )
    work = f"{sum(due.values())} cases due and {len(reported)} reported URLs on {len(names)} host names"
    if len(shares) == 1:  # no process to start: this one crawls, with the answers already found
        from crawler.run import run_revisits

        log.info("%s: crawled in this process", work)
        hosts = [found[name] for name in shares[0]]
        alone = run_revisits(settings, now=now, hosts=hosts, overrides=overrides)
        return dataclasses.replace(alone, processes=1)
    log.info("%s: shared among %d crawl processes", work, len(shares))
    command = [sys.executable, "-m", "crawler", *(["-v"] * verbose)]
    if now is not None:
        command += ["--now", now.isoformat()]
    for name, value in (overrides or {}).items():
        command += ["-s", f"{name}={value}"]
    env = {**os.environ, "TAKEDOWN_DATABASE_URL": settings.database_url, "TAKEDOWN_ACTOR": settings.actor}
    with tempfile.TemporaryDirectory(prefix="takedown-crawl-") as directory:
        children = []
        for k, share in enumerate(shares):
            listed = Path(directory) / f"hosts-{k}.txt"
            # each name with the answer it was placed by: the crawl judges that answer (the SSRF
            # guard's rules) instead of asking DNS a second time
            listed.write_text(
                "".join(f"{json.dumps(lookup_json(found[name]))}\n" for name in share), encoding="utf-8"
            )
            children.append(
                subprocess.Popen(
                    [*command, "--hosts-file", str(listed)],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=None,  # the crawls' own errors and -v logging go straight to ours
                    text=True,
                )
            )
        return _wait_for(children)


def assign_by_server(
    names: Sequence[str], processes: int, server_of: Callable[[str], str]
) -> list[list[str]]:
    """``names`` in ``processes`` shares, every name of one server in the same share. A stable hash
    of the server, not a random one: the same store gives the same split in any process."""
    shares: list[list[str]] = [[] for _ in range(processes)]
    for name in names:
        shares[zlib.crc32(server_of(name).encode("utf-8", "surrogateescape")) % processes].append(name)
    return shares


def server_of(found: AddressLookup) -> str:
    """Where a name's cases go: its lowest address (answers come in any order); the name itself
    when it has none (its crawl then records the failure)."""
    if found.status is LookupStatus.OK and found.addresses:
        return sorted(found.addresses)[0]
    return found.name


def lookup_json(found: AddressLookup) -> dict[str, Any]:
    return {
        "name": found.name,
        "status": found.status.value,
        "addresses": list(found.addresses),
        "cname_chain": list(found.cname_chain),
        "detail": found.detail,
    }


def lookup_from_json(data: dict[str, Any]) -> AddressLookup:
    return AddressLookup(
        name=str(data["name"]),
        status=LookupStatus(data["status"]),
        addresses=tuple(data.get("addresses", ())),
        cname_chain=tuple(data.get("cname_chain", ())),
        detail=str(data.get("detail", "")),
    )


def _wait_for(children: list[subprocess.Popen[str]]) -> CrawlSummary:
    processes = len(children)
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def pass_on(signum: int, _frame: FrameType | None) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    if _main_thread():
        for sig in previous:
            signal.signal(sig, pass_on)
    try:
        outputs = [child.communicate()[0] for child in children]
    finally:
        if _main_thread():
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    summaries = []
    for k, (child, output) in enumerate(zip(children, outputs, strict=True)):
        summary = read_summary(output)
        if summary is None:
            raise CrawlProcessFailed(
                f"crawl process {k + 1} of {processes} exited {child.returncode} without a summary"
            )
        summaries.append(summary)
    return _added_up(summaries)


def _added_up(summaries: list[dict[str, Any]]) -> CrawlSummary:
    outcomes: Counter[str] = Counter()
    reported: Counter[str] = Counter()
    for summary in summaries:
        outcomes.update(summary.get("outcomes", {}))
        reported.update(summary.get("reported", {}))
    reasons = {summary.get("finish_reason", "unknown") for summary in summaries}
    peaks = [summary.get("peak_memory_mib") for summary in summaries]
    return CrawlSummary(
        revisited=sum(int(summary.get("revisited", 0)) for summary in summaries),
        outcomes=dict(sorted(outcomes.items())),
        finish_reason="finished" if reasons == {"finished"} else ", ".join(sorted(reasons - {"finished"})),
        elapsed_seconds=max(float(summary.get("elapsed_seconds", 0.0)) for summary in summaries),
        peak_memory_mib=sum(peak for peak in peaks if peak is not None) if any(peaks) else None,
        processes=len(summaries),
        reported=dict(sorted(reported.items())) or None,
    )


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
