"""Content-Encoding undone while streaming: any coding, any chunking, the same bytes; bombs refused."""

from __future__ import annotations

import gzip
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.decoding import CHUNK, BodyDecodingError, Decoder, DecompressionBomb, codings
from sandbox.web import bomb_bytes, encode


def decoded(header: str | None, body: bytes, step: int) -> bytes:
    decoder = Decoder(header)
    pieces = [
        piece for start in range(0, len(body), step) for piece in decoder.feed(body[start : start + step])
    ]
    assert all(len(piece) <= 2 * CHUNK for piece in pieces)  # brotli may overshoot its limit a little
    return b"".join(pieces)


def raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-15)
    return packer.compress(data) + packer.flush()


@settings(max_examples=60, deadline=None)
@given(
    st.binary(max_size=200_000) | st.builds(lambda n: b"ab" * n, st.integers(0, 150_000)),
    st.sampled_from(["gzip", "deflate", "br", "zstd", "gzip, br", "identity"]),
    st.integers(min_value=1, max_value=100_000),
)
def test_any_body_in_any_coding_and_any_chunking_decodes_to_itself(
    body: bytes, header: str, step: int
) -> None:
    encoded = body
    for coding in codings(header):
        encoded = encode(encoded, coding)
    assert decoded(header, encoded, step) == body


def test_raw_deflate_as_some_servers_send_it_is_understood() -> None:
    assert decoded("deflate", raw_deflate(b"hello " * 1000), 7) == b"hello " * 1000


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_a_bomb_is_refused_after_a_bounded_amount_of_work(coding: str) -> None:
    bomb = bomb_bytes(coding, 64 * 1024 * 1024)
    decoder = Decoder(coding)
    with pytest.raises(DecompressionBomb, match="decompression bomb"):
        for start in range(0, len(bomb), 16 * 1024):
            for _ in decoder.feed(bomb[start : start + 16 * 1024]):
                pass
    assert decoder.decoded < 8 * 1024 * 1024  # stopped early, not after expanding it all


def test_a_very_compressible_small_page_is_not_a_bomb() -> None:
    page = b"<tr><td></td></tr>" * 50_000  # 900 KB of repetitive HTML: ratio far above 100
    assert decoded("gzip", gzip.compress(page), 4096) == page


@pytest.mark.parametrize(("header", "body"), [("gzip", b"not gzip"), ("br", b"\xff" * 40), ("compress", b"")])
def test_a_body_not_in_its_declared_coding_says_so(header: str, body: bytes) -> None:
    with pytest.raises(BodyDecodingError):
        decoded(header, body, 10)
