"""Revisits: deciding what a fetch says about a case, and recording it.

The crawler measures (status, digests, where it ended up, what went wrong); this module decides
what that means (live, changed, gone, unreachable, refused) and writes the check and the case's
new state in one transaction. The decision is a pure function so it can be tested on its own and
reused by anything else that checks a URL.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, literal, select, tuple_, update
from sqlalchemy.orm import Session

from takedown.case_moves import move
from takedown.hash_lists import lookup_many, near_many
from takedown.hash_matches import HashMatch
from takedown.models import Case, Check, CheckMatch, Event, Fingerprint
from takedown.pdq_index import DEFAULT_DISTANCE, MIN_PDQ_QUALITY
from takedown.policy import ChasePolicy
from takedown.states import OPEN_STATES, CaseState
from takedown.store import Store


class Outcome(StrEnum):
    LIVE = "live"
    """2xx, and the content matches a recorded fingerprint (or none was recorded)."""
    CHANGED = "changed"
    """2xx, fingerprints were recorded, and none matches: an analyst must look."""
    GONE = "gone"
    """404, 410, 451, NXDOMAIN, or a redirect to a 'removed/suspended' page."""
    UNREACHABLE = "unreachable"
    """Timeouts, refused or dropped connections, 5xx, redirect loops: transient, try again."""
    REFUSED = "refused"
    """The SSRF guard would not connect: the name points at a private or reserved address."""


GONE_STATUSES = frozenset({404, 410, 451})

DEFAULT_REMOVED_PAGE_PATTERNS = (
    r"(?i)/(account[-_]?)?(suspended|terminated|disabled|removed|deleted|banned|blocked)(\.[a-z]{2,5})?/?$",
    r"(?i)/(abuse|takedown|content[-_]?removed|dmca|notice)[-_a-z]*(\.[a-z]{2,5})?/?$",
    r"(?i)/cgi-sys/suspendedpage\.cgi$",
)


@dataclass(frozen=True)
class Fetch:
    """What one revisit observed. Never the body: digests and metadata only."""

    case_id: int
    checked_at: datetime
    http_status: int | None = None
    final_url: str | None = None
    redirect_chain: tuple[str, ...] = ()
    connected_ip: str | None = None
    sha256: str | None = None
    md5: str | None = None
    sha1: str | None = None
    pdq: str | None = None
    """The PDQ hash of an image body (computed in a worker process; the bytes are not kept)."""
    pdq_quality: int | None = None
    pdq_error: str | None = None
    size_bytes: int | None = None
    truncated: bool = False
    duration_ms: int | None = None
    error_class: str | None = None
    error_detail: str | None = None
    dns_status: str | None = None
    """From the resolver: ``nxdomain``, ``refused`` (SSRF guard), ``failed``... for a failed fetch."""
    declared_length: int | None = None
    content_type: str | None = None
    content_encoding: str | None = None
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class Prefix:
    """A previous live check of a body larger than the cap: what a truncated check compares with."""

    sha256: str
    size_bytes: int
    declared_length: int | None = None
    etag: str | None = None


@dataclass(frozen=True)
class Judgement:
    outcome: Outcome
    fingerprint_match: bool | None
    reason: str


@dataclass
class RevisitCadence:
    """When to look again, by outcome, and when a second "gone" confirms a removal."""

    after: dict[Outcome, timedelta] = field(
        default_factory=lambda: {
            Outcome.LIVE: timedelta(hours=6),
            Outcome.CHANGED: timedelta(hours=24),
            Outcome.GONE: timedelta(hours=12),
            Outcome.UNREACHABLE: timedelta(hours=1),
            Outcome.REFUSED: timedelta(hours=24),
        }
    )
    confirm_removal_after: timedelta = timedelta(hours=12)

    @classmethod
    def from_policy(cls, policy: ChasePolicy) -> RevisitCadence:
        return cls(
            after={outcome: policy.revisit_after[outcome.value] for outcome in Outcome},
            confirm_removal_after=policy.confirm_removal_after,
        )


def judge(
    fetch: Fetch,
    fingerprints: Sequence[tuple[str, str]],
    removed_patterns: Sequence[str],
    previous: Prefix | None = None,
) -> Judgement:
    """Decide what ``fetch`` says about content whose assessed fingerprints are ``fingerprints``;
    ``previous`` is the case's last live check that was truncated, for a truncated ``fetch``."""
    if fetch.error_class == "DecompressionBomb":
        return Judgement(Outcome.REFUSED, None, fetch.error_detail or "a decompression bomb")
    if fetch.dns_status == "refused":
        return Judgement(Outcome.REFUSED, None, fetch.error_detail or "refused by the SSRF guard")
    if fetch.dns_status == "nxdomain":
        return Judgement(Outcome.GONE, None, "the host name no longer exists (NXDOMAIN)")
    if fetch.dns_status == "no_address":
        return Judgement(Outcome.GONE, None, "the host name has no address any more")
    status = fetch.http_status
    if status is None:
        return Judgement(Outcome.UNREACHABLE, None, fetch.error_detail or fetch.error_class or "no response")
    if status in GONE_STATUSES:
        return Judgement(Outcome.GONE, None, f"HTTP {status}")
    if fetch.redirect_chain and fetch.final_url and _matches_any(fetch.final_url, removed_patterns):
        return Judgement(Outcome.GONE, None, f"redirected to a removal page: {fetch.final_url}")
    if not 200 <= status < 300:
        return Judgement(Outcome.UNREACHABLE, None, f"HTTP {status}")
    if fetch.error_class == "UndecodableBody":
        return Judgement(
            Outcome.UNREACHABLE, None, f"HTTP {status}; {fetch.error_detail or 'body not decodable'}"
        )
    if fetch.truncated:
        return _judge_prefix(fetch, status, previous)
    if not fingerprints:
        return Judgement(Outcome.LIVE, None, f"HTTP {status}; no fingerprint recorded to compare")
    observed = {("sha256", fetch.sha256), ("md5", fetch.md5), ("sha1", fetch.sha1)}
    if any(pair in observed for pair in fingerprints):
        return Judgement(Outcome.LIVE, True, f"HTTP {status}; fingerprint matches")
    return Judgement(
        Outcome.CHANGED, False, f"HTTP {status}; content differs from every recorded fingerprint"
    )


