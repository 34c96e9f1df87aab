"""The case lifecycle: reading cases, moving them between states, and the audit trail of each move.

Every change of state goes through :func:`transition`, which refuses moves the lifecycle does not
allow and writes the event in the same transaction as the change: there is no state without the
event that explains it. The notice schedule of a case (its rounds, when the next one is due, when
it was first notified, whether an analyst must act) is changed here too, and only here: the
composer, the outbox and the chase call these functions inside their own transactions.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import astuple, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVarTuple

from sqlalchemy import (
    ColumnElement,
    Select,
    TextClause,
    and_,
    func,
    insert,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.orm import Session, selectinload

from takedown.case_listing import listed_cases
from takedown.case_moves import event_row, move
from takedown.case_views import CaseDetail, CaseFilter, CaseSummary, ListedCase
from takedown.errors import CaseNotFound, InvalidTransition
from takedown.models import Case, Check, Event, Fingerprint
from takedown.sql_reads import LONG_READ_PAGE, SessionReads
from takedown.sql_writes import writing
from takedown.states import OPEN_CASE_SQL, OPEN_STATES, CaseState
from takedown.tallies import case_counts

if TYPE_CHECKING:
    from takedown.sql_writes import WriteTarget

EVERY_CASE = CaseFilter()
Ts = TypeVarTuple("Ts")


def get_case(session: Session, case_id: int, *, with_history: bool = False) -> Case:
    query = select(Case).where(Case.id == case_id)
    if with_history:
        query = query.options(
            selectinload(Case.events), selectinload(Case.fingerprints), selectinload(Case.checks)
        )
    case = session.scalars(query).one_or_none()
    if case is None:
        raise CaseNotFound(case_id)
    return case


def show_case(session: Session, case_id: int) -> CaseDetail:
    """A case with its fingerprints and timeline; :class:`CaseNotFound` if there is none."""
    return CaseDetail.of(get_case(session, case_id, with_history=True))


def case_summary(session: Session, case_id: int) -> CaseSummary:
    """One case as a list shows it; :class:`CaseNotFound` if there is none."""
    return CaseSummary.of(get_case(session, case_id))


_SUMMARY_COLUMNS = (Case.id, Case.state, Case.url, Case.host, Case.category, Case.reference, Case.queued_at)


def _filtered(query: Select[*Ts], wanted: CaseFilter) -> Select[*Ts]:
    query = _after(query, wanted)
    if wanted.needs_analyst:
        # The bare column, as the partial index ix_case_needs_analyst is written: few rows to read.
        query = query.where(Case.needs_analyst, Case.state.in_([s.value for s in OPEN_STATES]))
    if len(wanted.states) == 1:  # "=", not "IN (...)": SQLite then uses a state's partial index
        query = query.where(Case.state == wanted.states[0].value)
    elif wanted.states:
        query = query.where(Case.state.in_([state.value for state in wanted.states]))
    if wanted.host:
        query = query.where(Case.host == wanted.host.lower())
    if wanted.reference:
        query = query.where(Case.reference == wanted.reference)
    if wanted.category:
        query = query.where(Case.category == wanted.category)
    if wanted.country:
        query = query.where(Case.hosting_country == wanted.country.upper())
    if wanted.asn is not None:
        query = query.where(Case.hosting_asn == wanted.asn)
    if wanted.network:
        query = query.where(Case.hosting_network == wanted.network)
    if wanted.queued_from is not None:
        query = query.where(Case.queued_at >= wanted.queued_from)
    if wanted.queued_before is not None:
        query = query.where(Case.queued_at < wanted.queued_before)
    return query


def _after(query: Select[*Ts], wanted: CaseFilter) -> Select[*Ts]:
    """Keyset paging: the cases after ``wanted.after_id`` in the list's order."""
    if not wanted.after_id:
        return query
    if not wanted.by_queued_time:
        return query.where(Case.id < wanted.after_id if wanted.newest_first else Case.id > wanted.after_id)
    # In queued-time order the cursor is (queued_at, id); the page before ended at after_id.
    cursor = tuple_(
        select(Case.queued_at).where(Case.id == wanted.after_id).scalar_subquery(), wanted.after_id
    )
    key = tuple_(Case.queued_at, Case.id)
    return query.where(key < cursor if wanted.newest_first else key > cursor)


