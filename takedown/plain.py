"""Operations return dataclasses; every face (the CLI's ``--json``, the web console's JSON API)
turns them into JSON the same way, here, so a time or a state reads the same wherever it shows.

Times are ISO 8601 in UTC with a ``Z``, to the second: what abuse desks and scripts both read.
"""

from __future__ import annotations

import dataclasses
import json
import math
import operator
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any, overload


@overload
def iso(when: datetime) -> str: ...
@overload
def iso(when: None) -> None: ...
def iso(when: datetime | None) -> str | None:
    """A time as every face shows it: ``2026-11-30T03:52:12Z`` (UTC, to the second). An aware time
    in another zone is converted; a naive one is taken as UTC, as the store keeps every time."""
    if when is None:
        return None
    if when.tzinfo is not None and when.tzinfo is not UTC:
        when = when.astimezone(UTC)
    # isoformat, not strftime: strftime writes the year 999 as "999" on glibc, not "0999"
    return when.isoformat(timespec="seconds")[:19] + "Z"


def plain(value: Any) -> Any:
    """``value`` as JSON-ready data: dataclasses become objects of their fields (in declared order),
    times become :func:`iso` strings, enums their values, tuples and sets lists; floats that are
    not numbers become ``null`` (JSON has no NaN). A dataclass that shapes its own JSON (fields
    computed or left out) defines ``__plain__``, which must return JSON-ready data (calling
    :func:`plain` on its parts as needed), and is asked instead."""
    kind = type(value)
    if kind in _AS_IS:
        return value
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, (bool, int, str)):  # their subclasses; the exact types returned above
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, type):
        raise TypeError(f"{value.__name__} is a class; plain() takes values")
    shaped = getattr(value, "__plain__", None)
    if shaped is not None:
        return shaped()
    fields = _fields_of(kind)
    if fields is not None:
        names, read = fields
        return dict(zip(names, map(_plain_item, read(value)), strict=True))
    if isinstance(value, Mapping):
        return {str(key): _plain_item(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return [_plain_item(item) for item in items]
    raise TypeError(f"{kind.__name__} has no plain form; give it one in takedown.plain")


_AS_IS: frozenset[type] = frozenset({str, int, bool, type(None)})


def _plain_item(value: Any) -> Any:
    """:func:`plain` without a call for what is already plain: most fields of most records (a
    million-row listing spends its time here)."""
    return value if type(value) in _AS_IS else plain(value)


_FIELDS: dict[type, tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]] | None] = {}


def _fields_of(kind: type) -> tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]] | None:
    """The fields a dataclass shows (``repr=False`` ones are left out) and a reader of all of them
    at once, worked out once per class; ``None`` for a class that is not a dataclass."""
    try:
        return _FIELDS[kind]
    except KeyError:
        found = None
        if dataclasses.is_dataclass(kind):
            names = tuple(f.name for f in dataclasses.fields(kind) if f.repr)
            getter = operator.attrgetter(*names)
            read = getter if len(names) > 1 else (lambda value: (getter(value),))
            found = (names, read)
        _FIELDS[kind] = found
        return found


_ENCODER = json.JSONEncoder(ensure_ascii=False)
"""One encoder for every line: ``json.dumps`` with any option builds a new one per call, which
was a third of a million-line listing's time."""


def json_line(data: Any) -> str:
    """Already-plain data (see :func:`plain`) as one line of JSON: the CLI's ``--json`` and the
    console's exports write the same bytes."""
    return str(_ENCODER.encode(data))