def _judge_prefix(fetch: Fetch, status: int, previous: Prefix | None) -> Judgement:
    """A body larger than the cap: only its first ``size_bytes`` were hashed.

    A digest of the whole file (the analyst's) cannot be compared with a digest of its beginning,
    so the first such check is taken as live (the URL was confirmed, and serves a large file) and
    its prefix fingerprint becomes the reference; each later one is live when its prefix matches
    the last live one's, and changed when it does not (another file now stands at the URL).
    """
    declared = f", {fetch.declared_length} bytes declared" if fetch.declared_length else ""
    size = fetch.size_bytes or 0
    if previous is None or previous.size_bytes != size:
        return Judgement(
            Outcome.LIVE,
            None,
            f"HTTP {status}; larger than the cap{declared}: the first {size} bytes fingerprinted, "
            "kept to compare with the next check (a whole-file digest cannot match a prefix)",
        )
    if previous.sha256 == fetch.sha256:
        validators = ""
        if previous.etag and fetch.etag and previous.etag != fetch.etag:
            validators = " (its ETag changed)"
        return Judgement(
            Outcome.LIVE, None, f"HTTP {status}; the first {size} bytes match the last check's{validators}"
        )
    return Judgement(
        Outcome.CHANGED, False, f"HTTP {status}; the first {size} bytes differ from the last live check's"
    )


