"""PDQ hashes of images in a worker process: altered copies stay near, other images far, and a
bomb, a broken file, a crash or a hang fails only that image, with the reason.

The images are drawn here (shapes, noise, text): never real imagery."""

from __future__ import annotations

import io
import random
import struct
import time
import zlib

import pytest
from PIL import Image, ImageDraw

from crawler.perceptual import Limits, PerceptualHasher, sniff_image
from takedown.pdq_index import PdqIndex, pdq_bytes


def drawn(seed: int, size: tuple[int, int] = (400, 300)) -> Image.Image:
    rng = random.Random(seed)
    image = Image.new("RGB", size, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    draw = ImageDraw.Draw(image)
    for _ in range(25):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        box = (x, y, x + rng.randrange(20, 160), y + rng.randrange(20, 120))
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    draw.text((10, 10), f"sandbox image {seed}", fill=(255, 255, 255))
    return image


def encoded(image: Image.Image, kind: str = "PNG", **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, kind, **options)
    return out.getvalue()


def distance(a: str, b: str) -> int:
    return bin(int(a, 16) ^ int(b, 16)).count("1")


@pytest.fixture(scope="module")
def hasher() -> PerceptualHasher:
    worker = PerceptualHasher(Limits(timeout_seconds=60))
    yield worker
    worker.close()


def test_altered_copies_stay_near_and_other_images_are_far(hasher: PerceptualHasher) -> None:
    original = drawn(1)
    first = hasher.hash(encoded(original))
    assert first.error is None and first.pdq is not None and len(first.pdq) == 64 and first.matchable
    copies = [
        encoded(original, "JPEG", quality=40),  # recompressed
        encoded(original.resize((300, 225)), "JPEG", quality=80),  # resized and re-encoded
        encoded(original.crop((4, 3, 396, 297))),  # cropped by 1% a side (4% measured 36-42 bits)
    ]
    for copy in copies:
        again = hasher.hash(copy)
        assert again.pdq is not None and distance(first.pdq, again.pdq) <= 31, again
    other = hasher.hash(encoded(drawn(2)))
    assert other.pdq is not None and distance(first.pdq, other.pdq) > 64
    index = PdqIndex([pdq_bytes(first.pdq), pdq_bytes(other.pdq)])
    found = hasher.hash(copies[1])
    assert found.pdq is not None and index.near(pdq_bytes(found.pdq))[0].position == 0


def test_a_bomb_and_a_broken_file_fail_alone(hasher: PerceptualHasher) -> None:
    # A PNG that declares 30,000 x 30,000 pixels in a few hundred bytes of compressed zeros.
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 30_000, 30_000, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * 2_000_000)
    bomb = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    refused = hasher.hash(bomb)
    assert refused.pdq is None and ("pixels" in (refused.error or "") or "bomb" in (refused.error or ""))
    broken = hasher.hash(encoded(drawn(3))[:300])
    assert broken.pdq is None and "cannot decode" in (broken.error or "")
    assert hasher.hash(encoded(drawn(4))).pdq is not None  # and the next one is hashed as usual


def test_a_decoder_that_hangs_or_dies_is_replaced(hasher: PerceptualHasher) -> None:
    hanging = PerceptualHasher(Limits(timeout_seconds=2), task=_hang)
    started = time.monotonic()
    assert "longer than 2 s" in (hanging.hash(b"x").error or "")
    assert time.monotonic() - started < 20
    hanging.close()
    dying = PerceptualHasher(Limits(timeout_seconds=30), task=_die)
    assert "the decoder died" in (dying.hash(b"x").error or "")
    assert "the decoder died" in (dying.hash(b"x").error or "")  # a new worker each time
    dying.close()
    memory = PerceptualHasher(Limits(memory_bytes=400 << 20, max_pixels=10**9, timeout_seconds=60))
    huge = memory.hash(encoded(Image.new("RGB", (12_000, 12_000))))  # 432 MB decoded, in 400 MB
    assert huge.pdq is None and huge.error
    assert memory.hash(encoded(drawn(5))).pdq is not None
    memory.close()


def test_images_are_told_by_their_first_bytes() -> None:
    assert sniff_image(encoded(drawn(6))) == "png"
    assert sniff_image(encoded(drawn(6), "JPEG")) == "jpeg"
    assert sniff_image(encoded(drawn(6), "GIF")) == "gif"
    assert sniff_image(encoded(drawn(6), "WEBP")) == "webp"
    assert sniff_image(b"<html>") is None


def test_an_image_that_took_seconds_of_cpu_does_not_fail_the_next_one() -> None:
    """The worker's CPU budget for an image is its use so far plus the limit; a long image raised
    that above what the previous budget had allowed, and every later image failed."""
    worker = PerceptualHasher(Limits(timeout_seconds=60), task=_busy_then_hash)
    try:
        first, second = worker.hash(encoded(drawn(3))), worker.hash(encoded(drawn(4)))
        assert first.error is None and second.error is None, (first, second)
        assert first.pdq and second.pdq and first.pdq != second.pdq
    finally:
        worker.close()


def _busy_then_hash(data: bytes, limits: Limits) -> tuple[str, int]:
    """An image whose decoding takes 2.5 s of CPU, as a large one does on a slow machine."""
    from crawler.perceptual import hash_in_worker

    started = time.process_time()
    while time.process_time() - started < 2.5:
        pass
    return hash_in_worker(data, limits)


def _hang(data: bytes, limits: Limits) -> tuple[str, int]:
    time.sleep(120)
    raise AssertionError("unreachable")


def _die(data: bytes, limits: Limits) -> tuple[str, int]:
    import os

    os._exit(9)
