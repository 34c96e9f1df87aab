"""The CSAM classifications an analyst records and X-ARF reports carry, spelled once.

X-ARF v4's ``csam`` type takes ``baseline`` (the INHOPE/Interpol baseline) or the A1..B2 grades, in
exactly this spelling: a report with ``a1`` fails validation. Whatever spelling arrives (an import
row, ``--classification``, ``TAKEDOWN_CSAM_CLASSIFICATION``) is mapped to it once, where it enters.
"""

from __future__ import annotations

from enum import StrEnum


class Classification(StrEnum):
    BASELINE = "baseline"
    """Meets the INHOPE/Interpol baseline: illegal everywhere."""
    A1 = "A1"
    A2 = "A2"
    B1 = "B1"
    B2 = "B2"


CLASSIFICATIONS: tuple[str, ...] = tuple(c.value for c in Classification)
"""The spellings, in order, for choices and messages."""


def canonical_classification(value: str) -> Classification | None:
    """``value`` in its canonical spelling, or ``None`` when it is not a classification."""
    wanted = value.strip().lower()
    return next((known for known in Classification if known.value.lower() == wanted), None)
