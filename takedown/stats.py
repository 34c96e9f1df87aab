"""Time to removal: from when content was first seen live to when it was first found gone.

Grouped by the hosting network, its AS and its country, as last resolved for the case (its latest
``hosting`` row, kept on the case by :func:`takedown.cases.record_hosted_at`). Only cases whose
removal was confirmed count; the ones still open are reported beside them, so a provider that
never removes anything does not look fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import Session

from takedown.models import Case
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
    """One row per group (``network``, ``asn``, ``country``), most removals first, then ``all``.

    Computed by the store, from the case's own columns and one covering index per grouping:
    grouped reads that return a row per group (and up to four per group for the percentiles),
    never the cases themselves, so memory does not grow with the store.
    """
    if by not in GROUPINGS:
        raise ValueError(f"group by one of {', '.join(GROUPINGS)}, not {by!r}")
    columns = _GROUP_COLUMNS[by]
    tallies = {
        _group_key(by, tuple(row[: len(columns)])): tuple(row[len(columns) :])
        for row in session.execute(_tally(columns))
    }
    overall = tuple(session.execute(_tally(())).one())
    spreads = {_group_key(by, key): spread for key, spread in _spreads(session, columns).items()}
    overall_spread = _spreads(session, ()).get((), (None, None))
    groups = sorted(tallies, key=lambda g: (-tallies[g][1], g))
    rows = [_summarise(group, tallies[group], spreads.get(group, (None, None))) for group in groups]
    return [*rows, _summarise("all", overall, overall_spread)]


_GROUP_COLUMNS: dict[str, tuple[Any, ...]] = {
    "network": (Case.hosting_network, Case.hosting_organisation),
    "asn": (Case.hosting_asn,),
    "country": (Case.hosting_country,),
}
_OPEN = [state.value for state in OPEN_STATES]
_REMOVED = CaseState.REMOVED.value
_TIMED = and_(Case.state == _REMOVED, Case.removal_seconds.is_not(None))


def _tally(columns: tuple[Any, ...]) -> Select[Any]:
    """Per group: still open, removed, removed within a day, within a week."""
    took = Case.removal_seconds
    query = select(
        *columns,
        func.count(case((Case.state.in_(_OPEN), 1))),
        func.count(case((_TIMED, 1))),
        func.count(case((and_(_TIMED, took <= DAY.total_seconds()), 1))),
        func.count(case((and_(_TIMED, took <= 7 * DAY.total_seconds()), 1))),
    ).where(Case.first_seen_live_at.is_not(None), Case.state.in_([*_OPEN, _REMOVED]))
    return query.group_by(*columns) if columns else query


def _spreads(
    session: Session, columns: tuple[Any, ...]
) -> dict[tuple[Any, ...], tuple[float | None, float | None]]:
    """Median and 90th percentile of the time to removal per group, in seconds, as
    :func:`statistics.median` and ``statistics.quantiles(n=10, method="inclusive")`` give them:
    the value at position (n - 1) q of the sorted times, between its two neighbours. The store
    ranks each group's times and returns only the neighbours."""
    partition = list(columns) or None
    ranked = (
        select(
            *columns,
            Case.removal_seconds.label("took"),
            (func.row_number().over(partition_by=partition, order_by=Case.removal_seconds) - 1).label("rank"),
            func.count().over(partition_by=partition).label("n"),
        )
        .where(Case.first_seen_live_at.is_not(None), _TIMED)
        .subquery()
    )
    key = [ranked.c[column.key] for column in columns]
    last = ranked.c.n - 1
    wanted = [(last * tenths) // 10 for tenths in (5, 9)] + [(last * tenths + 9) // 10 for tenths in (5, 9)]
    rows = session.execute(
        select(*key, ranked.c.rank, ranked.c.n, ranked.c.took).where(
            or_(*(ranked.c.rank == w for w in wanted))
        )
    ).all()
    values: dict[tuple[Any, ...], dict[int, float]] = {}
    sizes: dict[tuple[Any, ...], int] = {}
    for row in rows:
        group = tuple(row[: len(key)])
        rank, size, took = row[len(key) :]
        values.setdefault(group, {})[int(rank)] = float(took)
        sizes[group] = int(size)
    return {
        group: (_at(values[group], sizes[group], 5), _at(values[group], sizes[group], 9)) for group in values
    }


def _at(ranked: dict[int, float], size: int, tenths: int) -> float:
    """The value at position (size - 1) * tenths / 10 of the sorted values, interpolated
    between its neighbours (``ranked``: rank -> value)."""
    low, remainder = divmod((size - 1) * tenths, 10)
    if remainder == 0:
        return ranked[low]
    return (ranked[low] * (10 - remainder) + ranked[low + 1] * remainder) / 10


def _group_key(by: str, key: tuple[Any, ...]) -> str:
    if by == "network":
        network, organisation = key
        if network is None:
            return "unresolved"
        return f"{network} {organisation}" if organisation else str(network)
    if by == "asn":
        return f"AS{key[0]}" if key[0] is not None else "unknown AS"
    return str(key[0]) if key[0] else "unknown country"


def _summarise(group: str, tally: tuple[Any, ...], spread: tuple[float | None, float | None]) -> RemovalStats:
    still_open, removed, within_day, within_week = (int(n or 0) for n in tally)
    median, p90 = spread
    if not removed or median is None or p90 is None:
        return RemovalStats(group, 0, still_open, None, None, None, None)
    hour = 3600.0
    return RemovalStats(
        group=group,
        removed=removed,
        still_open=still_open,
        median_hours=round(median / hour, 2),
        p90_hours=round(p90 / hour, 2),
        within_24h=round(within_day / removed, 3),
        within_7d=round(within_week / removed, 3),
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
