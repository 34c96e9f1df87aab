"""Operations return dataclasses; every face (the CLI's ``--json``, the web console's JSON API)
turns them into JSON the same way, here, so a time or a state reads the same wherever it shows.

Times are ISO 8601 in UTC with a ``Z``, to the second: what abuse desks and scripts both read.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any


def iso(when: datetime | None) -> str | None:
    """A time as every face shows it: ``2026-11-30T03:52:12Z`` (UTC, to the second). An aware time
    in another zone is converted; a naive one is taken as UTC, as the store keeps every time."""
    if when is None:
        return None
    if when.tzinfo is not None:
        when = when.astimezone(UTC)
    # isoformat, not strftime: strftime writes the year 999 as "999" on glibc, not "0999"
    return when.replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def plain(value: Any) -> Any:
    """``value`` as JSON-ready data: dataclasses become objects of their fields (in declared order),
    times become :func:`iso` strings, enums their values, tuples and sets lists; floats that are
    not numbers become ``null`` (JSON has no NaN). A dataclass that shapes its own JSON (fields
    computed or left out) defines ``__plain__`` and is asked instead."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return iso(value)
    shaped = getattr(value, "__plain__", None)
    if shaped is not None and not isinstance(value, type):
        return plain(shaped())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.repr}
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return [plain(item) for item in items]
    raise TypeError(f"{type(value).__name__} has no plain form; give it one in takedown.plain")
