"""Time to removal: from when content was first seen live to when it was first found gone.

Grouped by the hosting network, its AS and its country, as last resolved for the case (its latest
``hosting`` row, kept on the case by :func:`takedown.cases.record_hosted_at`). Only cases whose
removal was confirmed count; the ones still open are reported beside them, so a provider that
never removes anything does not look fast.

Read with plain SQL, the same text whichever way the store is reached (:mod:`takedown.sql_reads`):
a session of the store (the console, the demo) or the terminal's direct reads, so that ``takedown
stats`` imports no SQLAlchemy, which was a third of its time on a million cases. The constants in
the SQL (states, a day, a week) are written into it, not bound: SQLite uses a partial index only
for a condition it can read, and none of them comes from outside. Group values come from
registries, and are always bound.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from takedown.sql_reads import SqlReads, mark, reading
from takedown.states import OPEN_STATES, CaseState

if TYPE_CHECKING:
    from takedown.sql_reads import ReadSource


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
    notice_rounds: int = 0
    """Notice rounds sent about the group's cases (each round, one notice per recipient)."""


def already_gone_count(source: ReadSource) -> int:
    """Cases closed because the content was already gone when first checked: not in the time to
    removal (nothing was removed), counted beside it, as ``queue list --state already_gone`` counts."""
    with reading(source) as reads:
        [(count,)] = reads.stream(f'SELECT count(*) FROM "case" WHERE state = {_ALREADY_GONE}')
    return int(count or 0)


def removal_stats(source: ReadSource, by: str) -> list[RemovalStats]:
    """One row per group (``network``, ``asn``, ``country``), most removals first, then ``all``.

    Computed by the store, from the case's own columns and one covering index per grouping:
    grouped reads that return a row per group (and a few per group for the percentiles), never
    the cases themselves, so memory does not grow with the store.
    """
    if by not in GROUPINGS:
        raise ValueError(f"group by one of {', '.join(GROUPINGS)}, not {by!r}")
    columns = _GROUP_COLUMNS[by]
    with reading(source) as reads:
        tallies = _tallies(reads, columns)
        overall = tuple(sum(figures) for figures in zip((0, 0, 0, 0, 0), *tallies.values(), strict=False))
        spreads = _spreads(reads, columns, {key: tally[1] for key, tally in tallies.items()})
        overall_spread = _overall_spread(reads, overall[1])
    named: dict[str, tuple[tuple[int, ...], tuple[float | None, float | None]]] = {}
    for key, tally in tallies.items():
        named[_group_key(by, key)] = (tally, spreads.get(key, (None, None)))
    groups = sorted(named, key=lambda g: (-named[g][0][1], g))
    rows = [_summarise(group, *named[group]) for group in groups]
    return [*rows, _summarise("all", overall, overall_spread)]


_GROUP_COLUMNS: dict[str, tuple[str, ...]] = {
    "network": ("hosting_network", "hosting_organisation"),
    "asn": ("hosting_asn",),
    "country": ("hosting_country",),
}


def _quoted(state: CaseState) -> str:
    return f"'{state.value}'"


_OPEN = ", ".join(sorted(_quoted(state) for state in OPEN_STATES))
_REMOVED = _quoted(CaseState.REMOVED)
_ALREADY_GONE = _quoted(CaseState.ALREADY_GONE)
_SEEN_LIVE = "first_seen_live_at IS NOT NULL"
"""The condition of the statistics' partial indexes (``STATISTICS_INDEXES`` in the models)."""
_TIMED = f"{_SEEN_LIVE} AND state = {_REMOVED} AND removal_seconds IS NOT NULL"
"""Removed, with a time to removal (set only for cases seen live: the others are already_gone)."""


