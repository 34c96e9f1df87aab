"""Durations as people write them: ``90s``, ``15m``, ``2h``, ``7d``, ``1h30m``, or a bare number.

Every setting that is a length of time accepts them (the chase policy, ``takedown run``'s
intervals, the timeouts in the environment), so nobody has to remember which one counts in
minutes and which in hours. A bare number keeps the unit the setting always had, so existing
policy files and scripts mean what they meant.
"""

from __future__ import annotations

import re
from datetime import timedelta

from takedown.errors import ConfigurationError

UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*([smhdw])", re.IGNORECASE)


def parse_duration(value: object, *, unit: str, name: str, zero_ok: bool = True) -> timedelta:
    """``value`` as a duration; a bare number is in ``unit`` (``s``, ``m``, ``h``, ``d``).

    :class:`ConfigurationError` names the setting and shows how to write one.
    """
    seconds = _seconds(value, unit)
    if seconds is None:
        raise ConfigurationError(
            f"{name}={value!r} is not a duration: write a number of {_UNIT_NAMES[unit]} "
            "or one with a unit, like 90s, 15m, 2h, 7d or 1h30m"
        )
    if seconds < 0 or (seconds == 0 and not zero_ok):
        raise ConfigurationError(
            f"{name}={value!r} must be {'zero or more' if zero_ok else 'more than zero'}"
        )
    return timedelta(seconds=seconds)


_UNIT_NAMES = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _seconds(value: object, unit: str) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) * UNITS[unit]
    if not isinstance(value, str):
        return None
    text = value.strip().replace(" ", "")
    if not text:
        return None
    try:
        return float(text) * UNITS[unit]
    except ValueError:
        pass
    parts = _PART.findall(text)
    if not parts or "".join(number + letter for number, letter in parts).lower() != text.lower():
        return None
    return sum(float(number) * UNITS[letter.lower()] for number, letter in parts)


def describe(duration: timedelta) -> str:
    """The shortest way to write ``duration`` back: ``15m``, ``2h``, ``1h30m``, ``45s``."""
    remaining = round(duration.total_seconds())
    if remaining == 0:
        return "0s"
    out = []
    for letter in ("d", "h", "m", "s"):
        size = int(UNITS[letter])
        if remaining >= size:
            out.append(f"{remaining // size}{letter}")
            remaining %= size
    return "".join(out)
