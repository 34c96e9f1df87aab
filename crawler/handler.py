"""Scrapy's HTTP download handler, keeping no more of a body than a revisit could ever read.

Scrapy's handler buffers every response body whole before handing the response on, so with our
32 MiB cap each download in flight held up to 32 MiB of the fetched file in memory (measured: a
crawl of four large files at once peaked at 240 MiB, and 32 at once could reach a gigabyte). A
revisit reads nothing of a body: it is fingerprinted while it streams (:mod:`crawler.fingerprint`),
and only its first bytes could matter to a middleware (a ``<meta http-equiv=refresh>`` redirect is
looked for in the first 4 KiB). So this handler keeps the first :data:`KEPT_BYTES` of each body
and drops the rest as it arrives: the crawler holds less of what it must never keep, and its memory
no longer grows with the cap.

It replaces the body buffer of Scrapy's private ``_ResponseReader``: if a Scrapy release changes
that class, the handler says so once in the log and downloads exactly as Scrapy does (correct,
only heavier), rather than failing.
"""

from __future__ import annotations

import io
import logging
from typing import Any

from scrapy.core.downloader.handlers import http11

log = logging.getLogger(__name__)

KEPT_BYTES = 64 * 1024


class HeadOfBody(io.BytesIO):
    """A body buffer that keeps the first ``limit`` bytes written to it and counts, but drops, the rest."""

    def __init__(self, limit: int = KEPT_BYTES) -> None:
        super().__init__()
        self.limit = limit
        self.dropped = 0

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        room = max(0, self.limit - self.tell())
        if room:
            super().write(chunk[:room])
        self.dropped += max(0, len(chunk) - room)
        return len(chunk)


def _reader_keeping_the_head() -> type | None:
    reader = getattr(http11, "_ResponseReader", None)
    if reader is None or not isinstance(reader, type):
        return None

    class HeadKeepingReader(reader):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            if isinstance(getattr(self, "_bodybuf", None), io.BytesIO):
                self._bodybuf = HeadOfBody()

    return HeadKeepingReader


class HeadOnlyDownloadHandler(http11.HTTP11DownloadHandler):
    """``http``/``https`` as Scrapy downloads them, but keeping only the head of each body."""

    _installed = False

    def __init__(self, crawler: Any) -> None:
        super().__init__(crawler)
        if not HeadOnlyDownloadHandler._installed:
            reader = _reader_keeping_the_head()
            if reader is None:
                log.warning("this Scrapy has no _ResponseReader: bodies are buffered whole (up to the cap)")
            else:
                setattr(http11, "_ResponseReader", reader)  # noqa: B010 - a private name, replaced knowingly
            HeadOnlyDownloadHandler._installed = True