def _tallies(
    reads: SqlReads, columns: tuple[str, ...]
) -> dict[tuple[Any, ...], tuple[int, int, int, int, int]]:
    """Per group: still open, removed, removed within a day, within a week, notice rounds.

    Grouped by state first, then the group: the order of the grouping's covering index, so the
    store walks it once without sorting (grouped by the group alone, SQLite picked another index
    and read the table: 1.9 s instead of 0.1 s on a million cases)."""
    grouped = ", ".join(columns)
    day, week = int(DAY.total_seconds()), int(7 * DAY.total_seconds())
    sql = (
        f"SELECT state, {grouped}, count(*), count(removal_seconds),"
        f" count(CASE WHEN removal_seconds <= {day} THEN 1 END),"
        f" count(CASE WHEN removal_seconds <= {week} THEN 1 END),"
        " coalesce(sum(notice_rounds), 0)"
        f' FROM "case" WHERE {_SEEN_LIVE} AND state IN ({_OPEN}, {_REMOVED})'
        f" GROUP BY state, {grouped}"
    )
    tallies: dict[tuple[Any, ...], tuple[int, int, int, int, int]] = {}
    for row in reads.stream(sql):
        state, key = row[0], tuple(row[1 : 1 + len(columns)])
        cases, timed, in_a_day, in_a_week, rounds = (int(n) for n in row[1 + len(columns) :])
        still_open, removed, within_day, within_week, notices = tallies.get(key, (0, 0, 0, 0, 0))
        if state == CaseState.REMOVED.value:
            tallies[key] = (
                still_open,
                removed + timed,
                within_day + in_a_day,
                within_week + in_a_week,
                notices + rounds,
            )
        else:
            tallies[key] = (still_open + cases, removed, within_day, within_week, notices + rounds)
    return tallies


STEP_FROM = 100
"""Removals per group, on average, from which SQLite steps to each group's neighbours instead of
walking every removal time (:func:`_spreads`): a step costs about a tenth of a millisecond a group,
a walk about a microsecond a removal. On a million cases, 400 groups of 500 removals took
0.02-0.05 s stepped and 0.13-0.37 s walked."""


def _spreads(
    reads: SqlReads, columns: tuple[str, ...], removed: dict[tuple[Any, ...], int]
) -> dict[tuple[Any, ...], tuple[float, float]]:
    """Median and 90th percentile of the time to removal per group, in seconds, as
    :func:`statistics.median` and ``statistics.quantiles(n=10, method="inclusive")`` give them:
    the value at position (n - 1) q of the sorted times, between its two neighbours.

    The grouping's covering index holds each group's removal times in order, so one walk of it
    gives every group's sorted times one after the other; only the neighbours are kept (``removed``:
    each group's count, from the tallies). The walk costs about a microsecond a removal; where
    groups are large, stepping to each group's neighbours (:func:`_spreads_stepped`, about a
    tenth of a millisecond a group) costs less. A window function (``row_number``, ``count`` over
    each group) did the same in the store at three times the cost on SQLite. On PostgreSQL the
    window is the faster way (:func:`_spreads_ranked_by_the_store`): there, reading every time
    through the driver costs more than ranking them in the store."""
    if reads.dialect == "postgresql":
        return _spreads_ranked_by_the_store(reads, columns, removed)
    timed = {key: size for key, size in removed.items() if size}
    if timed and sum(timed.values()) >= STEP_FROM * len(timed):
        return _spreads_stepped(reads, columns, timed)
    grouped = ", ".join(columns)
    sql = f'SELECT {grouped}, removal_seconds FROM "case" WHERE {_TIMED} ORDER BY {grouped}, removal_seconds'
    spreads: dict[tuple[Any, ...], tuple[float, float]] = {}
    group: tuple[Any, ...] | None = None
    rank, wanted, kept = 0, frozenset[int](), dict[int, float]()
    for row in reads.stream(sql):
        key = tuple(row[:-1])
        if key != group:
            if group is not None:
                spreads[group] = _spread(kept, removed[group])
            group, rank, kept = key, 0, {}
            wanted = _neighbours(removed[key])
        if rank in wanted:
            kept[rank] = float(row[-1])
        rank += 1
    if group is not None:
        spreads[group] = _spread(kept, removed[group])
    return spreads


