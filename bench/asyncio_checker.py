"""The other reference for bench_revisit.py: a plain asyncio checker, the least a revisit can do.

It fetches the same URLs at the same concurrency (in all, and per server) and hashes every body with
SHA-256 while it streams, stopping at the crawl's size cap, as the revisit crawl does; nothing
else: no store, no DNS (IP-literal URLs with a Host header, as bare_spider.py), no judging. It uses
aiohttp (installed with Scrapy), which is what the issue measured it with. Prints one JSON line.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time

import aiohttp
from crawling import reference_arguments

CAP = 32 << 20
"""Bytes hashed at most from one body (the crawl's TAKEDOWN_MAX_BYTES default)."""


async def check(session: aiohttp.ClientSession, url: str, host: str) -> bool:
    async with session.get(url, headers={"Host": host}, allow_redirects=False) as response:
        digest = hashlib.sha256()
        seen = 0
        async for chunk in response.content.iter_chunked(1 << 16):
            digest.update(chunk[: CAP - seen])
            seen += len(chunk)
            if seen >= CAP:
                break
        digest.hexdigest()
        return response.status == 200


async def check_all(targets: list[tuple[str, str]], concurrency: int, per_host: int) -> dict[str, float]:
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=per_host)
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar()) as session:
        started = time.perf_counter()
        results = await asyncio.gather(*(check(session, url, host) for url, host in targets))
        elapsed = time.perf_counter() - started
    return {"fetched": sum(results), "elapsed_seconds": elapsed}


def main() -> None:
    targets, concurrency, per_host = reference_arguments()
    print(json.dumps(asyncio.run(check_all(targets, concurrency, per_host))))


if __name__ == "__main__":
    main()
