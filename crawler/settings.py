"""Scrapy settings for revisiting reported URLs.

Safety first: the crawler fetches URLs that carry illegal content, so nothing it fetches may be kept
(no HTTP cache, no feed of bodies), nothing may control it from outside (no telnet console, no
remote-control endpoint), and it may only speak HTTP(S) directly (no file/data/s3/ftp handlers, no
proxy picked up from the environment). Every download has a size cap.
"""

from __future__ import annotations

BOT_NAME = "takedown"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

# Nothing kept, nothing exposed.
HTTPCACHE_ENABLED = False
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False
FEEDS: dict[str, dict[str, object]] = {}

# HTTP and HTTPS only, straight to the host.
DOWNLOAD_HANDLERS = {"file": None, "data": None, "s3": None, "ftp": None}
HTTPPROXY_ENABLED = False

# A takedown check is not a crawl: robots.txt does not apply, but the crawler says who it is.
ROBOTSTXT_OBEY = False
USER_AGENT = "takedown-revisit/0.1 (hotline takedown verification)"

# A cap on every download: a check needs a fingerprint of a picture or a page, not a gigabyte.
DOWNLOAD_MAXSIZE = 32 * 1024 * 1024
DOWNLOAD_WARNSIZE = 16 * 1024 * 1024
DOWNLOAD_TIMEOUT = 30

# Politeness: few requests at a time per host.
CONCURRENT_REQUESTS_PER_DOMAIN = 2
