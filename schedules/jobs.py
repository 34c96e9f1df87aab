"""The scheduler's jobs, each a plain function (and each also a CLI command):

- :func:`crawl_job`: revisit what is due (``python -m crawler``), which also confirms removals;
- :func:`notify_job`: compose the notice rounds due under the chase policy and deliver the outbox
  (``takedown notices send --due``); it resolves hosting for the cases it writes about;
- :func:`housekeeping_job`: forget the registry answers whose time is up.

Crawls run as child processes. Twisted's reactor cannot be restarted in a process, and a crawl
that leaks memory or dies takes only itself down. Each is forked from a crawl server that imported
the crawl stack once (:mod:`schedules.crawl_server`): started afresh, a crawl of a few URLs spent
three quarters of its time importing. The scheduler, composing and sending stay in the parent.
"""

from __future__ import annotations

import atexit
import os
import re
import signal
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crawler.summary import read_summary
from hosting.expired_answers import ForgottenAnswers, forget_expired_answers
from hosting.factory import resolver_from_settings
from notices.acknowledgements import AcknowledgementSummary, acknowledge_reports
from notices.compose import Composer
from notices.outbox import DeliverySummary, Outbox
from notices.render import NoticeRenderer
from schedules.chase import NoticeRoundSummary, notice_round
from schedules.crawl_server import Crawl, CrawlServer, Finished, ServerGone
from takedown.clock import Clock
from takedown.errors import TakedownError
from takedown.policy import ChasePolicy
from takedown.settings import Settings
from takedown.store import Store


class CrawlFailed(TakedownError):
    """The crawl's child process failed; the message says why, first (its own error line, else the
    exception it died of); :attr:`stderr_tail` keeps the end of what it wrote, for the log."""

    def __init__(self, message: str, stderr_tail: str = "") -> None:
        super().__init__(message)
        self.stderr_tail = stderr_tail


def failure_cause(stderr: str) -> str:
    """The one line that says why a ``takedown`` child process failed: its ``error:`` line, else
    the exception a traceback ended with, else its last line."""
    lines = [line.rstrip() for line in stderr.splitlines() if line.strip()]
    errors = [line.removeprefix("error: ") for line in lines if line.startswith("error: ")]
    if errors:
        return errors[-1]
    if any(line.startswith("Traceback") for line in lines):
        raised = [
            line for line in lines if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b", line)
        ]
        if raised:
            return raised[-1]
    return lines[-1] if lines else "it wrote nothing to stderr"


def crawl_environment(settings: Settings) -> dict[str, str]:
    """What a child ``takedown crawl`` needs to see the same store, network and policy: every
    setting but the secrets (the SMTP password, the provider key), which a crawl has no use for."""
    return settings.environment(secrets=False)


STOP_GRACE = 60.0
"""Seconds a crawl asked to stop may take to finish what it has in flight, before it is killed."""


def crawl_job(
    settings: Settings, now: datetime, *, timeout: float = 6 * 3600, stop: threading.Event | None = None
) -> dict[str, Any]:
    """Revisit every case due at ``now`` in a child process (``python -m crawler``, the crawler's own
    entry point, with one crawl per thousand due cases up to one per core); its summary.

    The child is forked from the crawl server (:mod:`schedules.crawl_server`), which imported the
    crawl stack once. It runs in a session of its own, so a signal meant for the scheduler (Ctrl-C
    in a terminal, ``kill -- -PGID``, systemd stopping the service) does not kill it mid-fetch; when
    ``stop`` is set, it is asked to stop (SIGTERM: Scrapy finishes the requests in flight and their
    checks are recorded), and the summary says ``"stopped": true``. Cases it did not reach stay due.
    """
    argv = ["--now", now.strftime("%Y-%m-%dT%H:%M:%SZ"), "--processes", "auto"]
    env = {**os.environ, **crawl_environment(settings)}
    spare = None
    try:
        crawl = _SERVER.start(argv, env)
        if crawl is None:  # another crawl is running through the shared server: this one gets its own
            spare = CrawlServer()
            crawl = spare.start(argv, env)
            assert crawl is not None
        finished, stopped = _wait(crawl, timeout, stop)
    except ServerGone as exc:
        raise CrawlFailed(f"the revisit crawl could not run: {exc}") from exc
    finally:
        if spare is not None:
            spare.stop()
    summary: dict[str, Any] = read_summary(finished.stdout) or {}
    if stopped:
        return {"revisited": 0, "outcomes": {}, **summary, "stopped": True}
    if finished.exit != 0:
        raise CrawlFailed(
            f"the revisit crawl exited with {finished.exit}: {failure_cause(finished.stderr)[:500]}",
            finished.stderr.strip()[-1500:],
        )
    return summary


