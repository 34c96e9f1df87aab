"""The Scrapy project that revisits cases (issue #3): spider, SSRF guard, streaming fingerprint."""
