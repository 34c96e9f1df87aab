"""Hosts as a browser reads them (the WHATWG URL Standard's host parser), for fetching and resolving.

A reporter's browser showed the content at ``http://2130706531/`` because browsers read a host whose
last label is a number as an IPv4 address, in any of the old notations: one 32-bit number, hex
(``0x7f.1``), octal (``0177.0.0.1``) and short forms (``127.1``). Sent to DNS as a name it would not
exist, and the case would be closed as gone while the content is still served. So a URL is fetched
and resolved with its host read as the browser read it; it is kept and notified exactly as reported.

The rule differs from Safe Browsing canonicalisation (``takedown.canonical``) in one place: a host
that ends in a number but is not a valid address (``1.300.1.1``) is a name to Safe Browsing and an
invalid URL to a browser. Intake refuses it, naming why: no browser could have shown it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from takedown.errors import TakedownError

_NUMBER = re.compile(r"0[xX][0-9A-Fa-f]*|0[0-7]*|[1-9][0-9]*")
"""A part of a numeric host: hex, octal (a leading zero) or decimal, as WHATWG's IPv4 number parser."""


class InvalidHost(TakedownError):
    """A host a browser would refuse (it ends in a number but is not an IPv4 address)."""


def ends_in_a_number(host: str) -> bool:
    """The WHATWG "ends in a number" check: is the last label (one trailing dot ignored) numeric?"""
    labels = host.split(".")
    if labels[-1] == "" and len(labels) > 1:
        labels.pop()
    last = labels[-1]
    return bool(re.fullmatch(r"[0-9]+|0[xX][0-9A-Fa-f]*", last))


def parse_ipv4(host: str) -> str:
    """The dotted-decimal address a browser reads in ``host``; :class:`InvalidHost` if none."""
    parts = host.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    if len(parts) > 4:
        raise InvalidHost(f"host {host!r} ends in a number but has more than four parts")
    numbers = []
    for part in parts:
        if not part or not _NUMBER.fullmatch(part):
            raise InvalidHost(f"host {host!r} ends in a number but {part!r} is not one")
        numbers.append(_number(part))
    *leading, last = numbers
    if any(n > 255 for n in leading) or last >= 256 ** (5 - len(numbers)):
        raise InvalidHost(f"host {host!r} ends in a number but is out of the IPv4 range")
    value = last
    for index, number in enumerate(leading):
        value += number * 256 ** (3 - index)
    return ".".join(str((value >> shift) & 0xFF) for shift in (24, 16, 8, 0))


def browser_host(host: str) -> str:
    """``host`` as a browser connects to it: an IPv4 address when it ends in a number, else the
    name in lower case."""
    host = host.lower()
    return parse_ipv4(host) if ends_in_a_number(host) else host


def fetchable_url(url: str) -> str:
    """``url`` with its host written as the browser reads it (credentials and port kept); the URL
    itself when the host needs no reading, or cannot be read."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host or host.startswith("[") or ":" in host:
        return url
    try:
        read = browser_host(host)
    except InvalidHost:
        return url
    if read == host:
        return url
    userinfo = parts.netloc.rpartition("@")[0]
    port = f":{parts.port}" if parts.port is not None else ""
    netloc = f"{userinfo}@{read}{port}" if userinfo else f"{read}{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _number(part: str) -> int:
    if part[:2].lower() == "0x":
        return int(part[2:] or "0", 16)
    if len(part) > 1 and part.startswith("0"):
        return int(part[1:], 8)
    return int(part)
