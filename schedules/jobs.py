"""The scheduler's jobs, each a plain function (and each also a CLI command):

- :func:`crawl_job`: revisit what is due (``takedown crawl``), which also confirms removals;
- :func:`notify_job`: compose the notice rounds due under the chase policy and deliver the outbox
  (``takedown notices send --due``); it resolves hosting for the cases it writes about.

Crawls run as child processes. Twisted's reactor cannot be restarted in a process, and a crawl
that leaks memory or dies takes only itself down; the price, about a second of start-up per crawl,
is nothing next to a crawl's minutes. The scheduler, composing and sending stay in the parent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from hosting.factory import resolver_from_settings
from notices.compose import Composer
from notices.outbox import DeliverySummary, Outbox
from notices.render import NoticeRenderer
from schedules.chase import NoticeRoundSummary, notice_round
from takedown.clock import Clock
from takedown.errors import TakedownError
from takedown.policy import ChasePolicy
from takedown.settings import Settings
from takedown.store import Store


class CrawlFailed(TakedownError):
    """The crawl's child process failed; the message ends with what it wrote to stderr."""


def crawl_environment(settings: Settings) -> dict[str, str]:
    """What a child ``takedown crawl`` needs to see the same store, network and policy."""
    env = {
        "TAKEDOWN_DATABASE_URL": settings.database_url,
        "TAKEDOWN_FETCH_TIMEOUT": str(settings.fetch_timeout),
        "TAKEDOWN_MAX_FETCH_BYTES": str(settings.max_fetch_bytes),
        "TAKEDOWN_USER_AGENT": settings.user_agent,
        "TAKEDOWN_CONCURRENCY_PER_HOST": str(settings.concurrency_per_host),
        "TAKEDOWN_DELAY_PER_HOST": str(settings.delay_per_host),
        "TAKEDOWN_RETRY_BACKOFF": str(settings.retry_backoff),
        "TAKEDOWN_ALLOW_NETWORKS": ",".join(settings.allowed_networks),
    }
    if settings.dns_server:
        env["TAKEDOWN_DNS_SERVER"] = settings.dns_server
    if settings.chase_policy:
        env["TAKEDOWN_CHASE_POLICY"] = settings.chase_policy
    return env


def crawl_job(settings: Settings, now: datetime, *, timeout: float = 6 * 3600) -> dict[str, Any]:
    """Revisit every case due at ``now`` in a child process; its summary (``takedown crawl --json``)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "takedown.cli",
            "crawl",
            "--json",
            "--now",
            now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        ],
        env={**os.environ, **crawl_environment(settings)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise CrawlFailed(f"the revisit crawl exited with {done.returncode}: {done.stderr.strip()[-1500:]}")
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary


@dataclass(frozen=True)
class NotifySummary:
    rounds: NoticeRoundSummary
    delivery: DeliverySummary


def notify_job(
    settings: Settings, store: Store, clock: Clock, *, sender_id: str | None = None
) -> NotifySummary:
    """Compose the notice rounds due now, as the chase policy says, then deliver the outbox.

    ``sender_id`` names this sender in the notices it claims; the daemon passes its lock's owner,
    so that a successor taking the lock over knows exactly which claims were left behind."""
    composer = Composer(
        store,
        resolver_from_settings(settings, store=store, clock=clock),
        settings,
        NoticeRenderer(settings.templates_dir),
    )
    rounds = notice_round(composer, ChasePolicy.load(settings.chase_policy), now=clock.now())
    delivery = Outbox(store, settings, clock, sender_id=sender_id).deliver_due()
    return NotifySummary(rounds, delivery)