def _matches_any(url: str, patterns: Sequence[str]) -> bool:
    path = re.sub(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/]*", "", url).split("?", 1)[0]
    return any(re.search(pattern, path) for pattern in patterns)


_STATE_FOR = {
    Outcome.LIVE: CaseState.LIVE,
    Outcome.CHANGED: CaseState.CHANGED,
    Outcome.GONE: CaseState.GONE,
    Outcome.UNREACHABLE: CaseState.UNREACHABLE,
}


@dataclass(frozen=True)
class Recorded:
    check_id: int
    judgement: Judgement


def record_fetches(
    session: Session,
    fetches: Sequence[Fetch],
    *,
    removed_patterns: Sequence[str] = DEFAULT_REMOVED_PAGE_PATTERNS,
    cadence: RevisitCadence | None = None,
    actor: str = "revisit",
    pdq_distance: int = DEFAULT_DISTANCE,
) -> list[Recorded | None]:
    """Write a check per fetch and move each case, in the caller's transaction; one result per
    fetch, ``None`` where the case is gone or closed (withdrawn while the fetch was in flight).

    Set-based: two queries load the cases and their fingerprints, one INSERT writes the checks, one
    executemany UPDATE the cases, one INSERT the events. The ORM, object by object with a flush per
    check, cost 1.5 ms a check and starved the crawler; loading and flushing ORM objects by the
    batch still cost 0.23 ms.
    """
    cadence = cadence or RevisitCadence()
    after = cadence.after
    case_ids = sorted({f.case_id for f in fetches})
    cases = _load_cases(session, case_ids)
    prefixes = _last_prefixes(session, [f.case_id for f in fetches if f.truncated])
    planned: list[tuple[int, Fetch, _CaseRow, Judgement]] = []
    for index, fetch in enumerate(fetches):
        case = cases.get(fetch.case_id)
        if case is None or not case.is_open:
            continue
        judgement = judge(fetch, case.fingerprints, removed_patterns, prefixes.get(fetch.case_id))
        planned.append((index, fetch, case, judgement))
    results: list[Recorded | None] = [None] * len(fetches)
    if not planned:
        return results
    listed = _listed(session, [f for _, f, _, judgement in planned if _served(judgement)], pdq_distance)
    planned = [
        (index, fetch, case, _still_known(judgement, case, listed.get(fetch.case_id, [])))
        for index, fetch, case, judgement in planned
    ]

    check_ids = session.scalars(
        insert(Check).returning(Check.id, sort_by_parameter_order=True),
        [_check_row(fetch, judgement) for _, fetch, _, judgement in planned],
    ).all()
    events = []
    for (index, fetch, case, judgement), check_id in zip(planned, check_ids, strict=True):
        now = fetch.checked_at
        case.last_checked_at = now
        case.updated_at = now
        if judgement.outcome is Outcome.LIVE:
            case.first_seen_live_at = case.first_seen_live_at or now
            case.last_seen_live_at = now
            case.gone_since = None
            if case.first_notice_at is None and case.next_notice_at is None:
                case.next_notice_at = now  # the first notice goes as soon as the content is confirmed live
        elif judgement.outcome is Outcome.GONE:
            case.gone_since = case.gone_since or now
        target = _STATE_FOR.get(judgement.outcome)
        if (
            target is CaseState.GONE
            and case.state == CaseState.GONE.value
            and case.gone_since is not None
            and now - case.gone_since >= cadence.confirm_removal_after
        ):
            # A second look, long enough after the first, agrees: the removal is confirmed. It is
            # dated from the first sighting, which is when the content was last known to be gone.
            # Content never seen live was already gone: nothing was taken down, and nothing timed.
            if case.first_seen_live_at is None:
                target = CaseState.ALREADY_GONE
            else:
                target = CaseState.REMOVED
                case.removed_at = case.gone_since
        if target is not None and target.value != case.state:
            detail = {"check": check_id, "reason": judgement.reason}
            events.append(move(case, target, actor=actor, now=now, action="revisit", detail=detail))
        if case.is_open:
            case.next_check_at = now + after[judgement.outcome]
        results[index] = Recorded(check_id, judgement)
    _write_cases(session, {case.id: case for _, _, case, _ in planned}.values())
    if events:
        session.execute(insert(Event), events)
    matched = [
        {"check_id": check_id, **_match_row(match)}
        for (_, fetch, _, judgement), check_id in zip(planned, check_ids, strict=True)
        if _served(judgement)
        for match in listed.get(fetch.case_id, [])
    ]
    if matched:
        session.execute(insert(CheckMatch), matched)
    return results


