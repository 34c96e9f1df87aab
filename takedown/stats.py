"""Time to removal: from when content was first seen live to when it was first found gone.

Grouped by the hosting network, its AS and its country, as recorded with the case's last notice
round (``hosting`` rows). Only cases whose removal was confirmed count; the ones still open are
reported beside them, so a provider that never removes anything does not look fast.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from takedown.models import Case, Hosting
from takedown.states import OPEN_STATES, CaseState

GROUPINGS = ("network", "asn", "country")
DAY = timedelta(days=1)


@dataclass(frozen=True)
class RemovalStats:
    group: str
    removed: int
    still_open: int
    median_hours: float | None
    p90_hours: float | None
    within_24h: float | None
    """Share of the removed cases removed within 24 hours of being seen live."""
    within_7d: float | None


def already_gone_count(session: Session) -> int:
    """Cases closed because the content was already gone when first checked: not in the time to
    removal (nothing was removed), counted beside it, as ``queue list --state already_gone`` counts."""
    return int(
        session.scalar(
            select(func.count()).select_from(Case).where(Case.state == CaseState.ALREADY_GONE.value)
        )
        or 0
    )


def removal_stats(session: Session, by: str) -> list[RemovalStats]:
    """One row per group (``network``, ``asn``, ``country``), most removals first, then ``all``."""
    if by not in GROUPINGS:
        raise ValueError(f"group by one of {', '.join(GROUPINGS)}, not {by!r}")
    latest = (
        select(Hosting.case_id, func.max(Hosting.id).label("hosting_id")).group_by(Hosting.case_id).subquery()
    )
    rows = session.execute(
        select(
            Case.state,
            Case.first_seen_live_at,
            Case.queued_at,
            Case.removed_at,
            Hosting.organisation,
            Hosting.network,
            Hosting.asn,
            Hosting.country,
        )
        .join(latest, latest.c.case_id == Case.id, isouter=True)
        .join(Hosting, Hosting.id == latest.c.hosting_id, isouter=True)
        .where(Case.first_seen_live_at.is_not(None))
    ).all()
    durations: dict[str, list[timedelta]] = defaultdict(list)
    still_open: dict[str, int] = defaultdict(int)
    open_states = {state.value for state in OPEN_STATES}
    for row in rows:
        key = _group_key(by, row)
        if row.state == CaseState.REMOVED.value and row.removed_at is not None:
            took = max(timedelta(0), row.removed_at - (row.first_seen_live_at or row.queued_at))
            durations[key].append(took)
            durations["all"].append(took)
        elif row.state in open_states:
            still_open[key] += 1
            still_open["all"] += 1
    groups = sorted((set(durations) | set(still_open)) - {"all"}, key=lambda g: (-len(durations[g]), g))
    return [_summarise(group, durations[group], still_open[group]) for group in [*groups, "all"]]


def _group_key(by: str, row: Any) -> str:
    if by == "network":
        if row.network is None:
            return "unresolved"
        return f"{row.network} {row.organisation}" if row.organisation else str(row.network)
    if by == "asn":
        return f"AS{row.asn}" if row.asn is not None else "unknown AS"
    return row.country or "unknown country"


def _summarise(group: str, took: list[timedelta], still_open: int) -> RemovalStats:
    if not took:
        return RemovalStats(group, 0, still_open, None, None, None, None)
    hours = sorted(t / timedelta(hours=1) for t in took)
    p90 = statistics.quantiles(hours, n=10, method="inclusive")[8] if len(hours) > 1 else hours[0]
    return RemovalStats(
        group=group,
        removed=len(hours),
        still_open=still_open,
        median_hours=round(statistics.median(hours), 2),
        p90_hours=round(p90, 2),
        within_24h=round(sum(t <= DAY for t in took) / len(took), 3),
        within_7d=round(sum(t <= 7 * DAY for t in took) / len(took), 3),
    )


def write_chart(stats: list[RemovalStats], path: str, title: str) -> None:
    """A bar chart of median and p90 hours per group, as PNG (needs matplotlib: ``.[charts]``)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        from takedown.errors import ConfigurationError

        raise ConfigurationError("--chart needs matplotlib: pip install 'takedown[charts]'") from None
    shown = [s for s in stats if s.removed]
    labels = [s.group for s in shown]
    figure, axes = plt.subplots(figsize=(max(6.0, 1.2 * len(shown)), 4.5))
    positions = range(len(shown))
    axes.bar([p - 0.2 for p in positions], [s.median_hours or 0 for s in shown], width=0.4, label="median")
    axes.bar([p + 0.2 for p in positions], [s.p90_hours or 0 for s in shown], width=0.4, label="p90")
    axes.set_xticks(list(positions), labels, rotation=30, ha="right")
    axes.set_ylabel("hours from first seen live to removal")
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=100)
    plt.close(figure)
