"""Item pipeline: every revisit becomes a check in the store, with the case moved accordingly."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from takedown.revisits import DEFAULT_REMOVED_PAGE_PATTERNS, Fetch, record_fetch
from takedown.store import Store

if TYPE_CHECKING:
    from scrapy.crawler import Crawler


class RecordCheckPipeline:
    """Commits each check on its own: a crash loses at most the revisit in flight, which stays due."""

    def __init__(self, database_url: str, removed_patterns: list[str], stats: Any = None) -> None:
        self.database_url = database_url
        self.removed_patterns = removed_patterns or list(DEFAULT_REMOVED_PAGE_PATTERNS)
        self.stats = stats
        self.store: Store | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> RecordCheckPipeline:
        settings = crawler.settings
        return cls(
            settings["TAKEDOWN_DATABASE_URL"],
            settings.getlist("TAKEDOWN_REMOVED_PAGE_PATTERNS"),
            crawler.stats,
        )

    def open_spider(self, spider: Any = None) -> None:
        self.store = Store.open(self.database_url)

    def close_spider(self, spider: Any = None) -> None:
        if self.store is not None:
            self.store.dispose()

    def process_item(self, item: Any, spider: Any = None) -> Any:
        if not isinstance(item, Fetch):
            return item
        assert self.store is not None
        with self.store.session() as session:
            recorded = record_fetch(session, item, removed_patterns=self.removed_patterns)
        if self.stats is not None:
            outcome = recorded[1].outcome.value if recorded else "skipped_closed"
            self.stats.inc_value(f"takedown/outcome/{outcome}")
        return item