def _served(judgement: Judgement) -> bool:
    """The check read a whole body (live or changed): its digests are worth looking up."""
    return judgement.outcome in (Outcome.LIVE, Outcome.CHANGED)


def _listed(session: Session, fetches: Sequence[Fetch], pdq_distance: int) -> dict[int, list[HashMatch]]:
    return list_matches(session, {f.case_id: f for f in fetches}, pdq_distance=pdq_distance)


def list_matches(
    session: Session, bodies: Mapping[int, Fetch], *, pdq_distance: int = DEFAULT_DISTANCE
) -> dict[int, list[HashMatch]]:
    """What the hash lists in use know of each fetched body (keyed as given): by exact digest, a
    query per algorithm for the whole batch, not one per check; by PDQ hash for images of good
    enough quality, within ``pdq_distance``. A body cut at the size cap has no whole-file digest."""
    if not bodies:
        return {}
    digests = {
        key: {"sha256": f.sha256, "md5": f.md5, "sha1": f.sha1}
        for key, f in bodies.items()
        if not f.truncated
    }
    found = lookup_many(session, digests)
    images = {key: f.pdq for key, f in bodies.items() if f.pdq and (f.pdq_quality or 0) >= MIN_PDQ_QUALITY}
    for key, matches in near_many(session, images, max_distance=pdq_distance).items():
        found.setdefault(key, []).extend(matches)
    return found


def _still_known(judgement: Judgement, case: _CaseRow, matches: list[HashMatch]) -> Judgement:
    """A changed body that a list in use knows as imagery of the case's own category is the same
    kind of content, re-encoded or swapped for another known file: still live, not changed."""
    if judgement.outcome is not Outcome.CHANGED:
        return judgement
    same = next((m for m in matches if m.category in (None, case.category)), None)
    if same is None:
        return judgement
    reason = (
        f"{judgement.reason}; but it matches list {same.list}"
        f" (entry {same.reference or '-'}, {same.algorithm}): still known imagery"
    )
    return Judgement(Outcome.LIVE, False, reason)


def _match_row(match: HashMatch) -> dict[str, Any]:
    return {
        "list_name": match.list,
        "list_version": match.version,
        "algorithm": match.algorithm,
        "reference": match.reference,
        "category": match.category,
        "distance": match.distance,
    }


_CASE_TABLE = cast(Table, Case.__table__)
_MOVING = (
    "state",
    "updated_at",
    "first_seen_live_at",
    "last_seen_live_at",
    "last_checked_at",
    "first_notice_at",
    "next_notice_at",
    "next_check_at",
    "gone_since",
    "removed_at",
    "closed_at",
    "removal_seconds",
)
"""The columns a check can change on its case: read with the case; those it changed are written back."""


@functools.cache
def _case_update(columns: tuple[str, ...]) -> Any:
    """UPDATE of these columns of one case (executemany: one statement per set of columns)."""
    return (
        update(_CASE_TABLE)
        .where(_CASE_TABLE.c.id == bindparam("case_id"))
        .values({name: bindparam(f"new_{name}") for name in columns})
    )


