"""Undoing ``Content-Encoding`` while a body streams, a bounded piece at a time.

The analyst's digest was taken over the file, not over the bytes a server happened to compress it
into: the same image served with ``Content-Encoding: gzip`` must fingerprint the same as served
plain. So bodies are decoded (gzip, deflate, br, zstd; several codings in the order they were
applied) before they are hashed, and the size cap counts decoded bytes.

Every decoder is asked for about :data:`CHUNK` bytes at a time (brotli may overshoot a little), so
a small input that expands enormously never becomes one large buffer; :class:`Decoder` also
refuses a stream that expands more than :data:`MAX_RATIO` times past its first MiB (a bomb).
Decoded bytes are only handed to the caller to hash, never kept.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any, Protocol

try:
    import brotli
except ImportError:  # pragma: no cover - Scrapy depends on one of the two
    import brotlicffi as brotli

try:
    from compression import zstd
except ImportError:  # before Python 3.14
    from backports import zstd

CHUNK = 64 * 1024
MAX_RATIO = 100
"""Decoded bytes per encoded byte beyond which a stream is a bomb: real files compress a few times,
text perhaps twenty; a bomb a thousand times."""
RATIO_GRACE = 1024 * 1024
"""Decoded bytes before the ratio is judged: small, very compressible pages are not bombs."""
IDENTITY = ("", "identity", "none")


class BodyDecodingError(ValueError):
    """The body is not in the coding the server declared (corrupt, or an unknown coding)."""


class DecompressionBomb(BodyDecodingError):
    """The body expands far beyond what any real file does: refused, not decoded further."""


class _Stage(Protocol):
    def feed(self, data: bytes) -> Iterator[bytes]: ...


class _Zlib:
    """gzip (``wbits`` 31) or deflate: zlib-wrapped as the RFC says, raw as some servers send it."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._inflater: Any = zlib.decompressobj(31 if coding in ("gzip", "x-gzip") else 15)
        self._started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        if not self._started and self.coding == "deflate":
            self._started = True
            try:
                zlib.decompressobj(15).decompress(data[:64], 0)
            except zlib.error:
                self._inflater = zlib.decompressobj(-15)
        pending = data
        try:
            while pending and not self._inflater.eof:
                out = self._inflater.decompress(pending, CHUNK)
                pending = self._inflater.unconsumed_tail
                if out:
                    yield out
        except zlib.error as exc:
            raise BodyDecodingError(f"the body is not valid {self.coding} ({exc})") from None


class _Brotli:
    def __init__(self) -> None:
        self._decoder = brotli.Decompressor()

    def feed(self, data: bytes) -> Iterator[bytes]:
        try:
            if self._decoder.is_finished():
                return
            out = self._decoder.process(data, output_buffer_limit=CHUNK)
            while out:  # drain what this input gives, a bounded piece at a time
                yield out
                if self._decoder.is_finished():
                    break
                out = self._decoder.process(b"", output_buffer_limit=CHUNK)
        except brotli.error as exc:
            raise BodyDecodingError(f"the body is not valid br ({exc})") from None


class _Zstd:
    def __init__(self) -> None:
        self._decoder = zstd.ZstdDecompressor()

    def feed(self, data: bytes) -> Iterator[bytes]:
        pending = data
        try:
            while not self._decoder.eof:
                out = self._decoder.decompress(pending, CHUNK)
                pending = b""
                if out:
                    yield out
                if self._decoder.needs_input:
                    return
        except (zstd.ZstdError, EOFError) as exc:
            raise BodyDecodingError(f"the body is not valid zstd ({exc})") from None


def _stage(coding: str) -> _Stage:
    if coding in ("gzip", "x-gzip", "deflate"):
        return _Zlib(coding)
    if coding == "br":
        return _Brotli()
    if coding == "zstd":
        return _Zstd()
    raise BodyDecodingError(f"the body is in a coding we cannot undo: {coding!r}")


def codings(header: str | None) -> list[str]:
    """The codings a ``Content-Encoding`` value lists, in the order they were applied."""
    return [c.strip().lower() for c in (header or "").split(",") if c.strip().lower() not in IDENTITY]


class Decoder:
    """Feed it the body as it arrives; it yields the decoded body in pieces of about :data:`CHUNK`."""

    def __init__(self, content_encoding: str | None) -> None:
        self.codings = codings(content_encoding)
        self._stages = [_stage(coding) for coding in reversed(self.codings)]
        self.encoded = 0
        self.decoded = 0

    def feed(self, data: bytes) -> Iterator[bytes]:
        self.encoded += len(data)
        for piece in self._through(data, 0):
            self.decoded += len(piece)
            if self.decoded > RATIO_GRACE and self.decoded > MAX_RATIO * self.encoded:
                raise DecompressionBomb(
                    f"{self.encoded} bytes of {', '.join(self.codings)} expanded to more than "
                    f"{self.decoded} (over {MAX_RATIO} times): a decompression bomb, not decoded further"
                )
            yield piece

    def _through(self, data: bytes, index: int) -> Iterator[bytes]:
        if index == len(self._stages):
            yield data
            return
        for piece in self._stages[index].feed(data):
            yield from self._through(piece, index + 1)
