"""The baseline for bench_revisit.py: plain Scrapy fetching the same URLs and doing nothing else.

Same concurrency as the revisit crawl; IP-literal URLs with a Host header (the system resolver
cannot see the sandbox's names), so it does no DNS at all. Prints one JSON line.
"""

from __future__ import annotations

import json

import scrapy
from crawling import reference_arguments
from scrapy.crawler import CrawlerProcess


class BareSpider(scrapy.Spider):
    name = "bare"

    def __init__(self, targets: list[tuple[str, str]], **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.targets = targets

    async def start(self):  # type: ignore[no-untyped-def]
        for url, host in self.targets:
            yield scrapy.Request(url, headers={"Host": host}, callback=self.parse, dont_filter=True)

    def parse(self, response):  # type: ignore[no-untyped-def]
        return None


def main() -> None:
    targets, concurrency, per_host = reference_arguments()
    process = CrawlerProcess(
        {
            "CONCURRENT_REQUESTS": concurrency,
            "CONCURRENT_REQUESTS_PER_DOMAIN": per_host,
            "TELNETCONSOLE_ENABLED": False,
            "LOG_LEVEL": "WARNING",
            "ROBOTSTXT_OBEY": False,
            "COOKIES_ENABLED": False,
        }
    )
    crawler = process.create_crawler(BareSpider)
    process.crawl(crawler, targets=targets)
    process.start()
    stats = crawler.stats.get_stats()
    print(
        json.dumps(
            {
                "fetched": stats.get("response_received_count", 0),
                "elapsed_seconds": stats["elapsed_time_seconds"],
            }
        )
    )


if __name__ == "__main__":
    main()