@dataclass
class _CaseRow:
    """What recording a check reads and changes of a case: plain values, not an ORM object, so a
    batch of checks is one SELECT and one executemany UPDATE (the ORM's load and flush were most
    of the cost of recording a check)."""

    id: int
    state: str
    updated_at: datetime
    first_seen_live_at: datetime | None
    last_seen_live_at: datetime | None
    last_checked_at: datetime | None
    first_notice_at: datetime | None
    next_notice_at: datetime | None
    next_check_at: datetime | None
    gone_since: datetime | None
    removed_at: datetime | None
    closed_at: datetime | None
    removal_seconds: float | None
    category: str | None = None
    fingerprints: list[tuple[str, str]] = field(default_factory=list)
    loaded: dict[str, Any] = field(default_factory=dict)
    """The values as read, so only what changed is written: a column nobody touched here (a
    notice's dates, set by the composer meanwhile) is never written back from a stale read."""

    def __post_init__(self) -> None:
        self.loaded = {name: getattr(self, name) for name in _MOVING}

    @property
    def is_open(self) -> bool:
        return CaseState(self.state) in OPEN_STATES

    def changed(self) -> tuple[str, ...]:
        return tuple(name for name in _MOVING if getattr(self, name) != self.loaded[name])


def _load_cases(session: Session, case_ids: list[int]) -> dict[int, _CaseRow]:
    if not case_ids:
        return {}
    columns = [_CASE_TABLE.c.id, _CASE_TABLE.c.category, *(_CASE_TABLE.c[name] for name in _MOVING)]
    cases = {
        row.id: _CaseRow(**row._mapping)
        for row in session.execute(select(*columns).where(_CASE_TABLE.c.id.in_(case_ids)))
    }
    rows = session.execute(
        select(Fingerprint.case_id, Fingerprint.algorithm, Fingerprint.digest)
        .where(Fingerprint.case_id.in_(case_ids))
        .order_by(Fingerprint.id)
    )
    for case_id, algorithm, digest in rows:
        cases[case_id].fingerprints.append((algorithm, digest))
    return cases


def _write_cases(session: Session, cases: Iterable[_CaseRow]) -> None:
    """Write what changed of each case, one executemany per set of changed columns; ORM copies of
    them in ``session`` are expired so nobody reads a stale one."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    written: set[int] = set()
    for case in cases:
        columns = case.changed()
        if columns:
            values = {f"new_{name}": getattr(case, name) for name in columns}
            groups.setdefault(columns, []).append({"case_id": case.id, **values})
            written.add(case.id)
    for columns, rows in groups.items():
        session.execute(_case_update(columns), rows)
    for held in list(session.identity_map.values()):
        if isinstance(held, Case) and held.id in written:
            session.expire(held)


def _last_prefixes(session: Session, case_ids: list[int]) -> dict[int, Prefix]:
    """Each case's last live check that hashed only a prefix (a body larger than the cap)."""
    if not case_ids:
        return {}
    latest = (
        select(func.max(Check.id))
        .where(Check.case_id.in_(sorted(set(case_ids))), Check.outcome == Outcome.LIVE.value, Check.truncated)
        .group_by(Check.case_id)
    )
    rows = session.execute(
        select(Check.case_id, Check.sha256, Check.size_bytes, Check.declared_length, Check.etag).where(
            Check.id.in_(latest)
        )
    )
    return {
        row.case_id: Prefix(row.sha256, row.size_bytes, row.declared_length, row.etag)
        for row in rows
        if row.sha256 and row.size_bytes is not None
    }


