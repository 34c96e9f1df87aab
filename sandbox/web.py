"""Web hosts on loopback addresses, each misbehaving in the ways real hosts do.

Every host name is routed by the Host header, so several names can share an address (virtual
hosting) and one address can serve several names. What a path does is a *behaviour*, changeable
while the server runs: that is how a test says "host B removes /x now".

Bodies are generated from a content id, never stored: the sandbox serves stand-in bytes whose
digests tests can compute (:func:`content_digest`), so nothing illegal, and nothing real, is needed.
"""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import logging
import socket
import threading
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Serve:
    """200 with the bytes of ``content`` (``size`` of them), streamed when large, compressed with
    ``encoding`` (gzip, deflate, br, zstd) when given, with an ``etag`` when given."""

    content: str
    size: int = 20_000
    content_type: str = "image/jpeg"
    delay: float = 0.0
    """Seconds to think before answering: a slow server, for politeness tests."""
    encoding: str | None = None
    etag: str | None = None


@dataclass(frozen=True)
class Bomb:
    """200 with ``size`` zero bytes compressed with ``encoding``: a few hundred KB that would
    expand to gigabytes (a decompression bomb)."""

    encoding: str = "gzip"
    size: int = 1024 * 1024 * 1024


@dataclass(frozen=True)
class Status:
    """A bare status: 404, 410 and 451 mean removed; 500 and 503 mean try later."""

    code: int
    body: str = ""
    retry_after: int | None = None


@dataclass(frozen=True)
class Redirect:
    location: str
    code: int = 302


@dataclass(frozen=True)
class Stall:
    """Read the request, then say nothing for ``seconds`` (a timeout, seen from the client)."""

    seconds: float = 60.0


@dataclass(frozen=True)
class Drop:
    """Close the connection without answering."""


@dataclass(frozen=True)
class Endless:
    """200 and a chunked body that never ends: only a size cap stops it."""

    chunk_size: int = 64 * 1024


@dataclass(frozen=True)
class BrokenChunked:
    """200 with chunked encoding that is corrupt after the first chunk."""


@dataclass(frozen=True)
class Picture:
    """200 with an image drawn here from ``seed`` (shapes and text on a coloured ground: never real
    imagery, nothing stored). ``altered`` serves a copy resized and recompressed as JPEG, which every
    digest misses and a perceptual hash still matches; ``kind`` ``bomb`` a PNG declaring 30,000 x
    30,000 pixels in a few kilobytes, ``broken`` the first 300 bytes of the picture."""

    seed: int
    altered: bool = False
    kind: str = "picture"


Behaviour = Serve | Status | Redirect | Stall | Drop | Endless | BrokenChunked | Bomb | Picture


