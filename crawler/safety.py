"""The crawler refuses to run with settings the safety rules forbid.

:func:`crawler.run.scrapy_settings` pins these settings above every priority, so ``takedown crawl
-s`` cannot turn them back on; this check is the second line: a crawl started any other way
(``scrapy crawl revisit`` with the project's ``scrapy.cfg``, a changed settings module) stops before
it fetches anything if any rule is broken, saying which.
"""

from __future__ import annotations

from scrapy.settings import BaseSettings

from takedown.errors import ConfigurationError

GUARDS = ("crawler.middlewares.ConnectedAddressGuard",)
RESOLVER = "crawler.resolver.GuardedResolver"
FINGERPRINT = "crawler.fingerprint.StreamingFingerprint"


class UnsafeSettings(ConfigurationError):
    """A Scrapy setting the safety rules forbid: the crawl does not start."""


def violations(settings: BaseSettings) -> list[str]:
    """What is wrong with ``settings``, one line each; empty when they are safe."""
    wrong = []
    for name in ("HTTPCACHE_ENABLED", "TELNETCONSOLE_ENABLED", "REMOTE_CONTROL_ENABLED", "HTTPPROXY_ENABLED"):
        if settings.getbool(name):
            wrong.append(f"{name} must be off")
    if settings.getdict("FEEDS"):
        wrong.append("FEEDS must be empty: nothing fetched is exported")
    schemes = {scheme for scheme, handler in settings.getwithbase("DOWNLOAD_HANDLERS").items() if handler}
    if schemes - {"http", "https"}:
        wrong.append(
            f"only http and https may be fetched, not {', '.join(sorted(schemes - {'http', 'https'}))}"
        )
    middlewares = settings.getwithbase("DOWNLOADER_MIDDLEWARES")
    wrong += [f"{guard} must stay enabled" for guard in GUARDS if middlewares.get(guard) is None]
    if settings.get("TWISTED_DNS_RESOLVER") != RESOLVER:
        wrong.append(f"TWISTED_DNS_RESOLVER must be {RESOLVER}")
    if settings.getwithbase("EXTENSIONS").get(FINGERPRINT) is None:
        wrong.append(f"{FINGERPRINT} must stay enabled")
    cap = settings.getint("TAKEDOWN_FINGERPRINT_MAX_BYTES")
    if cap <= 0 or not 0 < settings.getint("DOWNLOAD_MAXSIZE") <= cap + 1024 * 1024:
        wrong.append("every download must be capped (TAKEDOWN_FINGERPRINT_MAX_BYTES, DOWNLOAD_MAXSIZE)")
    return wrong


def check(settings: BaseSettings) -> None:
    wrong = violations(settings)
    if wrong:
        raise UnsafeSettings("refusing to crawl with unsafe settings: " + "; ".join(wrong))