def _check_row(fetch: Fetch, judgement: Judgement) -> dict[str, object]:
    return {
        "case_id": fetch.case_id,
        "checked_at": fetch.checked_at,
        "outcome": judgement.outcome.value,
        "http_status": fetch.http_status,
        "final_url": fetch.final_url,
        "redirect_chain": list(fetch.redirect_chain) or None,
        "connected_ip": fetch.connected_ip,
        "sha256": fetch.sha256,
        "md5": fetch.md5,
        "sha1": fetch.sha1,
        "pdq": fetch.pdq,
        "pdq_quality": fetch.pdq_quality,
        "pdq_error": fetch.pdq_error[:300] if fetch.pdq_error else None,
        "fingerprint_match": judgement.fingerprint_match,
        "size_bytes": fetch.size_bytes,
        "truncated": fetch.truncated,
        "declared_length": fetch.declared_length,
        "content_type": fetch.content_type,
        "content_encoding": fetch.content_encoding,
        "etag": fetch.etag,
        "last_modified": fetch.last_modified,
        "duration_ms": fetch.duration_ms,
        "error_class": fetch.error_class,
        "error_detail": (fetch.error_detail or "")[:500] or None,
    }


@dataclass(frozen=True)
class DueCase:
    """What the crawler needs to revisit a case: no ORM object crosses into Twisted."""

    id: int
    url: str


def due_cases(
    store: Store,
    *,
    now: datetime,
    page_size: int = 500,
    case_ids: Sequence[int] = (),
    hosts: frozenset[str] | None = None,
) -> Iterator[DueCase]:
    """Open cases due for a revisit, most overdue first (or exactly ``case_ids``), a page at a time;
    ``hosts``: only the due cases on these host names (one crawl's share of several).

    Keyset paging on (next_check_at, id) over its index: each page costs one index walk of
    ``page_size`` rows, so time per page and memory stay flat however large the backlog. (Paging by
    id with a due filter made every page scan and sort the whole backlog.)
    """
    open_states = [state.value for state in OPEN_STATES]
    if case_ids:
        yield from _named_cases(store, sorted(set(case_ids)), open_states, page_size)
        return
    if hosts is not None:
        yield from (
            DueCase(case.id, case.url)
            for case in _due(store, now, page_size, open_states, with_host=True)
            if case.host in hosts
        )
        return
    yield from (DueCase(case.id, case.url) for case in _due(store, now, page_size, open_states))


def due_hosts(store: Store, *, now: datetime) -> dict[str, int]:
    """The host names of the open cases due at ``now``, in order, each with how many of its cases
    are due (what a crawl over several processes shares out, and how much work there is)."""
    open_states = [state.value for state in OPEN_STATES]
    with store.reading() as session:
        rows = session.execute(
            select(Case.host, func.count())
            .where(Case.next_check_at <= now, Case.state.in_(open_states))
            .group_by(Case.host)
            .order_by(Case.host)
        )
        return {host: count for host, count in rows}


@dataclass(frozen=True)
class _DueRow:
    id: int
    url: str
    host: str


def _due(
    store: Store, now: datetime, page_size: int, open_states: list[str], *, with_host: bool = False
) -> Iterator[_DueRow]:
    last: tuple[datetime, int] | None = None
    while True:
        host = Case.host.label("host") if with_host else literal("").label("host")
        query = select(Case.id, Case.url, Case.next_check_at, host).where(
            Case.next_check_at <= now, Case.state.in_(open_states)
        )
        if last is not None:
            query = query.where(tuple_(Case.next_check_at, Case.id) > tuple_(*last))
        with store.reading() as session:
            page = session.execute(query.order_by(Case.next_check_at, Case.id).limit(page_size)).all()
        for case_id, url, _, name in page:
            yield _DueRow(case_id, url, str(name))
        if len(page) < page_size:
            return
        last = (page[-1].next_check_at, page[-1].id)


def _named_cases(store: Store, ids: list[int], open_states: list[str], page_size: int) -> Iterator[DueCase]:
    for start in range(0, len(ids), page_size):
        chunk = ids[start : start + page_size]
        with store.reading() as session:
            rows = session.execute(
                select(Case.id, Case.url)
                .where(Case.id.in_(chunk), Case.state.in_(open_states))
                .order_by(Case.id)
            ).all()
        for case_id, url in rows:
            yield DueCase(case_id, url)
