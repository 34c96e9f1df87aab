"""Politeness across a fleet of crawlers: at most ``TAKEDOWN_CONCURRENCY_PER_HOST`` requests at once
to one server, whichever crawler machines send them.

Scrapy's own limit is per process: three crawlers would make three times as many requests to one
server at once. With a shared frontier, each request first takes one of the server's tokens in
Redis (a sorted set per server address: token -> when it lapses) and gives it back when its
download ends. A crawler that dies holding tokens cannot block a server for long: each token lapses
after the download timeout (and a margin), and whoever asks next clears the lapsed ones.

A downloader middleware placed next to the downloader, so its token is held exactly while the
request is on the wire (a redirect is a new request, with a new token).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from scrapy.exceptions import NotConfigured

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler
    from scrapy.http import Response

log = logging.getLogger(__name__)

META_KEY = "takedown_fleet_token"
WAIT_SECONDS = 0.05
"""Between two tries for a token of a busy server."""

_TAKE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], t + tonumber(ARGV[3]), ARGV[2])
  redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3])) + 60)
  return 1
end
return 0
"""


class FleetPoliteness:
    def __init__(self, url: str, limit: int, lapse_seconds: float, prefix: str = "takedown:fleet") -> None:
        import redis

        self.client: Any = redis.Redis.from_url(url, socket_connect_timeout=10, socket_timeout=30)
        self.limit = limit
        self.lapse_seconds = lapse_seconds
        self.prefix = prefix
        self._take = self.client.register_script(_TAKE)
        self._threads = ThreadPoolExecutor(max_workers=8, thread_name_prefix="fleet-tokens")

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> FleetPoliteness:
        settings = crawler.settings
        url = settings.get("TAKEDOWN_FRONTIER")
        if not url:  # one crawler alone: Scrapy's per-server limit is enough (no message: Scrapy
            raise NotConfigured  # would log one as a warning on every crawl)
        limit = settings.getint("CONCURRENT_REQUESTS_PER_DOMAIN", 2)
        lapse = settings.getfloat("DOWNLOAD_TIMEOUT", 30.0) + 30.0
        return cls(url, max(1, limit), lapse)

    def _key(self, request: Request) -> str:
        server = request.meta.get("download_slot") or request.url.split("/", 3)[2].rsplit("@", 1)[-1]
        return f"{self.prefix}:{server}"

    async def process_request(self, request: Request, spider: Any = None) -> None:
        token = uuid.uuid4().hex
        key = self._key(request)
        loop = asyncio.get_running_loop()
        take = functools.partial(self._take, keys=[key], args=[self.limit, token, self.lapse_seconds])
        # Redis is asked on threads of its own: requests waiting for a busy server must not take
        # the default pool's few threads from the spider's DNS lookups.
        while not await loop.run_in_executor(self._threads, take):
            await asyncio.sleep(WAIT_SECONDS)
        request.meta[META_KEY] = (key, token)

    def _give_back(self, request: Request) -> None:
        held = request.meta.pop(META_KEY, None)
        if held is not None:
            key, token = held
            try:
                self.client.zrem(key, token)
            except Exception as exc:  # the token lapses by itself; the download is not lost for it
                log.warning("could not give back a fleet politeness token (it will lapse): %s", exc)

    def process_response(self, request: Request, response: Response, spider: Any = None) -> Response:
        self._give_back(request)
        return response

    def process_exception(self, request: Request, exception: Exception, spider: Any = None) -> None:
        self._give_back(request)
