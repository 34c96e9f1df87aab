"""Running one revisit crawl in this process, with settings from the core's configuration.

A crawl owns the process while it runs (Twisted's reactor cannot be restarted), so the scheduler
runs each crawl as a child process (`python -m crawler`), and tests do the same.
"""

from __future__ import annotations

import logging
import resource
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from scrapy.crawler import CrawlerProcess
from scrapy.exceptions import ScrapyDeprecationWarning
from scrapy.settings import Settings as ScrapySettings

from crawler.frontier import FrontierUnavailable
from crawler.summary import CrawlSummary
from hosting.dns import AddressLookup
from takedown.settings import Settings

SAFETY_PRIORITY = 1000
"""Above every priority Scrapy knows (``cmdline`` is 40): what the safety rules fix cannot be
turned back on by ``takedown crawl -s``, a spider's ``custom_settings`` or an add-on."""


def safety_settings(settings: Settings) -> dict[str, Any]:
    """The settings the safety rules fix: nothing kept, nothing exposed, HTTP(S) only, straight to
    allowed addresses, every download capped and fingerprinted."""
    from crawler import settings as defaults

    return {
        "HTTPCACHE_ENABLED": False,
        "TELNETCONSOLE_ENABLED": False,
        "REMOTE_CONTROL_ENABLED": False,
        "FEEDS": {},
        "LOG_FORMATTER": defaults.LOG_FORMATTER,
        "DOWNLOAD_HANDLERS_BASE": {
            scheme: defaults.DOWNLOAD_HANDLERS[scheme] for scheme in ("http", "https")
        },
        "DOWNLOAD_HANDLERS": {**defaults.DOWNLOAD_HANDLERS},
        "HTTPPROXY_ENABLED": False,
        "TWISTED_DNS_RESOLVER": defaults.TWISTED_DNS_RESOLVER,
        "DOWNLOADER_MIDDLEWARES": {**defaults.DOWNLOADER_MIDDLEWARES},
        "EXTENSIONS_BASE": {**defaults.EXTENSIONS_BASE},
        "EXTENSIONS": {**defaults.EXTENSIONS},
        "ITEM_PIPELINES": {**defaults.ITEM_PIPELINES},
        "TAKEDOWN_ALLOW_NETWORKS": list(settings.allowed_networks),
        "TAKEDOWN_FINGERPRINT_MAX_BYTES": settings.max_fetch_bytes,
        "DOWNLOAD_MAXSIZE": settings.max_fetch_bytes + 1024 * 1024,
    }


def scrapy_settings(settings: Settings, **overrides: Any) -> ScrapySettings:
    """What ``takedown crawl`` runs with: the project's settings, the core configuration over them,
    ``overrides`` (``-s NAME=VALUE``) over that, and the safety settings over everything."""
    scrapy = ScrapySettings()
    scrapy.setmodule("crawler.settings", priority="project")
    scrapy.set("TAKEDOWN_DATABASE_URL", settings.database_url, priority="cmdline")
    scrapy.set("TAKEDOWN_CHASE_POLICY", settings.chase_policy, priority="cmdline")
    scrapy.set("TAKEDOWN_DNS_SERVER", settings.dns_server, priority="cmdline")
    scrapy.set("USER_AGENT", settings.user_agent, priority="cmdline")
    scrapy.set("DOWNLOAD_TIMEOUT", settings.fetch_timeout, priority="cmdline")
    scrapy.set("CONCURRENT_REQUESTS", settings.concurrency, priority="cmdline")
    scrapy.set("CONCURRENT_REQUESTS_PER_DOMAIN", settings.concurrency_per_host, priority="cmdline")
    scrapy.set("DOWNLOAD_DELAY", settings.delay_per_host, priority="cmdline")
    scrapy.set("TAKEDOWN_RETRY_BACKOFF", settings.retry_backoff, priority="cmdline")
    scrapy.set("TAKEDOWN_FRONTIER_LEASE", settings.frontier_lease, priority="cmdline")
    scrapy.set("TAKEDOWN_PERCEPTUAL_MAX_BYTES", settings.perceptual_max_bytes, priority="cmdline")
    scrapy.set("TAKEDOWN_PDQ_DISTANCE", settings.pdq_distance, priority="cmdline")
    for name, value in overrides.items():
        scrapy.set(name, value, priority="cmdline")
    for name, value in safety_settings(settings).items():
        scrapy.set(name, value, priority=SAFETY_PRIORITY)
    return scrapy


