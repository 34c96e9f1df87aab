"""What a hash list holds for a digest, as ``takedown hashes match`` answers an analyst: the list,
its version and the entry's reference and category, never the list's other contents.

Written once in plain SQL (:mod:`takedown.sql_reads`): the terminal asks through the database
driver alone (no SQLAlchemy to import: most of a second of a one-digest question), and a session
of the store sends the same text. Perceptual (PDQ) matching is by distance, through an index of
every PDQ entry in use (:func:`takedown.hash_lists.match_pdq`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from takedown.hash_list_import import DIGEST_LENGTHS, HEX
from takedown.hash_list_versions import HashListError
from takedown.sql_reads import mark, reading

if TYPE_CHECKING:
    from takedown.sql_reads import ReadSource

EXACT = ("md5", "sha1", "sha256")
"""The digests looked up exactly (PDQ is perceptual: matched by distance)."""


@dataclass(frozen=True, slots=True)
class HashMatch:
    """A digest found on an active list: which list and entry, never the list's other contents."""

    list: str
    version: str
    algorithm: str
    reference: str | None
    category: str | None
    classification: str | None
    distance: int = 0
    """Bits apart (0 for an exact digest; a perceptual match may be a few bits off)."""


def match_digests(source: ReadSource, digests: dict[str, str]) -> list[HashMatch]:
    """The entries of active lists with any of ``digests`` (algorithm -> hexadecimal), exactly:
    one index probe per digest, whatever the lists' size. ``source``: a store, a session, or a
    reader of its own (:func:`takedown.sql_reads.reading`)."""
    matches: list[HashMatch] = []
    with reading(source) as reads:
        for algorithm in EXACT:  # a column of its own each, named from this fixed set only
            digest = digests.get(algorithm)
            if not digest:
                continue
            sql = (
                "SELECT hash_list.name, hash_list.version, hash_entry.reference, hash_entry.category,"
                " hash_entry.classification FROM hash_entry"
                " JOIN hash_list ON hash_list.id = hash_entry.list_id"
                f" WHERE hash_entry.{algorithm} = {mark(reads)} AND hash_list.state = 'active'"
                " ORDER BY hash_list.name, hash_entry.id"
            )
            for name, version, reference, category, classification in reads.stream(sql, (digest.lower(),)):
                matches.append(HashMatch(name, version, algorithm, reference, category, classification))
    return matches


def parse_digest(text: str) -> tuple[str, str]:
    """``sha256:ab12...``, ``md5:...``, ``sha1:...``, ``pdq:...`` or bare hexadecimal (told apart
    by its length: 32 MD5, 40 SHA-1, 64 SHA-256) as (algorithm, lowercase hex)."""
    algorithm, colon, value = text.strip().partition(":")
    if not colon:
        algorithm, value = "", algorithm
    value = value.strip().lower()
    if not algorithm:
        algorithm = {32: "md5", 40: "sha1", 64: "sha256"}.get(len(value), "")
    algorithm = algorithm.lower()
    length = DIGEST_LENGTHS.get(algorithm)
    if length is None or len(value) != length or not HEX.fullmatch(value):
        raise HashListError(
            f"{text[:100]!r} is not a digest: give md5:, sha1:, sha256: or pdq: and its hexadecimal digits"
        )
    return algorithm, value


def file_digests(path: Path) -> dict[str, str]:
    """MD5, SHA-1 and SHA-256 of a file, computed as it is read a megabyte at a time; nothing kept."""
    hashers = {
        "md5": hashlib.md5(usedforsecurity=False),
        "sha1": hashlib.sha1(usedforsecurity=False),
        "sha256": hashlib.sha256(),
    }
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            for hasher in hashers.values():
                hasher.update(chunk)
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}
