"""Canonical form of a URL, following Google Safe Browsing v4 canonicalisation.

Hotlines receive the same URL written many ways: with and without ``www.``-style dots at the end,
percent-escaped once, twice or not at all, with an IP written in octal or as one big number. The
canonical form makes them one key, so the same content is never chased twice as two cases.

The procedure is the one published for Safe Browsing v4 ("URLs and Hashing"), and the examples
published with it are tests of this module. Where the prose leaves a gap, we follow Google's own
reference client (``google/safebrowsing``), with three documented choices:

* The scheme is lowercased (schemes are case-insensitive, RFC 3986 section 3.1).
* An IPv4 component out of range (``1.300.1.1``) makes the host a name, not a truncated address.
* Escapes are written in uppercase hex, as the published procedure asks.

Internationalised hosts are converted to IDNA (punycode), as the reference client does, so a
host written in Unicode, percent-escaped UTF-8 or punycode gives one key.

Everything works on bytes: a reported URL may hold bytes that are not UTF-8, and the published
example ``http://\\x01\\x80.com/`` only makes sense byte by byte. ``str`` input is encoded as UTF-8
(with ``surrogateescape``, so undecodable bytes from a command line come back as they were).
"""

from __future__ import annotations

import functools
import posixpath
import re
from dataclasses import dataclass

import idna

__all__ = ["CanonicalUrl", "CanonicalizationError", "canonical_parts", "canonicalize"]

DEFAULT_PORTS = {"http": 80, "https": 443}

_MAX_UNESCAPE_ROUNDS = 1024
_ESCAPE_RE = re.compile(rb"%([0-9A-Fa-f]{2})")
_POSSIBLE_IP_RE = re.compile(rb"^(?:0[xX][0-9A-Fa-f]+|[0-9.])+$")
_NEEDS_ESCAPE = re.compile(rb"[\x00-\x20\x7f-\xff#%]")
_NON_ASCII_HOST_BYTE = re.compile(rb"[\x81-\xff]")
_PORT_RE = re.compile(rb":([0-9]*)$")
_SCHEME_FIRST = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_SCHEME_REST = _SCHEME_FIRST | frozenset(b"0123456789+-.")
_PORT_AFTER_COLON_RE = re.compile(rb":[0-9]+(?:/|$)")


class CanonicalizationError(ValueError):
    """The string cannot be read as a URL at all; the message says which part is wrong."""


@dataclass(frozen=True, slots=True)
class CanonicalUrl:
    """A URL in canonical form, split into the parts later stages need.

    ``port`` is kept although the canonical URL drops it: two ports on one host are two servers,
    so the deduplication key keeps a port that is not the scheme's default.
    """

    scheme: str
    host: str
    port: int | None
    path: str
    query: str | None

    @property
    def url(self) -> str:
        """The Safe Browsing canonical URL (no port, no fragment)."""
        return self._assemble(with_port=False)

    @property
    def dedup_key(self) -> str:
        """The canonical URL plus the port when it is not the scheme's default."""
        return self._assemble(with_port=True)

    def _assemble(self, *, with_port: bool) -> str:
        netloc = self.host
        if with_port and self.port is not None and self.port != DEFAULT_PORTS.get(self.scheme):
            netloc = f"{netloc}:{self.port}"
        text = f"{self.scheme}://{netloc}{self.path}"
        if self.query is not None:
            text = f"{text}?{self.query}"
        return text


def canonicalize(url: str | bytes) -> str:
    """Return the Safe Browsing canonical form of ``url``.

    Raises :class:`CanonicalizationError` (and nothing else) when no URL can be read from it.
    """
    return canonical_parts(url).url


def canonical_parts(url: str | bytes) -> CanonicalUrl:
    """Canonicalise ``url`` and return its parts; see :func:`canonicalize`."""
    raw = url if isinstance(url, bytes) else url.encode("utf-8", "surrogateescape")
    # The fragment goes first: after unescaping, a '#' would be data, not a delimiter.
    raw = raw.split(b"#", 1)[0]
    raw = raw.strip(b" \t\n\r\f\v")
    raw = raw.replace(b"\t", b"").replace(b"\r", b"").replace(b"\n", b"")
    if not raw:
        raise CanonicalizationError("the URL is empty")
    raw = _unescape_fully(raw)

    scheme, rest = _split_scheme(raw)
    rest, question_mark, query = rest.partition(b"?")
    if scheme is None:
        scheme = b"http"
        hostish, path = _split_host(rest)
    else:
        if not rest.startswith(b"//"):
            raise CanonicalizationError(
                f"expected '//' after '{scheme.decode('ascii')}:', as in {scheme.decode('ascii')}://host/path"
            )
        hostish, path = _split_host(rest[2:])
    host, port = _canonical_host(hostish)
    return CanonicalUrl(
        scheme=scheme.decode("ascii").lower(),
        host=_escape(host),
        port=port,
        path=_escape(_canonical_path(path)),
        query=_escape(query) if question_mark else None,
    )


def _unescape_once(data: bytes) -> bytes:
    return _ESCAPE_RE.sub(lambda m: bytes([int(m.group(1), 16)]), data)


def _unescape_fully(data: bytes) -> bytes:
    if b"%" not in data:
        return data
    for _ in range(_MAX_UNESCAPE_ROUNDS):
        decoded = _unescape_once(data)
        if decoded == data:
            return data
        data = decoded
    raise CanonicalizationError("the URL is percent-escaped too many times to unescape")


