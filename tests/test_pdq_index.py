"""The PDQ index finds exactly what comparing with every hash would find, at any distance."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from takedown.pdq_index import GUARANTEED_UP_TO, PdqIndex, pdq_bytes


def flipped(value: bytes, bits: list[int]) -> bytes:
    out = bytearray(value)
    for bit in bits:
        out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def distance(a: bytes, b: bytes) -> int:
    return sum(bin(x ^ y).count("1") for x, y in zip(a, b, strict=True))


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    size=st.integers(0, 300),
    flips=st.lists(st.integers(0, 255), max_size=45, unique=True),
    max_distance=st.integers(0, 40),
)
def test_the_index_finds_what_a_full_comparison_finds(
    seed: int, size: int, flips: list[int], max_distance: int
) -> None:
    rng = random.Random(seed)
    hashes = [rng.randbytes(32) for _ in range(size)]
    if hashes:  # near copies of an entry, as re-encoding an image gives: a few bits apart
        hashes.append(flipped(hashes[0], flips[:5]))
    index = PdqIndex(hashes)
    query = flipped(hashes[0], flips) if hashes else rng.randbytes(32)
    expected = sorted(
        (distance(query, h), position)
        for position, h in enumerate(hashes)
        if distance(query, h) <= max_distance
    )
    assert [(near.distance, near.position) for near in index.near(query, max_distance)] == expected


def test_every_copy_up_to_the_default_distance_is_found_among_many() -> None:
    rng = random.Random(7)
    hashes = [rng.randbytes(32) for _ in range(20_000)]
    index = PdqIndex(hashes)
    for n in range(200):
        target = n * 97
        query = flipped(hashes[target], rng.sample(range(256), GUARANTEED_UP_TO))
        assert index.near(query)[0].position == target


def test_a_pdq_hash_is_64_hexadecimal_digits() -> None:
    assert len(pdq_bytes("ab" * 32)) == 32
    with pytest.raises(ValueError):
        pdq_bytes("ab" * 31)
    with pytest.raises(ValueError):
        PdqIndex([bytes(32)]).near(bytes(31))


def test_numpy_is_loaded_only_where_an_index_is_built() -> None:
    """Every crawl process and store command imports the hash lists (their constants), few of them
    build an index: numpy's tenth of a second of start-up is spent only by those that do."""
    probe = (
        "import sys, crawler.pipelines, takedown.revisits, takedown.hash_lists, takedown.pdq_index\n"
        "print('numpy' in sys.modules)\n"
        "index = takedown.pdq_index.PdqIndex([bytes(32)])\n"
        "print('numpy' in sys.modules, index.near(bytes(32)))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["False", "True [Near(position=0, distance=0)]"]
