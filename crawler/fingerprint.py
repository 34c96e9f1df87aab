"""Fingerprint bodies while they stream in, and stop downloads at a size cap.

Connected to Scrapy's ``headers_received`` and ``bytes_received`` signals: each chunk updates a
SHA-256 and an MD5 as it arrives. Past ``TAKEDOWN_FINGERPRINT_MAX_BYTES`` the download is stopped
(``StopDownload(fail=False)``) and the fingerprint marked truncated. The body is never written
anywhere: the digests travel in ``request.meta``, and the spider drops the response after reading
its status.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import StopDownload

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler

META_KEY = "takedown_fingerprint"


@dataclass
class BodyFingerprint:
    """Running digests of one response body."""

    sha256: Any = field(default_factory=hashlib.sha256)
    md5: Any = field(default_factory=lambda: hashlib.md5(usedforsecurity=False))
    size: int = 0
    truncated: bool = False

    def update(self, data: bytes) -> None:
        self.sha256.update(data)
        self.md5.update(data)
        self.size += len(data)


class StreamingFingerprint:
    """Scrapy extension: hash every body as it streams; stop it at ``max_bytes``."""

    def __init__(self, max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError("TAKEDOWN_FINGERPRINT_MAX_BYTES must be positive")
        self.max_bytes = max_bytes

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StreamingFingerprint:
        extension = cls(crawler.settings.getint("TAKEDOWN_FINGERPRINT_MAX_BYTES"))
        crawler.signals.connect(extension.headers_received, signal=signals.headers_received)
        crawler.signals.connect(extension.bytes_received, signal=signals.bytes_received)
        return extension

    def headers_received(self, headers: Any, body_length: int, request: Request, spider: Any) -> None:
        # A fresh fingerprint per response: a redirect's own body must not leak into the next one.
        request.meta[META_KEY] = BodyFingerprint()

    def bytes_received(self, data: bytes, request: Request, spider: Any) -> None:
        fingerprint = request.meta.get(META_KEY)
        if fingerprint is None:
            fingerprint = request.meta[META_KEY] = BodyFingerprint()
        room = self.max_bytes - fingerprint.size
        fingerprint.update(data[:room] if room < len(data) else data)
        if len(data) > room:
            fingerprint.truncated = True
            raise StopDownload(fail=False)