def _escape(data: bytes) -> str:
    if not _NEEDS_ESCAPE.search(data):
        return data.decode("ascii")
    out = bytearray()
    for byte in data:
        if byte <= 0x20 or byte >= 0x7F or byte in (0x23, 0x25):  # space and controls, '#', '%'
            out += b"%%%02X" % byte
        else:
            out.append(byte)
    return out.decode("ascii")


def _split_scheme(data: bytes) -> tuple[bytes | None, bytes]:
    """Split off a scheme the way the reference client does: ``host:80/`` has no scheme."""
    for index, byte in enumerate(data):
        if byte == 0x3A:  # ':'
            if index == 0:
                return None, data
            if _PORT_AFTER_COLON_RE.match(data, index):
                continue  # "example.com:8080/x": a port, not a scheme
            return data[:index], data[index + 1 :]
        allowed = _SCHEME_FIRST if index == 0 else _SCHEME_REST
        if byte not in allowed:
            return None, data
    return None, data


HOSTS_REMEMBERED = 1 << 16
"""Hosts whose canonical form is kept in memory (a few MiB at most); a host is never written anywhere."""


def _split_host(data: bytes) -> tuple[bytes, bytes]:
    slash = data.find(b"/")
    if slash < 0:
        return data, b""
    return data[:slash], data[slash:]


@functools.lru_cache(maxsize=HOSTS_REMEMBERED)
def _canonical_host(hostish: bytes) -> tuple[bytes, int | None]:
    """The host and port of a URL's authority. A pure function of the text, remembered: a batch of
    reports names a few thousand hosts for many more URLs, and a host is canonicalised once."""
    host = hostish.rpartition(b"@")[2]  # credentials are never part of the key
    port: int | None = None
    if host.startswith(b"["):
        close = host.find(b"]")
        if close < 0:
            raise CanonicalizationError("the IPv6 address in the host has no closing ']'")
        after = host[close + 1 :]
        host = host[: close + 1]
        if after:
            match = _PORT_RE.fullmatch(after)
            if not match:
                raise CanonicalizationError("unexpected characters after the IPv6 address in the host")
            port = _parse_port(match.group(1))
        return host.lower(), port
    match = _PORT_RE.search(host)
    if match:
        port = _parse_port(match.group(1))
        host = host[: match.start()]
    for delimiter in (b":", b"[", b"]"):
        if delimiter in host:
            raise CanonicalizationError(
                f"the host contains '{delimiter.decode()}' outside an IPv6 address in brackets"
            )
    if _NON_ASCII_HOST_BYTE.search(host):  # 0x80 itself is left escaped, as the reference client does
        host = _to_idna(host)
    host = re.sub(rb"\.+", b".", host).strip(b".")
    if not host:
        raise CanonicalizationError("the URL has no host")
    address = _canonical_ipv4(host)
    return (address if address is not None else host.lower()), port


def _parse_port(digits: bytes) -> int | None:
    if not digits:
        return None
    value = int(digits)
    if value > 65535:
        raise CanonicalizationError(f"port {value} is out of range (1-65535)")
    return value


def _to_idna(host: bytes) -> bytes:
    try:
        text = host.decode("utf-8")
    except UnicodeDecodeError:
        raise CanonicalizationError("the host contains bytes that are not UTF-8 text") from None
    labels = []
    for label in re.split(r"\.+", text):
        if label.isascii():
            labels.append(label.lower())
            continue
        try:
            labels.append(idna.encode(label, uts46=True, std3_rules=False).decode("ascii"))
        except (idna.IDNAError, UnicodeError, ValueError) as exc:
            raise CanonicalizationError(
                f"the host label {label!r} is not a valid internationalised domain name ({exc})"
            ) from None
    return ".".join(labels).encode("ascii")


def _canonical_ipv4(host: bytes) -> bytes | None:
    """Normalise a host that is an IPv4 address in any legal notation to dotted decimal."""
    if not _POSSIBLE_IP_RE.match(host):
        return None
    parts = host.split(b".")
    if len(parts) > 4:
        return None
    values = []
    for part in parts:
        value = _parse_ip_number(part)
        if value is None:
            return None
        values.append(value)
    *leading, last = values
    if any(value > 0xFF for value in leading) or last >= 1 << (8 * (5 - len(values))):
        return None
    number = 0
    for value in leading:
        number = (number << 8) | value
    number = (number << (8 * (5 - len(values)))) | last
    return b".".join(str((number >> shift) & 0xFF).encode() for shift in (24, 16, 8, 0))


def _parse_ip_number(part: bytes) -> int | None:
    try:
        if part[:2].lower() == b"0x":
            return int(part[2:], 16)
        if len(part) > 1 and part.startswith(b"0"):
            return int(part[1:], 8)
        return int(part, 10)
    except ValueError:
        return None


def _canonical_path(path: bytes) -> bytes:
    """Resolve ``.`` and ``..`` and collapse slashes, keeping a trailing slash that was written."""
    if not path:
        return b"/"
    cleaned = posixpath.normpath(path)
    if cleaned.startswith(b"//"):  # normpath keeps a leading '//' (POSIX allows it); we don't
        cleaned = b"/" + cleaned.lstrip(b"/")
    if cleaned == b".":
        cleaned = b"/"
    if path.endswith(b"/") and not cleaned.endswith(b"/"):
        cleaned += b"/"
    return cleaned
