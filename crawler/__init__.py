"""The Scrapy project that revisits cases: spider, SSRF guard, streaming fingerprint."""