def _spreads_stepped(
    reads: SqlReads, columns: tuple[str, ...], removed: dict[tuple[Any, ...], int]
) -> dict[tuple[Any, ...], tuple[float, float]]:
    """:func:`_spreads` (SQLite) by stepping: for each group, each pair of neighbours is one read
    of ``LIMIT 2 OFFSET`` the lower one along the group's stretch of the covering index."""
    spreads: dict[tuple[Any, ...], tuple[float, float]] = {}
    for key, size in removed.items():
        # "IS NULL" for a group without a value ("= NULL" matches nothing)
        terms = [
            f"{column} IS NULL" if value is None else f"{column} = ?"
            for column, value in zip(columns, key, strict=True)
        ]
        values = [value for value in key if value is not None]
        sql = (
            f'SELECT removal_seconds FROM "case" WHERE {_TIMED} AND {" AND ".join(terms)}'
            " ORDER BY removal_seconds LIMIT 2 OFFSET ?"
        )
        kept: dict[int, float] = {}
        for low in {(size - 1) * tenths // 10 for tenths in (5, 9)}:
            for step, (value,) in enumerate(reads.stream(sql, (*values, low))):
                kept[low + step] = float(value)
        spreads[key] = _spread(kept, size)
    return spreads


def _spreads_ranked_by_the_store(
    reads: SqlReads, columns: tuple[str, ...], removed: dict[tuple[Any, ...], int]
) -> dict[tuple[Any, ...], tuple[float, float]]:
    """:func:`_spreads` with the neighbours picked by the store: each group's times are ranked
    by a window over the same covering index, and only the ranks :func:`_neighbours` names come
    back (a million cases: 200,000 rows read through the driver took 0.25 s, this 0.16 s)."""
    grouped = ", ".join(columns)
    # Integer division of the bigint ranks: floor and ceiling of (size - 1) * tenths / 10.
    wanted = " OR ".join(f"rank = (last * {tenths} + {up}) / 10" for tenths in (5, 9) for up in (0, 9))
    sql = (
        f"SELECT {grouped}, rank, took FROM ("
        f"SELECT {grouped}, removal_seconds AS took,"
        f" row_number() OVER (PARTITION BY {grouped} ORDER BY removal_seconds) - 1 AS rank,"
        f" count(*) OVER (PARTITION BY {grouped}) - 1 AS last"
        f' FROM "case" WHERE {_TIMED}) AS ranked WHERE {wanted}'
    )
    kept: dict[tuple[Any, ...], dict[int, float]] = {}
    for row in reads.stream(sql):
        kept.setdefault(tuple(row[:-2]), {})[int(row[-2])] = float(row[-1])
    return {key: _spread(ranks, removed[key]) for key, ranks in kept.items()}


def _overall_spread(reads: SqlReads, removed: int) -> tuple[float | None, float | None]:
    """Median and p90 over every removal: a few steps along the removal-time index each."""
    if not removed:
        return None, None
    # removal_seconds is set only on removed cases, and its index holds exactly those.
    sql = (
        'SELECT removal_seconds FROM "case" WHERE removal_seconds IS NOT NULL'
        f" ORDER BY removal_seconds LIMIT 1 OFFSET {mark(reads)}"
    )
    kept: dict[int, float] = {}
    for rank in _neighbours(removed):
        [(value,)] = reads.stream(sql, (rank,))
        kept[rank] = float(value) if value is not None else 0.0
    return _spread(kept, removed)


def _neighbours(size: int) -> frozenset[int]:
    """The ranks the median and p90 of ``size`` sorted values are read from."""
    return frozenset(
        rank for tenths in (5, 9) for rank in ((size - 1) * tenths // 10, -(-(size - 1) * tenths // 10))
    )


def _spread(ranked: dict[int, float], size: int) -> tuple[float, float]:
    return _at(ranked, size, 5), _at(ranked, size, 9)


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


def _summarise(group: str, tally: tuple[int, ...], spread: tuple[float | None, float | None]) -> RemovalStats:
    still_open, removed, within_day, within_week, rounds = tally
    median, p90 = spread
    if not removed or median is None or p90 is None:
        return RemovalStats(group, 0, still_open, None, None, None, None, rounds)
    hour = 3600.0
    return RemovalStats(
        group=group,
        removed=removed,
        still_open=still_open,
        median_hours=round(median / hour, 2),
        p90_hours=round(p90 / hour, 2),
        within_24h=round(within_day / removed, 3),
        within_7d=round(within_week / removed, 3),
        notice_rounds=rounds,
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