@functools.lru_cache(maxsize=64)
def picture_bytes(seed: int, altered: bool = False, kind: str = "picture") -> tuple[bytes, str]:
    """The body and Content-Type :class:`Picture` serves."""
    import io
    import random
    import struct

    from PIL import Image, ImageDraw

    if kind == "bomb":

        def chunk(tag: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

        header = struct.pack(">IIBBBBB", 30_000, 30_000, 8, 2, 0, 0, 0)
        body = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 500_000))
        return body + chunk(b"IEND", b""), "image/png"
    rng = random.Random(seed)
    image = Image.new("RGB", (400, 300), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    draw = ImageDraw.Draw(image)
    for _ in range(25):
        x, y = rng.randrange(400), rng.randrange(300)
        box = (x, y, x + rng.randrange(20, 160), y + rng.randrange(20, 120))
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    draw.text((10, 10), f"sandbox picture {seed}", fill=(255, 255, 255))
    out = io.BytesIO()
    if altered:
        image.resize((300, 225)).save(out, "JPEG", quality=70)
        return out.getvalue(), "image/jpeg"
    image.save(out, "PNG")
    body = out.getvalue()
    return (body[:300] if kind == "broken" else body), "image/png"


STREAM_ABOVE = 4 * 1024 * 1024
"""Bodies larger than this are generated while they are sent, never held whole."""


@functools.lru_cache(maxsize=256)
def content_bytes(content: str, size: int) -> bytes:
    """The stand-in bytes for a content id: deterministic, incompressible, any length."""
    out = bytearray()
    block = hashlib.sha256(content.encode("utf-8")).digest()
    while len(out) < size:
        out += block
        block = hashlib.sha256(block).digest()
    return bytes(out[:size])


def content_chunks(content: str, size: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """The same bytes as :func:`content_bytes`, generated a chunk at a time (any size, flat memory)."""
    block = hashlib.sha256(content.encode("utf-8")).digest()
    buffer = bytearray()
    sent = 0
    while sent < size:
        while len(buffer) < chunk:
            buffer += block
            block = hashlib.sha256(block).digest()
        piece = bytes(buffer[: min(chunk, size - sent)])
        del buffer[: len(piece)]
        sent += len(piece)
        yield piece


def content_digest(content: str, size: int = 20_000, algorithm: str = "sha256") -> str:
    digest = hashlib.new(algorithm)
    for piece in content_chunks(content, size):
        digest.update(piece)
    return digest.hexdigest()


def encode(body: bytes, encoding: str) -> bytes:
    """``body`` compressed as a server would send it with ``Content-Encoding: encoding``."""
    if encoding == "gzip":
        return gzip.compress(body)
    if encoding == "deflate":
        return zlib.compress(body)
    if encoding == "br":
        import brotli

        return bytes(brotli.compress(body))
    if encoding == "zstd":
        from backports import zstd

        return bytes(zstd.compress(body))
    raise ValueError(f"the sandbox cannot encode {encoding!r}")


@functools.lru_cache(maxsize=4)
def bomb_bytes(encoding: str, size: int) -> bytes:
    """``size`` zero bytes, compressed a MiB at a time (never ``size`` bytes in memory)."""
    zeros = bytes(1024 * 1024)
    rounds = range(max(1, size // len(zeros)))
    if encoding == "gzip":
        packer = zlib.compressobj(9, zlib.DEFLATED, 31)
        return b"".join(packer.compress(zeros) for _ in rounds) + packer.flush()
    if encoding == "br":
        import brotli

        squeezer = brotli.Compressor(quality=5)
        return b"".join(bytes(squeezer.process(zeros)) for _ in rounds) + bytes(squeezer.finish())
    if encoding == "zstd":
        from backports import zstd

        compressor = zstd.ZstdCompressor()
        parts = [compressor.compress(zeros) for _ in rounds]
        return b"".join(parts) + compressor.flush()
    return encode(bytes(size), encoding)


class Site:
    """The routing table shared by every host server: (host name, path) -> behaviour."""

    def __init__(self, on_request: Callable[[str, str], None] | None = None) -> None:
        self._routes: dict[tuple[str, str], Behaviour] = {}
        self._on_request = on_request
        self._lock = threading.Lock()
        self.hits: Counter[tuple[str, str]] = Counter()
        self.hit_times: dict[tuple[str, str], list[float]] = defaultdict(list)
        self.user_agents: list[str] = []
        self._in_flight: Counter[str] = Counter()
        self.peak_in_flight: Counter[str] = Counter()
        """The most requests ever served at once, per server address: politeness, measured."""

    @contextmanager
    def in_flight(self, address: str) -> Iterator[None]:
        with self._lock:
            self._in_flight[address] += 1
            self.peak_in_flight[address] = max(self.peak_in_flight[address], self._in_flight[address])
        try:
            yield
        finally:
            with self._lock:
                self._in_flight[address] -= 1

    def set(self, host: str, path: str, behaviour: Behaviour | None) -> None:
        """Make ``path`` on ``host`` behave so (``None``: back to a plain 404)."""
        with self._lock:
            if behaviour is None:
                self._routes.pop((host.lower(), path), None)
            else:
                self._routes[(host.lower(), path)] = behaviour

    def lookup(self, host: str, path: str) -> Behaviour:
        """What ``path`` on ``host`` does for this request. Counts the hit and fires the
        ``fetch`` event first, so a change triggered by this very fetch does not apply to it."""
        with self._lock:
            self.hits[(host, path)] += 1
            self.hit_times[(host, path)].append(time.monotonic())
            behaviour = self._routes.get((host, path), Status(404, "not found"))
        if self._on_request is not None:
            self._on_request(host, path)
        return behaviour


class _Handler(BaseHTTPRequestHandler):
    server: _HostServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        # A body written after its headers goes out at once, not after the client's delayed
        # acknowledgement of them (Nagle's algorithm: 40 ms an answer on a kept connection).
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s %s", self.server.server_address[0], format % args)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        named = self.headers.get("Host") or str(self.server.server_address[0])
        host = named.rsplit(":", 1)[0].strip("[]").lower()
        path = self.path.split("#", 1)[0]
        site = self.server.site
        site.user_agents.append(self.headers.get("User-Agent", ""))
        address = str(self.server.server_address[0])
        behaviour = site.lookup(host, path)
        if isinstance(behaviour, Serve):
            # In flight while the server thinks; not while the answer goes out, since a client that
            # has read it may open its next request before this thread leaves: counting that would
            # see a polite client exceed its limit.
            with site.in_flight(address):
                time.sleep(behaviour.delay)
            self._respond(dataclasses.replace(behaviour, delay=0.0))
            return
        with site.in_flight(address):
            self._respond(behaviour)

    def _respond(self, behaviour: Behaviour) -> None:
        if isinstance(behaviour, Serve):
            time.sleep(behaviour.delay)
            extra = {"ETag": behaviour.etag} if behaviour.etag else {}
            if behaviour.encoding:
                body = encode(content_bytes(behaviour.content, behaviour.size), behaviour.encoding)
                extra["Content-Encoding"] = behaviour.encoding
                self._send(200, body, behaviour.content_type, extra)
            elif behaviour.size > STREAM_ABOVE:
                self._send_streamed(behaviour, extra)
            else:
                self._send(
                    200, content_bytes(behaviour.content, behaviour.size), behaviour.content_type, extra
                )
        elif isinstance(behaviour, Picture):
            body, content_type = picture_bytes(behaviour.seed, behaviour.altered, behaviour.kind)
            self._send(200, body, content_type)
        elif isinstance(behaviour, Bomb):
            body = bomb_bytes(behaviour.encoding, behaviour.size)
            self._send(200, body, "image/png", {"Content-Encoding": behaviour.encoding})
        elif isinstance(behaviour, Status):
            extra = {"Retry-After": str(behaviour.retry_after)} if behaviour.retry_after is not None else {}
            self._send(behaviour.code, behaviour.body.encode("utf-8"), "text/plain; charset=utf-8", extra)
        elif isinstance(behaviour, Redirect):
            self.send_response(behaviour.code)
            self.send_header("Location", behaviour.location)
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif isinstance(behaviour, Stall):
            time.sleep(behaviour.seconds)
            self.close_connection = True
        elif isinstance(behaviour, Drop):
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        elif isinstance(behaviour, Endless):
            self._send_endless(behaviour.chunk_size)
        elif isinstance(behaviour, BrokenChunked):
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"10\r\n" + b"x" * 16 + b"\r\nZZ-not-hex\r\n")
            self.close_connection = True

    def _send(self, code: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(code)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_streamed(self, behaviour: Serve, extra: dict[str, str]) -> None:
        self.send_response(200)
        for name, value in extra.items():
            self.send_header(name, value)
        self.send_header("Content-Type", behaviour.content_type)
        self.send_header("Content-Length", str(behaviour.size))
        self.end_headers()
        if self.command == "HEAD":
            return
        try:
            for piece in content_chunks(behaviour.content, behaviour.size):
                self.wfile.write(piece)
        except OSError:
            self.close_connection = True  # the client stopped reading at its cap: as it should

    def _send_endless(self, chunk_size: int) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        chunk = content_bytes("endless", chunk_size)
        frame = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
        self.close_connection = True
        try:
            while not self.server.stopping.is_set():
                self.wfile.write(frame)
        except OSError:
            return  # the client hung up: exactly what a size cap should do


class _HostServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], site: Site, stopping: threading.Event) -> None:
        super().__init__(address, _Handler)
        self.site = site
        self.stopping = stopping


class WebHosts:
    """One HTTP server per loopback address, all on one port, serving one :class:`Site`."""

    def __init__(self, addresses: list[str], site: Site, port: int = 0, attempts: int = 20) -> None:
        self.site = site
        self._stopping = threading.Event()
        self.servers = self._bind_all(sorted(set(addresses)), port, attempts)
        self.port = self.servers[0].server_address[1]
        self._threads: list[threading.Thread] = []

    def _bind_all(self, addresses: list[str], port: int, attempts: int) -> list[_HostServer]:
        for _ in range(attempts):
            servers: list[_HostServer] = []
            try:
                for address in addresses:
                    server = _HostServer(
                        (address, port or (servers[0].server_address[1] if servers else 0)),
                        self.site,
                        self._stopping,
                    )
                    servers.append(server)
                return servers
            except OSError:
                for server in servers:
                    server.server_close()
                if port:
                    raise
        raise OSError(f"could not find one free port on all of {', '.join(addresses)}")

    def start(self) -> WebHosts:
        for server in self.servers:
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info(
            "sandbox web hosts on %s, port %d",
            ", ".join(str(s.server_address[0]) for s in self.servers),
            self.port,
        )
        return self

    def stop(self) -> None:
        self._stopping.set()
        for server in self.servers:
            server.shutdown()
            server.server_close()