def _ordered(query: Select[*Ts], wanted: CaseFilter) -> Select[*Ts]:
    keys = (Case.queued_at, Case.id) if wanted.by_queued_time else (Case.id,)
    return query.order_by(*(key.desc() for key in keys) if wanted.newest_first else keys)


def iter_cases(
    session: Session, wanted: CaseFilter = EVERY_CASE, *, limit: int | None = 100
) -> Iterator[CaseSummary]:
    """Cases in the order they were queued (see :class:`CaseFilter`), filtered, as they come from
    the store: a million rows never sit in memory at once (the driver's cursor is read in pages).
    Page with ``after_id`` (keyset paging stays fast at any depth)."""
    query = _ordered(_filtered(select(*_SUMMARY_COLUMNS), wanted), wanted)
    if limit is not None:
        query = query.limit(limit)
    state_named = {state.value: state for state in CaseState}
    # Core, not the ORM's select: the same rows a third faster, and these are plain columns. The
    # session's pending changes are flushed first, as its own queries would (autoflush).
    session.flush()
    rows = session.connection().execute(query, execution_options={"yield_per": LONG_READ_PAGE})
    for case_id, state, url, host, category, reference, queued_at in rows:
        yield CaseSummary(case_id, state_named[state], url, host, category, reference, queued_at)


class SessionCaseReads:
    """The terminal's case reads (:class:`takedown.direct_reads.CaseReads`) in a store session:
    what answers when the direct reads cannot (a long listing, a store to upgrade first)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def iter_listed(self, wanted: CaseFilter, *, limit: int | None) -> Iterator[ListedCase]:
        return listed_cases(SessionReads(self.session), wanted, limit=limit)

    def count_cases(self, wanted: CaseFilter) -> int:
        return count_cases(self.session, wanted)

    def show_case(self, case_id: int) -> CaseDetail:
        return show_case(self.session, case_id)


def list_cases(
    session: Session, wanted: CaseFilter = EVERY_CASE, *, limit: int | None = 100
) -> list[CaseSummary]:
    """:func:`iter_cases`, all at once: for pages and small stores."""
    return list(iter_cases(session, wanted, limit=limit))


def count_cases(session: Session, wanted: CaseFilter = EVERY_CASE) -> int:
    """How many cases match: by state and for an analyst, read from the running counts (a few
    rows, whatever the store's size); with any other filter, counted by the store (an index scan,
    not a million rows read)."""
    if wanted.by_state_only:
        return wanted.counted_in(case_counts(session))
    return int(session.scalar(_filtered(select(func.count(Case.id)), wanted)) or 0)


def transition(
    session: Session,
    case: Case,
    target: CaseState,
    *,
    actor: str,
    now: datetime,
    action: str | None = None,
    detail: dict[str, Any] | None = None,
) -> Event:
    """Move ``case`` to ``target`` and record why; raise :class:`InvalidTransition` if not allowed."""
    event = Event(**move(case, target, actor=actor, now=now, action=action, detail=detail))
    session.add(event)
    return event


def live_case_ids(session: Session) -> list[int]:
    """Every case the last revisit found live, oldest first."""
    return list(session.scalars(select(Case.id).where(Case.state == CaseState.LIVE.value).order_by(Case.id)))


def live_among(session: Session, case_ids: Sequence[int]) -> list[int]:
    """Those of ``case_ids`` the last revisit found live, in id order."""
    wanted = sorted(set(case_ids))
    if not wanted:
        return []
    query = select(Case.id).where(Case.id.in_(wanted), Case.state == CaseState.LIVE.value)
    return list(session.scalars(query.order_by(Case.id)))


def open_case() -> TextClause:
    """A case is open, said as the unique index of open cases' URLs says it
    (:data:`takedown.states.OPEN_CASE_SQL`), so that a lookup of a URL's open case can use it."""
    return text(OPEN_CASE_SQL)


