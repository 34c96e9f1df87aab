"""The registered domain of a host name, from the Public Suffix List shipped inside tldextract.

No download ever: ``suffix_list_urls=()`` makes tldextract use the snapshot in its package, and no
cache directory is written. The special-use TLDs of RFC 2606/6761 (``test``, ``example``,
``invalid``, ``localhost``) are added as suffixes, so ``host-a.test`` is a registrable domain the
way ``host-a.com`` is (the sandbox lives under ``.test``).
"""

from __future__ import annotations

import ipaddress
import threading
from functools import lru_cache

import tldextract

SPECIAL_USE_SUFFIXES = ("test", "example", "invalid", "localhost")

_extract = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, extra_suffixes=SPECIAL_USE_SUFFIXES)
_building = threading.Lock()
_built = False


def _extracted(host: str) -> tldextract.tldextract.ExtractResult:
    """``_extract(host)``; the first call builds the suffix list's trie under a lock. tldextract
    builds it on first use without one, so the resolver threads of a round, all starting at once,
    each built their own (8 threads: 10 to 16 builds where one makes 2; a tenth of the CPU of a
    process's first round)."""
    global _built
    if not _built:
        with _building:
            if not _built:
                _extract("example.com")
                _built = True
    return _extract(host)


@lru_cache(maxsize=65536)
def registered_domain(host: str) -> str | None:
    """``www.shop.example.co.uk`` -> ``example.co.uk``; ``None`` for an IP address or a bare suffix."""
    host = host.strip().strip("[]").rstrip(".").lower()
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    parts = _extracted(host)
    if not parts.domain or not parts.suffix:
        return None
    return f"{parts.domain}.{parts.suffix}"
