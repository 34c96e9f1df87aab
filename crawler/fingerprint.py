"""Fingerprint bodies while they stream in, and stop downloads at a size cap.

Connected to Scrapy's ``headers_received`` and ``bytes_received`` signals: each chunk is decoded
(``Content-Encoding``: see :mod:`crawler.decoding`) and the decoded bytes update a SHA-256, an
MD5 and a SHA-1 as they arrive. Past ``TAKEDOWN_FINGERPRINT_MAX_BYTES`` decoded bytes the download is stopped
(``StopDownload(fail=False)``) and the fingerprint marked truncated: it is then a *prefix*
fingerprint, kept with the declared length and the validators so the next check can compare. A
declared ``Content-Length`` over the cap no longer makes Scrapy refuse the download before a byte
is read: the file is hashed up to the cap like any other. A body that is not in its declared coding,
or that expands like a decompression bomb, is stopped and says why.

The body is never written anywhere: the digests travel in ``request.meta``, and the spider drops
the response after reading its status.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from scrapy import signals
from scrapy.exceptions import StopDownload

from crawler.decoding import BodyDecodingError, Decoder, DecompressionBomb
from crawler.perceptual import sniff_image

if TYPE_CHECKING:
    from scrapy import Request
    from scrapy.crawler import Crawler

META_KEY = "takedown_fingerprint"


@dataclass
class BodyFingerprint:
    """Running digests of one response body (decoded), and what its headers said about it."""

    sha256: Any = field(default_factory=hashlib.sha256)
    md5: Any = field(default_factory=lambda: hashlib.md5(usedforsecurity=False))
    sha1: Any = field(default_factory=lambda: hashlib.sha1(usedforsecurity=False))
    """What hash lists carry beside MD5 and SHA-256 (the IWF's has all three)."""
    size: int = 0
    truncated: bool = False
    decoder: Decoder = field(default_factory=lambda: Decoder(None))
    """Undoes the body's Content-Encoding; none declared (or no headers seen): bytes as they come."""
    declared_length: int | None = None
    content_type: str | None = None
    content_encoding: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    error_class: str | None = None
    """``DecompressionBomb`` or ``UndecodableBody`` when the body was stopped for what it is."""
    error_detail: str | None = None
    image_limit: int = 0
    """Up to how many bytes of an image body are held for its PDQ hash (0: perceptual hashing off)."""
    image: bytearray | None = None
    """An image body, in memory only, until its PDQ hash is computed; then dropped."""
    image_error: str | None = None

    def update(self, data: bytes) -> None:
        self.sha256.update(data)
        self.md5.update(data)
        self.sha1.update(data)
        if self.image_limit:
            self._hold_image(data)
        self.size += len(data)

    def _hold_image(self, data: bytes) -> None:
        if self.size == 0:
            self.image = bytearray(data) if sniff_image(data[:16]) else None
            return
        if self.image is None:
            return
        if len(self.image) + len(data) > self.image_limit:
            self.image = None  # too large to decode safely: no perceptual hash, the digests stand
            self.image_error = f"an image larger than {self.image_limit:,} bytes is not decoded"
            return
        self.image.extend(data)

    def take_image(self) -> bytes | None:
        """The whole image body, once (the fingerprint lets go of it)."""
        image, self.image = self.image, None
        return bytes(image) if image is not None and not self.truncated else None

    @classmethod
    def for_headers(cls, headers: Any) -> BodyFingerprint:
        def header(name: bytes, limit: int) -> str | None:
            value = headers.get(name) if headers is not None else None
            text = value.decode("latin-1").strip() if isinstance(value, bytes) else None
            return text[:limit] if text else None

        length = header(b"Content-Length", 20)
        fingerprint = cls(
            declared_length=int(length) if length and length.isdigit() else None,
            content_type=header(b"Content-Type", 200),
            content_encoding=header(b"Content-Encoding", 100),
            etag=header(b"ETag", 300),
            last_modified=header(b"Last-Modified", 100),
        )
        try:
            fingerprint.decoder = Decoder(fingerprint.content_encoding)
        except BodyDecodingError as exc:
            fingerprint.fail("UndecodableBody", str(exc))
        return fingerprint

    def fail(self, error_class: str, detail: str) -> None:
        self.error_class, self.error_detail = error_class, detail[:500]


class StreamingFingerprint:
    """Scrapy extension: hash every body as it streams; stop it at ``max_bytes``."""

    def __init__(self, max_bytes: int, download_maxsize: int = 0, image_max_bytes: int = 0) -> None:
        if max_bytes <= 0:
            raise ValueError("TAKEDOWN_FINGERPRINT_MAX_BYTES must be positive")
        self.max_bytes = max_bytes
        self.image_max_bytes = image_max_bytes
        """Image bodies up to this size are held in memory for their PDQ hash (0: none are)."""
        self.download_maxsize = download_maxsize
        """Scrapy's own cap (``DOWNLOAD_MAXSIZE``), a backstop just above ``max_bytes``."""

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> StreamingFingerprint:
        extension = cls(
            crawler.settings.getint("TAKEDOWN_FINGERPRINT_MAX_BYTES"),
            crawler.settings.getint("DOWNLOAD_MAXSIZE"),
            crawler.settings.getint("TAKEDOWN_PERCEPTUAL_MAX_BYTES"),
        )
        crawler.signals.connect(extension.headers_received, signal=signals.headers_received)
        crawler.signals.connect(extension.bytes_received, signal=signals.bytes_received)
        return extension

    def headers_received(self, headers: Any, body_length: int, request: Request, spider: Any) -> None:
        # A fresh fingerprint per response: a redirect's own body must not leak into the next one.
        fingerprint = request.meta[META_KEY] = BodyFingerprint.for_headers(headers)
        fingerprint.image_limit = self.image_max_bytes
        if fingerprint.error_class is not None:
            raise StopDownload(fail=False)
        declared = fingerprint.declared_length
        limit = int(request.meta.get("download_maxsize", self.download_maxsize))
        if declared is not None and limit and declared > limit:
            # Scrapy would cancel a download declared larger than DOWNLOAD_MAXSIZE before reading a
            # byte; this one is hashed up to our own cap and stopped there like any other.
            request.meta["download_maxsize"] = declared

    def bytes_received(self, data: bytes, request: Request, spider: Any) -> None:
        fingerprint: BodyFingerprint | None = request.meta.get(META_KEY)
        if fingerprint is None:
            fingerprint = request.meta[META_KEY] = BodyFingerprint()
        try:
            for piece in fingerprint.decoder.feed(data):
                room = self.max_bytes - fingerprint.size
                fingerprint.update(piece[:room] if room < len(piece) else piece)
                if len(piece) > room:
                    fingerprint.truncated = True
                    raise StopDownload(fail=False)
        except DecompressionBomb as exc:
            fingerprint.fail("DecompressionBomb", str(exc))
            raise StopDownload(fail=False) from None
        except BodyDecodingError as exc:
            fingerprint.fail("UndecodableBody", str(exc))
            raise StopDownload(fail=False) from None