def notice_due(now: datetime) -> ColumnElement[bool]:
    """A case due a notice round at ``now``: still live, and its next round's time has come."""
    return and_(Case.next_notice_at <= now, Case.state == CaseState.LIVE.value)


def take_for_notice_round(
    session: Session, case_ids: Sequence[int], *, now: datetime, next_notice_at: datetime | None
) -> int:
    """Count a notice round for those of ``case_ids`` still due, and plan their next one; how many
    were taken (fewer than asked: another round took some meanwhile)."""
    if not case_ids:
        return 0
    moved = session.execute(
        update(Case)
        .where(Case.id.in_(case_ids), notice_due(now))
        .values(next_notice_at=next_notice_at, notice_rounds=Case.notice_rounds + 1)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(moved, "rowcount", -1))


def put_off_notice(session: Session, case_id: int, *, now: datetime, until: datetime) -> int:
    """Put off a due case's notice round without counting it (its lookup failed); 1 if it was due."""
    moved = session.execute(
        update(Case)
        .where(Case.id == case_id, notice_due(now))
        .values(next_notice_at=until)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(moved, "rowcount", -1))


def mark_notified(session: Session, case_ids: Sequence[int], *, now: datetime) -> None:
    """A notice about these cases was delivered (or may have been): the first one dates them."""
    if case_ids:
        session.execute(
            update(Case)
            .where(Case.id.in_(case_ids), Case.first_notice_at.is_(None))
            .values(first_notice_at=now)
            .execution_options(synchronize_session=False)
        )


def ask_an_analyst(
    session: Session, case_ids: Sequence[int], *, now: datetime, actor: str, reason: str
) -> list[int]:
    """Stop chasing those of ``case_ids`` still due and flag them for an analyst, with an event."""
    flagged = list(
        session.scalars(
            update(Case)
            .where(Case.id.in_(case_ids), notice_due(now))
            .values(needs_analyst=True, next_notice_at=None)
            .returning(Case.id)
        )
    )
    if flagged:
        session.execute(
            insert(Event),
            [event_row(cid, now, actor, "needs_analyst", {"reason": reason}) for cid in flagged],
        )
    return flagged


@dataclass(frozen=True, slots=True)
class HostedAt:
    """Where a case was last resolved to be hosted: what statistics group it by."""

    case_id: int
    network: str | None
    organisation: str | None
    asn: int | None
    country: str | None


def record_hosted_at(target: WriteTarget, found: Sequence[HostedAt]) -> None:
    """Keep each case's latest hosting on the case (hosting resolution calls this with every
    resolution it records), in the caller's transaction, in one statement. A case named twice
    keeps the later, as the statements one by one would leave it."""
    found = list({row.case_id: row for row in found}.values())
    if not found:
        return
    with writing(target) as writes:
        if writes.dialect == "postgresql":
            # One statement over arrays: a statement per case cost PostgreSQL a plan and an index
            # lookup each (5,000 cases: 1.2 s). SQLite runs its prepared statement per row in-process.
            writes.execute(
                'UPDATE "case" SET hosting_network = found.network, '
                "hosting_organisation = found.organisation, hosting_asn = found.asn, "
                "hosting_country = found.country "
                "FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::integer[], %s::text[]) "
                "AS found (id, network, organisation, asn, country) "
                'WHERE "case".id = found.id',
                [list(column) for column in zip(*(astuple(row) for row in found), strict=True)],
            )
            return
        writes.execute_many(
            'UPDATE "case" SET hosting_network = ?, hosting_organisation = ?, hosting_asn = ?, '
            "hosting_country = ? WHERE id = ?",
            [(row.network, row.organisation, row.asn, row.country, row.case_id) for row in found],
        )