def run_revisits(
    settings: Settings,
    *,
    case_ids: Sequence[int] = (),
    now: datetime | None = None,
    frontier: FrontierWork | None = None,
    hosts: Sequence[AddressLookup] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> CrawlSummary:
    """Revisit the due cases (or ``case_ids``, or the due cases on ``hosts``: host names with the
    DNS answers they were placed by, or what ``frontier`` hands out) once; return what was found.
    A frontier that fails is a :class:`~crawler.frontier.FrontierUnavailable`."""
    overrides = dict(overrides or {})
    if frontier is not None:
        overrides = {
            **overrides,
            "TAKEDOWN_FRONTIER": frontier.url,
            "TAKEDOWN_FRONTIER_BATCH": frontier.batch,
            "TAKEDOWN_FRONTIER_FOREVER": frontier.forever,
        }
    from crawler.spiders.revisit import RevisitSpider

    # The caller configures logging (the CLI does, from -v); Scrapy adds no handler of its own, and
    # logs no more than the caller asked for: a crawl is quiet unless -v.
    level = logging.getLogger().getEffectiveLevel()
    scrapy = scrapy_settings(settings, **overrides)
    scrapy.set("LOG_INSTALL_ROOT_HANDLER", False, priority="cmdline")
    scrapy.set("LOG_LEVEL", logging.getLevelName(level), priority="cmdline")
    if level > logging.INFO:  # libraries' deprecation notices are for developers, with -v
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", ScrapyDeprecationWarning)
    process = CrawlerProcess(scrapy)
    logging.getLogger("scrapy").setLevel(level)  # Scrapy's own logging config sets DEBUG
    crawler = process.create_crawler(RevisitSpider)
    process.crawl(
        crawler,
        cases=",".join(str(case_id) for case_id in case_ids),
        now=now.isoformat() if now else "",
        hosts=hosts,
    )
    process.start()
    stats = crawler.stats.get_stats() if crawler.stats else {}
    prefix = "takedown/outcome/"
    outcomes = {key[len(prefix) :]: value for key, value in stats.items() if key.startswith(prefix)}
    reported = {
        key[len("takedown/reported/") :]: value
        for key, value in stats.items()
        if key.startswith("takedown/reported/")
    }
    if "takedown/frontier_error" in stats:
        raise FrontierUnavailable(str(stats["takedown/frontier_error"]))
    return CrawlSummary(
        revisited=sum(outcomes.values()),
        outcomes=dict(sorted(outcomes.items())),
        finish_reason=str(stats.get("finish_reason", "unknown")),
        elapsed_seconds=float(stats.get("elapsed_time_seconds", 0.0)),
        peak_memory_mib=peak_memory_mib(),
        claimed=int(stats.get("takedown/frontier_claimed", 0)) if frontier is not None else None,
        released=int(stats.get("takedown/frontier_released", 0)) if frontier is not None else None,
        reported=dict(sorted(reported.items())) or None,
    )


@dataclass(frozen=True)
class FrontierWork:
    """A crawl that takes its cases from the shared frontier at ``url``."""

    url: str
    batch: int = 500
    """Cases claimed at a time."""
    forever: bool = False
    """Keep claiming, and wait when the frontier is empty, until stopped (a crawler machine);
    otherwise one batch."""


def peak_memory_mib() -> float | None:
    """This process's peak resident memory. Read from ``VmHWM``: ``ru_maxrss`` survives ``execve``,
    so a crawl started by a large parent would report the parent's peak; and Scrapy's memusage
    stat is sampled only once a minute."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
