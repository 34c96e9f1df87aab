"""Finding PDQ hashes near a query: every list entry within a Hamming distance (31 of 256 bits by
default, as Meta recommends for PDQ), among a million entries, in well under a millisecond.

Chosen by measurement (``bench/bench_pdq_index.py``): comparing a query with every entry (numpy's
XOR and popcount over 1,000,000 x 256 bits) took 65 ms here, 15 lookups a second; this index
answers the same question about 1,900 times a second. It is *multi-index hashing*: the 256 bits are cut
into 16 chunks of 16 bits, each chunk's values kept sorted with the entries they belong to. Two
hashes at most 31 bits apart differ in at most one bit in at least one chunk (31 differing bits
cannot put two in each of 16 chunks), so looking up, in each chunk, the query's value and its 16
one-bit neighbours finds every entry that can be near enough, and only those few are compared
whole. For a distance of 32 or more that guarantee is lost, and the index compares everything.

Exact digests (MD5, SHA-1, SHA-256) need none of this: the store's indexes answer them.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

BITS = 256
CHUNKS = 16
CHUNK_BITS = BITS // CHUNKS
DEFAULT_DISTANCE = 31
MIN_PDQ_QUALITY = 50
"""PDQ hashes of lower quality (flat, featureless images) match too much to be trusted: kept on the
check, never matched (the threshold Meta's PDQ documentation recommends)."""
GUARANTEED_UP_TO = 2 * CHUNKS - 1
"""The largest distance for which one-bit probes in every chunk are sure to find every match."""


@functools.cache
def _flips() -> npt.NDArray[np.uint32]:
    """A chunk value's one-bit neighbours, as XOR masks (and 0, the value itself)."""
    import numpy as np

    return np.array([0, *(1 << bit for bit in range(CHUNK_BITS))], dtype=np.uint32)


def pdq_bytes(hexadecimal: str) -> bytes:
    """A PDQ hash (64 hexadecimal digits) as its 32 bytes; ``ValueError`` if it is not one."""
    if len(hexadecimal) != BITS // 4:
        raise ValueError("a PDQ hash is 64 hexadecimal digits")
    return bytes.fromhex(hexadecimal)


@dataclass(frozen=True, slots=True)
class Near:
    position: int
    """Which of the hashes the index was built from (its place in the sequence given)."""
    distance: int


class PdqIndex:
    """The hashes of the lists in use, for lookups by distance. Built once (a million in a few
    seconds), then read by any number of lookups; never changed in place."""

    def __init__(self, hashes: Sequence[bytes]) -> None:
        # numpy (0.1 s to import) only where an index is built: every crawl and command that merely
        # names a constant here used to load it.
        import numpy as np

        count = len(hashes)
        raw = np.frombuffer(b"".join(hashes), dtype=np.uint8).reshape(count, BITS // 8)
        self._words = raw.view(">u8").astype(np.uint64)  # four 64-bit words a hash, for popcounts
        chunks = raw.view(">u2").astype(np.uint32)  # sixteen 16-bit chunks a hash
        # One sorted array for all chunks: (chunk number, chunk value) as one key, so that a lookup
        # is two binary searches for all its probes at once, not a loop over chunks.
        keys = (np.arange(CHUNKS, dtype=np.uint32) << CHUNK_BITS) | chunks
        flat = keys.reshape(-1)
        order = np.argsort(flat, kind="stable")
        self._owner = (order // CHUNKS).astype(np.int32)
        # Where each key's entries begin in that order (and the next key's, where they end): a
        # probe is two array reads, not a binary search through 16 million keys.
        keys = flat[order]
        self._offsets = np.searchsorted(keys, np.arange(CHUNKS << CHUNK_BITS, dtype=np.uint32), side="left")
        self._offsets = np.append(self._offsets, len(keys))

    def __len__(self) -> int:
        return int(self._words.shape[0])

    def near(self, query: bytes, max_distance: int = DEFAULT_DISTANCE) -> list[Near]:
        """Every hash at most ``max_distance`` bits from ``query``, the nearest first."""
        import numpy as np

        if len(query) != BITS // 8:
            raise ValueError("a PDQ hash is 32 bytes")
        if not len(self):
            return []
        if max_distance > GUARANTEED_UP_TO:
            candidates = np.arange(len(self), dtype=np.int32)
        else:
            candidates = self._candidates(query)
        words = np.frombuffer(query, dtype=">u8").astype(np.uint64)
        distances = np.bitwise_count(self._words[candidates] ^ words).sum(axis=1)
        close = distances <= max_distance
        found = sorted(set(zip(distances[close].tolist(), candidates[close].tolist(), strict=True)))
        return [Near(int(position), int(distance)) for distance, position in found]

    def _candidates(self, query: bytes) -> npt.NDArray[np.int32]:
        import numpy as np

        flips = _flips()
        values = np.frombuffer(query, dtype=">u2").astype(np.uint32)
        chunk_keys = (np.arange(CHUNKS, dtype=np.uint32) << CHUNK_BITS) | values
        probes = (chunk_keys[:, None] ^ flips[None, :]).reshape(-1)
        starts = self._offsets[probes]
        sizes = self._offsets[probes + 1] - starts
        total = int(sizes.sum())
        if not total:
            return np.empty(0, dtype=np.int32)
        # every position from each start to its end, without a loop: a running count restarted
        # at each range's start
        offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(sizes)[:-1])), sizes)
        positions = np.arange(total) + offsets
        found: npt.NDArray[np.int32] = self._owner[positions]
        return found  # an entry near in several chunks comes more than once