MAX_NOTE_LENGTH = 4000


def recheck_now(session: Session, case_ids: Sequence[int], *, actor: str, now: datetime) -> list[int]:
    """Bring the next revisit of those of ``case_ids`` still open forward to ``now``; the crawl
    takes them in its next run. Returns the ids moved (closed cases are left alone)."""
    moved = list(
        session.scalars(
            update(Case)
            .where(Case.id.in_(case_ids), Case.state.in_([state.value for state in OPEN_STATES]))
            .values(next_check_at=now, updated_at=now)
            .returning(Case.id)
            .execution_options(synchronize_session=False)
        )
    )
    if moved:
        session.execute(
            insert(Event), [event_row(case_id, now, actor, "recheck_requested") for case_id in moved]
        )
    return sorted(moved)


def resume_chase(session: Session, case_ids: Sequence[int], *, actor: str, now: datetime) -> list[int]:
    """An analyst has looked at cases the chase gave up on and wants it to go on: the flag is
    cleared and the next notice round is due now (the policy decides what it sends)."""
    moved = list(
        session.scalars(
            update(Case)
            .where(Case.id.in_(case_ids), Case.needs_analyst.is_(True), Case.state == CaseState.LIVE.value)
            .values(needs_analyst=False, next_notice_at=now, updated_at=now)
            .returning(Case.id)
            .execution_options(synchronize_session=False)
        )
    )
    if moved:
        session.execute(insert(Event), [event_row(case_id, now, actor, "chase_resumed") for case_id in moved])
    return sorted(moved)


def add_note(session: Session, case_id: int, text: str, *, actor: str, now: datetime) -> None:
    """A note on the case's trail, for the next analyst (and for an auditor)."""
    text = text.strip()
    if not text:
        raise InvalidTransition("a note needs some text")
    if len(text) > MAX_NOTE_LENGTH:
        raise InvalidTransition(f"the note is {len(text)} characters long; the limit is {MAX_NOTE_LENGTH}")
    get_case(session, case_id)
    session.add(Event(**event_row(case_id, now, actor, "note", {"text": text})))


def reported_again(
    session: Session, case_ids: Sequence[int], *, portal: str, report: str, now: datetime
) -> None:
    """The public reported these open cases' URLs again, through portal ``portal``: a line on each
    case's trail (the report's reference, never anything about the reporter); nothing to assess."""
    rows = [
        event_row(case_id, now, f"portal:{portal}", "reported_again", {"report": report})
        for case_id in case_ids
    ]
    if rows:
        session.execute(insert(Event), rows)


def confirm_changed(session: Session, case_id: int, *, actor: str, now: datetime) -> CaseSummary:
    """An analyst looked again at a ``changed`` case and found the reported content still there
    (re-encoded, resized): the digests of the last revisit become fingerprints of the case, so the
    next revisits match them, and the case is live again and chased as before."""
    case = get_case(session, case_id)
    if CaseState(case.state) is not CaseState.CHANGED:
        raise InvalidTransition(f"case {case_id} is {case.state}, not changed; there is nothing to decide")
    last = session.scalar(
        select(Check)
        .where(Check.case_id == case_id, Check.outcome == "changed")
        .order_by(Check.id.desc())
        .limit(1)
    )
    adopted = []
    if last is not None:
        known = {(f.algorithm, f.digest) for f in case.fingerprints}
        for algorithm, digest in (("sha256", last.sha256), ("md5", last.md5)):
            if digest and (algorithm, digest) not in known:
                case.fingerprints.append(Fingerprint(algorithm=algorithm, digest=digest))
                adopted.append(f"{algorithm}:{digest}")
    case.needs_analyst = False
    transition(
        session, case, CaseState.LIVE, actor=actor, now=now, action="confirmed_changed",
        detail={"fingerprints_added": adopted},
    )  # fmt: skip
    return CaseSummary.of(case)
