"""The chase policy: how often to look, when to write again, whom to escalate to, when to stop, and
which hash lists are trusted to confirm a report from outside without an analyst.

One TOML file (``TAKEDOWN_CHASE_POLICY``; ``schedules/chase.toml`` shows every setting with its
default). It lives in the core because the revisit crawler needs its cadence and its rule for
confirming a removal, and the scheduler needs the rest.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from takedown.durations import parse_duration
from takedown.errors import ConfigurationError
from takedown.vocabulary import HOST_ROLES, NoticeLevel, Role

ROLES = tuple(Role)


@dataclass(frozen=True)
class ChasePolicy:
    revisit_after: dict[str, timedelta] = field(
        default_factory=lambda: {
            "live": timedelta(hours=6),
            "changed": timedelta(hours=24),
            "unreachable": timedelta(hours=1),
            "gone": timedelta(hours=12),
            "refused": timedelta(hours=24),
        }
    )
    """Until the next revisit, by what the last one found."""
    confirm_removal_after: timedelta = timedelta(hours=12)
    """A case found gone is closed as removed by a revisit that still finds it gone this much later."""
    reminder_after: timedelta = timedelta(days=3)
    """From one notice round to the next, while the content stays live."""
    reminders: int = 2
    """Reminders to the host before escalating."""
    ladder: tuple[tuple[Role, ...], ...] = ((Role.REGISTRAR, Role.CDN), (Role.UPSTREAM,))
    """After the host, whom each escalation round writes to, rung by rung."""
    analyst_after: int = 6
    """Notice rounds after which the chase stops and asks an analyst to act."""
    trusted_lists: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Hash lists (name, categories) whose match confirms a report from outside (a reporting
    portal's) without an analyst; none by default."""

    def confirms(self, list_name: str, category: str | None) -> bool:
        """Whether a match on entry of ``category`` on list ``list_name`` confirms a report."""
        return any(name == list_name and category in categories for name, categories in self.trusted_lists)

    def level_for(self, rounds: int) -> tuple[NoticeLevel, tuple[Role, ...]] | None:
        """The level and roles of a case's next round, given how many it has had; ``None``: stop."""
        if rounds >= self.analyst_after:
            return None
        if rounds == 0:
            return NoticeLevel.INITIAL, HOST_ROLES
        if rounds <= self.reminders:
            return NoticeLevel.REMINDER, HOST_ROLES
        rung = rounds - self.reminders - 1
        if rung < len(self.ladder):
            return NoticeLevel.ESCALATION, self.ladder[rung]
        return None

    @classmethod
    def load(cls, path: str | Path | None) -> ChasePolicy:
        if not path:
            return cls()
        try:
            data = tomllib.loads(Path(path).expanduser().read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigurationError(f"TAKEDOWN_CHASE_POLICY: cannot read {path}: {exc}") from None
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "policy") -> ChasePolicy:
        default = cls()
        revisit = dict(default.revisit_after)
        for outcome, hours in data.get("revisit_hours", {}).items():
            if outcome not in revisit:
                raise ConfigurationError(
                    f"{source}: [revisit_hours] {outcome!r} is not one of {', '.join(revisit)}"
                )
            revisit[outcome] = _hours(hours, f"{source}: [revisit_hours] {outcome}")
        removal = data.get("removal", {})
        notices = data.get("notices", {})
        ladder = notices.get("ladder", [list(rung) for rung in default.ladder])
        for rung in ladder:
            if not isinstance(rung, list) or not rung or any(role not in ROLES for role in rung):
                raise ConfigurationError(
                    f"{source}: [notices] ladder rungs are lists of roles from {', '.join(ROLES)}"
                )
        trusted = _trusted_lists(data.get("hash_lists", {}), source)
        unknown = set(data) - {"revisit_hours", "removal", "notices", "hash_lists"}
        if unknown:
            raise ConfigurationError(f"{source}: unknown section(s) {', '.join(sorted(unknown))}")
        return cls(
            revisit_after=revisit,
            confirm_removal_after=_hours(
                removal.get("confirm_after_hours", default.confirm_removal_after / timedelta(hours=1)),
                f"{source}: [removal] confirm_after_hours",
            ),
            reminder_after=_hours(
                notices.get("reminder_after_hours", default.reminder_after / timedelta(hours=1)),
                f"{source}: [notices] reminder_after_hours",
            ),
            reminders=_count(notices.get("reminders", default.reminders), f"{source}: [notices] reminders"),
            ladder=tuple(tuple(Role(role) for role in rung) for rung in ladder),
            analyst_after=_count(
                notices.get("analyst_after", default.analyst_after), f"{source}: [notices] analyst_after"
            ),
            trusted_lists=trusted,
        )


def _trusted_lists(section: Any, source: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    from takedown.reports import CATEGORIES

    where = f"{source}: [hash_lists] confirm_without_analyst"
    entries = section.get("confirm_without_analyst", []) if isinstance(section, dict) else None
    unknown = set(section) - {"confirm_without_analyst"} if isinstance(section, dict) else set()
    if entries is None or unknown or not isinstance(entries, list):
        raise ConfigurationError(f"{where}: expected a list of {{ list = NAME, categories = [...] }}")
    trusted = []
    for entry in entries:
        name = entry.get("list") if isinstance(entry, dict) else None
        categories = entry.get("categories") if isinstance(entry, dict) else None
        if not isinstance(name, str) or not name.strip():
            raise ConfigurationError(f'{where}: each entry names its list: {{ list = "iwf", ... }}')
        if not isinstance(categories, list) or not categories or any(c not in CATEGORIES for c in categories):
            raise ConfigurationError(f"{where}: list {name!r} needs categories from {', '.join(CATEGORIES)}")
        trusted.append((name.strip().lower(), tuple(categories)))
    return tuple(trusted)


def _hours(value: Any, where: str) -> timedelta:
    """A number of hours (fractions too), or a duration with its unit (``"90m"``, ``"7d"``)."""
    return parse_duration(value, unit="h", name=where)


def _count(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigurationError(f"{where}: expected a whole number, zero or more, not {value!r}")
    return value
