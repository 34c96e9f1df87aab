"""The streaming fingerprint: digests equal to hashing the whole body, and a hard stop at the cap."""

from __future__ import annotations

import hashlib

import pytest
from scrapy import Request
from scrapy.exceptions import StopDownload

from crawler.fingerprint import META_KEY, StreamingFingerprint


def stream(extension: StreamingFingerprint, request: Request, chunks: list[bytes]) -> None:
    extension.headers_received({}, 0, request, None)
    for chunk in chunks:
        extension.bytes_received(chunk, request, None)


def test_chunked_digests_equal_whole_body_digests() -> None:
    body = bytes(range(256)) * 1000
    request = Request("http://h.test/x")
    stream(StreamingFingerprint(10**6), request, [body[i : i + 4096] for i in range(0, len(body), 4096)])
    fingerprint = request.meta[META_KEY]
    assert fingerprint.sha256.hexdigest() == hashlib.sha256(body).hexdigest()
    assert fingerprint.md5.hexdigest() == hashlib.md5(body).hexdigest()
    assert fingerprint.sha1.hexdigest() == hashlib.sha1(body).hexdigest()
    assert (fingerprint.size, fingerprint.truncated) == (len(body), False)


def test_a_body_exactly_at_the_cap_is_complete() -> None:
    request = Request("http://h.test/x")
    stream(StreamingFingerprint(100), request, [b"a" * 60, b"b" * 40])
    assert (request.meta[META_KEY].size, request.meta[META_KEY].truncated) == (100, False)


def test_past_the_cap_the_download_stops_and_only_the_cap_is_hashed() -> None:
    request = Request("http://h.test/x")
    extension = StreamingFingerprint(100)
    with pytest.raises(StopDownload) as stopped:
        stream(extension, request, [b"a" * 60, b"b" * 60])
    assert stopped.value.fail is False
    fingerprint = request.meta[META_KEY]
    assert (fingerprint.size, fingerprint.truncated) == (100, True)
    assert fingerprint.sha256.hexdigest() == hashlib.sha256(b"a" * 60 + b"b" * 40).hexdigest()


def test_each_response_starts_a_fresh_fingerprint() -> None:
    """A redirect shares meta with the next request; its body must not leak into the next digest."""
    request = Request("http://h.test/x")
    extension = StreamingFingerprint(1000)
    stream(extension, request, [b"redirect body"])
    stream(extension, request, [b"final"])
    assert request.meta[META_KEY].sha256.hexdigest() == hashlib.sha256(b"final").hexdigest()
