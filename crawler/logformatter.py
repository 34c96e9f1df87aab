"""Scrapy's log formatter, minus item contents: digests of illegal content are not log material."""

from __future__ import annotations

from typing import Any

from scrapy.logformatter import LogFormatter, LogFormatterResult


class QuietLogFormatter(LogFormatter):
    def scraped(self, item: Any, response: Any, spider: Any) -> None:  # type: ignore[override]
        return None

    def dropped(self, item: Any, exception: BaseException, response: Any, spider: Any) -> None:  # type: ignore[override]
        return None

    def item_error(
        self, item: Any, exception: BaseException, response: Any, spider: Any
    ) -> LogFormatterResult:
        return {
            "level": 40,
            "msg": "Error processing the check of case %(case)s",
            "args": {"case": getattr(item, "case_id", "?")},
        }
