"""One crawl over several processes: the due cases split by host over N crawls (``python -m crawler
--partition K/N``), run side by side, their summaries added up.

One Scrapy process is bound to one core (Twisted's reactor is single-threaded): a crawl against
fast servers is CPU-bound at a few hundred URLs per second whatever the concurrency. N processes
on N cores go about N times as fast. Cases are split by host name, not by case, so every case on
one host is revisited by one process and the per-server limit holds as before; servers that many
host names share (shared hosting, CDNs) can see up to N times the limit, which a shared frontier
(``takedown crawl --frontier``, Redis) avoids with its fleet-wide limit.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from types import FrameType
from typing import Any

from crawler.run import CrawlSummary
from takedown.errors import TakedownError
from takedown.settings import Settings


class CrawlProcessFailed(TakedownError):
    """A crawl process of a several-process crawl ended without a summary."""


def run_in_processes(
    settings: Settings,
    processes: int,
    *,
    now: datetime | None = None,
    overrides: Mapping[str, Any] | None = None,
    verbose: int = 0,
) -> CrawlSummary:
    """Revisit the due cases with ``processes`` crawls side by side; their summaries, added up.
    SIGTERM or SIGINT to this process is passed on to every crawl (each stops gracefully)."""
    command = [sys.executable, "-m", "crawler", *(["-v"] * verbose)]
    if now is not None:
        command += ["--now", now.isoformat()]
    for name, value in (overrides or {}).items():
        command += ["-s", f"{name}={value}"]
    env = {**os.environ, "TAKEDOWN_DATABASE_URL": settings.database_url, "TAKEDOWN_ACTOR": settings.actor}
    children = [
        subprocess.Popen(
            [*command, "--partition", f"{k}/{processes}"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=None,  # the crawls' own errors and -v logging go straight to ours
            text=True,
        )
        for k in range(processes)
    ]
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
        lines = [line for line in output.splitlines() if line.startswith("{")]
        if not lines:
            raise CrawlProcessFailed(
                f"crawl process {k + 1} of {processes} exited {child.returncode} without a summary"
            )
        summaries.append(json.loads(lines[-1]))
    return _added_up(summaries)


def _added_up(summaries: list[dict[str, Any]]) -> CrawlSummary:
    outcomes: Counter[str] = Counter()
    for summary in summaries:
        outcomes.update(summary.get("outcomes", {}))
    reasons = {summary.get("finish_reason", "unknown") for summary in summaries}
    peaks = [summary.get("peak_memory_mib") for summary in summaries]
    return CrawlSummary(
        revisited=sum(int(summary.get("revisited", 0)) for summary in summaries),
        outcomes=dict(sorted(outcomes.items())),
        finish_reason="finished" if reasons == {"finished"} else ", ".join(sorted(reasons - {"finished"})),
        elapsed_seconds=max(float(summary.get("elapsed_seconds", 0.0)) for summary in summaries),
        peak_memory_mib=sum(peak for peak in peaks if peak is not None) if any(peaks) else None,
        processes=len(summaries),
    )


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