_SERVER = CrawlServer()
"""This process's crawl server, started by its first crawl, ended with this process."""
atexit.register(_SERVER.stop)


def _wait(crawl: Crawl, timeout: float, stop: threading.Event | None) -> tuple[Finished, bool]:
    """Wait for ``crawl`` in short steps, so a stop request is seen within a second: SIGTERM then,
    and SIGKILL if it has not finished :data:`STOP_GRACE` seconds later; SIGKILL after ``timeout``
    (:class:`CrawlFailed`). The scheduler going down hard (an exception here) takes the crawl with
    it. Its status, and whether it was asked to stop."""
    deadline = time.monotonic() + timeout
    stopped_at: float | None = None
    try:
        while True:
            if stopped_at is None and stop is not None and stop.is_set():
                crawl.signal(signal.SIGTERM)
                stopped_at = time.monotonic()
            finished = crawl.wait(1.0)
            if finished is not None:
                return finished, stopped_at is not None
            if stopped_at is not None and time.monotonic() - stopped_at > STOP_GRACE:
                crawl.signal(signal.SIGKILL)
            elif stopped_at is None and time.monotonic() >= deadline:
                crawl.signal(signal.SIGKILL)
                while crawl.wait(1.0) is None:
                    pass
                raise CrawlFailed(f"the revisit crawl took longer than {timeout:.0f} s and was stopped")
    except (CrawlFailed, ServerGone):
        raise
    except BaseException:
        crawl.signal(signal.SIGKILL)
        crawl.abandon()
        raise


@dataclass(frozen=True)
class NotifySummary:
    rounds: NoticeRoundSummary
    delivery: DeliverySummary
    acknowledged: AcknowledgementSummary | None = None
    """Reporters' acknowledgements sent by the same run (portals that take addresses)."""
    unsigned: str | None = None
    """Why notices cannot be signed now (none is composed while so), whether or not any was due."""


def notify_job(
    settings: Settings, store: Store, clock: Clock, *, sender_id: str | None = None
) -> NotifySummary:
    """Compose the notice rounds due now, as the chase policy says, then deliver the outbox.

    ``sender_id`` names this sender in the notices it claims; the daemon passes its lock's owner,
    so that a successor taking the lock over knows exactly which claims were left behind."""
    resolver = resolver_from_settings(settings, store=store, clock=clock)
    composer = Composer(store, resolver, settings, NoticeRenderer(settings.templates_dir))
    try:
        rounds = notice_round(composer, ChasePolicy.load(settings.chase_policy), now=clock.now())
    finally:
        resolver.close()  # the daemon makes a new one each run: not a socket left behind per run
    delivery = Outbox(store, settings, clock, sender_id=sender_id).deliver_due()
    return NotifySummary(
        rounds, delivery, acknowledge_reports(settings, store, clock), composer.signing_problem(clock.now())
    )


def housekeeping_job(store: Store, clock: Clock) -> ForgottenAnswers:
    """Forget the registry answers (networks, registrations) that have expired: never read again,
    they would otherwise stay in the store for good."""
    return forget_expired_answers(store, now=clock.now())
