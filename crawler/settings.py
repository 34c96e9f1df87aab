"""Scrapy settings for revisiting reported URLs.

Safety first: the crawler fetches URLs that carry illegal content, so nothing it fetches may be kept
(no HTTP cache, no feed, no item in the logs), nothing may control it from outside (no telnet
console, no remote-control endpoint), it may only speak HTTP(S) directly (no file/data/s3/ftp
handlers, no proxy from the environment), it connects only to addresses the SSRF guard allows
(TWISTED_DNS_RESOLVER plus a check on the connected address), and every download is capped.

This module is constants only: it reads no environment. The configuration reaches a crawl one
way, :func:`crawler.run.scrapy_settings`, which maps :class:`takedown.settings.Settings` over these
(and pins the safety settings over everything); the defaults below are the core's own defaults.
"""

from __future__ import annotations

from scrapy.settings import default_settings as _scrapy_defaults

from takedown.revisits import DEFAULT_REMOVED_PAGE_PATTERNS
from takedown.settings import DEFAULTS as _core  # the core's defaults, not its configuration

BOT_NAME = "takedown"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

# Nothing kept, nothing exposed.
HTTPCACHE_ENABLED = False
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False
FEEDS: dict[str, dict[str, object]] = {}
LOG_FORMATTER = "crawler.logformatter.QuietLogFormatter"
LOG_LEVEL = "INFO"

# HTTP and HTTPS only, straight to the host, and only to allowed addresses.
DOWNLOAD_HANDLERS = {
    "file": None,
    "data": None,
    "s3": None,
    "ftp": None,
    # Bodies are hashed as they stream; the handler keeps only their first 64 KiB in memory.
    "http": "crawler.handler.HeadOnlyDownloadHandler",
    "https": "crawler.handler.HeadOnlyDownloadHandler",
}
HTTPPROXY_ENABLED = False
TWISTED_DNS_RESOLVER = "crawler.resolver.GuardedResolver"
DOWNLOADER_MIDDLEWARES = {
    # Bodies are decoded while they stream, only to be hashed (crawler.fingerprint); Scrapy's own
    # decompression would inflate the whole body again in memory, bombs included.
    "scrapy.downloadermiddlewares.httpcompression.HttpCompressionMiddleware": None,
    "crawler.middlewares.ConnectedAddressGuard": 990,
    "crawler.middlewares.NoRetryOnFinalDNSAnswer": 560,
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawler.middlewares.BackoffRetryMiddleware": 550,
    # Next to the downloader: a fleet-wide token per server is held exactly while on the wire
    # (only with a shared frontier; see crawler.fleet).
    "crawler.fleet.FleetPoliteness": 995,
}
TAKEDOWN_DNS_SERVER = _core.dns_server
TAKEDOWN_ALLOW_NETWORKS = list(_core.allowed_networks)

# A takedown check is not a crawl: robots.txt does not apply, but the crawler says who it is.
ROBOTSTXT_OBEY = False
USER_AGENT = _core.user_agent
COOKIES_ENABLED = False
# Ask for what a browser asks for: some hosts serve only compressed, and the digest is of the file.
DEFAULT_REQUEST_HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "en",
    "Accept-Encoding": "gzip, deflate, br, zstd",
}

# Fingerprint while streaming, stop at the cap; Scrapy's own cap is a backstop just above it.
EXTENSIONS = {"crawler.fingerprint.StreamingFingerprint": 0}
# The consoles and the feed exports turned off above are not even listed: Scrapy imports every
# extension it lists, on or off, and the remote control alone imports aiohttp's web server (0.15 s
# of every crawl's start).
EXTENSIONS_BASE = {
    name: order
    for name, order in _scrapy_defaults.EXTENSIONS_BASE.items()
    if name
    not in {
        "scrapy.extensions.telnet.TelnetConsole",
        "scrapy.extensions.remote_control.RemoteControl",
        "scrapy.extensions.feedexport.FeedExporter",
    }
}
TAKEDOWN_FINGERPRINT_MAX_BYTES = _core.max_fetch_bytes
TAKEDOWN_PERCEPTUAL_MAX_BYTES = _core.perceptual_max_bytes
TAKEDOWN_PDQ_DISTANCE = _core.pdq_distance
DOWNLOAD_MAXSIZE = TAKEDOWN_FINGERPRINT_MAX_BYTES + 1024 * 1024
DOWNLOAD_WARNSIZE = 0
DOWNLOAD_TIMEOUT = _core.fetch_timeout
DNS_TIMEOUT = 10

# One item (a check) per response: a pool of CONCURRENT_ITEMS workers per response is pure overhead
# (Scrapy starts that many asyncio tasks for every response's output: 200,000 for 2,000 URLs).
CONCURRENT_ITEMS = 1

# Every status reaches the spider: a 404 is an answer, not an error.
HTTPERROR_ALLOW_ALL = True
REDIRECT_MAX_TIMES = 10
RETRY_TIMES = 2
TAKEDOWN_RETRY_BACKOFF = _core.retry_backoff
TAKEDOWN_RETRY_BACKOFF_MAX = 60.0

# Politeness per server, not per name: many reported URLs sit on one shared-hosting address. The
# spider puts each request in the download slot of its server's address, so the per-"domain"
# limits below hold per server.
CONCURRENT_REQUESTS = _core.concurrency
CONCURRENT_REQUESTS_PER_DOMAIN = _core.concurrency_per_host
DOWNLOADER = "crawler.downloader.PoliteDownloader"  # enforces the limit above (see its docstring)
DOWNLOAD_DELAY = _core.delay_per_host
RANDOMIZE_DOWNLOAD_DELAY = True

# Where checks are recorded, and what a "removed" landing page looks like.
ITEM_PIPELINES = {"crawler.pipelines.RecordCheckPipeline": 100}
TAKEDOWN_DATABASE_URL: str | None = None  # always given by crawler.run.scrapy_settings
TAKEDOWN_CHASE_POLICY = _core.chase_policy
TAKEDOWN_REMOVED_PAGE_PATTERNS = list(DEFAULT_REMOVED_PAGE_PATTERNS)
# A crawl of what is due also makes the one revisit of each URL reported through a portal.
TAKEDOWN_REVISIT_REPORTED_URLS = True

# A crawler machine of a fleet (``takedown crawl --frontier``): where the shared frontier is, how
# many cases it claims at a time, how long it holds them, and whether it keeps claiming when the
# frontier is empty (a worker) or stops (one batch after another until none is left).
TAKEDOWN_FRONTIER: str | None = None
TAKEDOWN_FRONTIER_BATCH = 500
TAKEDOWN_FRONTIER_LEASE = _core.frontier_lease
TAKEDOWN_FRONTIER_FOREVER = False
TAKEDOWN_FRONTIER_POLL_SECONDS = 2.0
