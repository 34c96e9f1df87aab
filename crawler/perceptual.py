"""PDQ hashes of images, computed in a worker process that a hostile file cannot take down with it.

A revisit that fetched an image (told by its first bytes, not its Content-Type) can match it by
*perceptual* hash, which survives re-encoding, resizing and small crops that change every digest.
Decoding an image from the open web is the dangerous part: decompression bombs, malformed files
that crash a decoder, files built to take minutes. So the decoding happens in a separate process,
with limits on the pixels it will decode (Pillow's bomb guard, made an error at our own limit), on
its memory (``RLIMIT_AS``) and on its CPU time per image (``RLIMIT_CPU``, raised before each one),
and with a wall-clock timeout. A bomb, a crash or a hang fails that one image's hash, with the
reason; the worker is replaced and the next image is hashed as usual.

The bytes go to the worker through a pipe and are dropped there once hashed: only the hash and its
quality come back. Nothing is written anywhere.
"""

from __future__ import annotations

import io
import multiprocessing
import resource
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from takedown.pdq_index import MIN_PDQ_QUALITY

IMAGE_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
)
WORKING_SIZE = 512
"""Images are scaled down to at most this many pixels a side before hashing: PDQ itself works on
a 64 x 64 reduction, and scaling first keeps a large photograph cheap."""


def sniff_image(head: bytes) -> str | None:
    """The image format the first bytes of a body announce (``png``, ``jpeg``...), or ``None``."""
    for signature, name in IMAGE_SIGNATURES:
        if head.startswith(signature):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    return None


@dataclass(frozen=True, slots=True)
class PerceptualHash:
    """A PDQ hash (64 hexadecimal digits) and its quality (0-100), or why there is none."""

    pdq: str | None = None
    quality: int | None = None
    error: str | None = None

    @property
    def matchable(self) -> bool:
        return self.pdq is not None and (self.quality or 0) >= MIN_PDQ_QUALITY


@dataclass(frozen=True, slots=True)
class Limits:
    max_pixels: int = 50_000_000
    """Pixels an image may declare; more is refused before decoding (a bomb)."""
    memory_bytes: int = 1 << 30
    """Address space of the worker process."""
    cpu_seconds: int = 10
    """CPU time one image may take in the worker."""
    timeout_seconds: float = 30.0
    """Wall-clock time one image may take, queueing included."""


class PerceptualHasher:
    """A worker process (replaced whenever an image kills it) that hashes images one at a time.
    Thread-safe: the crawl's threads may ask side by side; they are answered in turn."""

    def __init__(
        self, limits: Limits | None = None, *, task: Callable[[bytes, Limits], Any] | None = None
    ) -> None:
        self.limits = limits or Limits()
        self._task = task or hash_in_worker
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def hash(self, data: bytes) -> PerceptualHash:
        """The image's PDQ hash, or why it has none; never raises for what the image does."""
        with self._lock:
            pool = self._pool = self._pool or self._start()
            future: Future[Any] = pool.submit(self._task, data, self.limits)
            try:
                pdq, quality = future.result(timeout=self.limits.timeout_seconds)
            except FutureTimeout:
                self._replace()
                return PerceptualHash(error=f"decoding took longer than {self.limits.timeout_seconds:g} s")
            except BrokenProcessPool:
                self._replace()
                return PerceptualHash(error="the decoder died (out of memory or CPU time, or crashed)")
            except ImageRefused as refused:
                return PerceptualHash(error=str(refused))
            except Exception as exc:  # what Pillow raises for a file it cannot read
                return PerceptualHash(error=f"cannot decode: {type(exc).__name__}: {str(exc)[:200]}")
            return PerceptualHash(pdq=pdq, quality=quality)

    def close(self) -> None:
        with self._lock:
            self._replace()

    def _start(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("spawn")  # a clean interpreter: no crawler state, no reactor
        return ProcessPoolExecutor(max_workers=1, mp_context=context, initializer=_limit_memory,
                                   initargs=(self.limits.memory_bytes,))  # fmt: skip

    def _replace(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        for process in list(getattr(pool, "_processes", {}).values()):  # a hung worker is killed
            process.kill()
        pool.shutdown(wait=False, cancel_futures=True)


class ImageRefused(Exception):
    """The worker would not decode this image (too many pixels); the message says why."""


def hash_in_worker(data: bytes, limits: Limits) -> tuple[str, int]:
    """In the worker: decode ``data`` within ``limits`` and return its PDQ hash and quality."""
    import numpy as np
    import pdqhash
    from PIL import Image

    resource.setrlimit(resource.RLIMIT_CPU, _cpu_budget(limits.cpu_seconds))
    Image.MAX_IMAGE_PIXELS = limits.max_pixels
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > limits.max_pixels:
                raise ImageRefused(
                    f"the image declares {width} x {height} pixels, more than {limits.max_pixels:,}"
                )
            image.draft("RGB", (WORKING_SIZE, WORKING_SIZE))  # JPEG: decode at a reduced size
            rgb = image.convert("RGB")
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageRefused(f"a decompression bomb: {str(exc)[:200]}") from None
    rgb.thumbnail((WORKING_SIZE, WORKING_SIZE))
    bits, quality = pdqhash.compute(np.asarray(rgb))
    packed = np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes()
    return packed.hex(), int(quality)


def _cpu_budget(seconds: int) -> tuple[int, int]:
    """The worker's CPU limit for its next image: ``seconds`` more than it has used. Only the soft
    limit moves; past it, SIGXCPU ends the worker. The hard limit is left as it is: once lowered,
    no unprivileged process may raise it again, and the next image's budget was refused ("not
    allowed to raise maximum limit") after any image that took more than a second."""
    used = resource.getrusage(resource.RUSAGE_SELF)
    budget = int(used.ru_utime + used.ru_stime) + seconds
    _soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    return (budget if hard == resource.RLIM_INFINITY else min(budget, hard)), hard


def _limit_memory(memory_bytes: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
