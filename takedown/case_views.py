"""What the case operations give back: plain, frozen records, never the ORM rows themselves, so a
face can keep them after the session closes and serialise them with :func:`takedown.plain.plain`
(the CLI's ``--json`` and the console's JSON API print the same thing)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from json.encoder import encode_basestring as _json_text  # the encoder's own string writer
from typing import TYPE_CHECKING, Any

from takedown.plain import iso
from takedown.states import OPEN_STATES, CaseState

if TYPE_CHECKING:  # the records are built from rows, but faces import them without the store
    from takedown.models import Case, Event


@dataclass(frozen=True, slots=True)
class CaseFilter:
    """Which cases a list or a count wants, and in which order. Empty: all of them, oldest first.

    Lists are in the order cases were queued: by id, or, when queued dates are asked for, by the
    time they were queued (then id), so that the date range is one walk of its index. Either way
    ``after_id`` pages: the next page starts after that case, in the list's order."""

    states: tuple[CaseState, ...] = ()
    host: str | None = None
    """ASCII (punycode) host name, any case."""
    needs_analyst: bool = False
    """Only open cases the chase has given up on."""
    after_id: int = 0
    """Keyset paging: only cases after this one in the list's order (0: from the start)."""
    newest_first: bool = False
    queued_from: datetime | None = None
    """Only cases queued at or after this time (UTC)."""
    queued_before: datetime | None = None
    """Only cases queued before this time (UTC)."""
    reference: str | None = None
    """The analyst's reference, exactly."""
    category: str | None = None
    country: str | None = None
    """Where the case was last resolved to be hosted: ISO country code."""
    asn: int | None = None
    network: str | None = None
    """The hosting network as resolved (``192.0.2.0/24``)."""

    @property
    def by_state_only(self) -> bool:
        """Nothing asked but states or the analyst's flag: the running counts answer it."""
        return self.after_id == 0 and not any(
            value is not None
            for value in (
                self.host,
                self.reference,
                self.category,
                self.country,
                self.asn,
                self.network,
                self.queued_from,
                self.queued_before,
            )
        )

    def counted_in(self, counts: Mapping[tuple[CaseState, bool], int]) -> int:
        """How many cases match, from the running counts by (state, needs_analyst): for a filter
        :attr:`by_state_only`, whichever way the counts were read."""
        states = set(self.states or CaseState)
        if self.needs_analyst:
            return sum(counts[(state, True)] for state in states & OPEN_STATES)
        return sum(counts[(state, flag)] for state in states for flag in (False, True))

    @property
    def by_queued_time(self) -> bool:
        """Dates were asked for: the list is read in queued-time order, along their index."""
        return self.queued_from is not None or self.queued_before is not None


def tally_counts(summed: Iterable[tuple[str, Any, Any]]) -> dict[tuple[CaseState, bool], int]:
    """Rows of (state, needs_analyst, sum of cases) from ``case_tally`` as counts by (state, flag),
    every pair present (0 where no row says otherwise)."""
    counts = {(state, flag): 0 for state in CaseState for flag in (False, True)}
    for state, flag, cases in summed:
        counts[(CaseState(state), bool(flag))] = int(cases or 0)
    return counts


@dataclass(frozen=True, slots=True)
class CaseSummary:
    """One line of a case list."""

    id: int
    state: CaseState
    url: str
    host: str
    category: str
    reference: str | None
    queued_at: datetime

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def __plain__(self) -> dict[str, Any]:
        """What :func:`takedown.plain.plain` would make of the fields, written out: listings
        serialise a million of these, and this is twice as fast as the generic walk."""
        return {
            "id": self.id,
            "state": self.state.value,
            "url": self.url,
            "host": self.host,
            "category": self.category,
            "reference": self.reference,
            "queued_at": iso(self.queued_at),
        }

    def json_line(self) -> str:
        """``json_line(plain(self))``, byte for byte (:func:`listed_json_line`)."""
        return listed_json_line(self.listed())

    def listed(self) -> ListedCase:
        """The case as a long listing prints it (:data:`ListedCase`)."""
        return (
            self.id, self.state.value, self.url, self.host, self.category, self.reference, iso(self.queued_at)
        )  # fmt: skip

    @classmethod
    def of(cls, case: Case) -> CaseSummary:
        return cls(
            id=case.id,
            state=CaseState(case.state),
            url=case.url,
            host=case.host,
            category=case.category,
            reference=case.reference,
            queued_at=case.queued_at,
        )


ListedCase = tuple[int, str, str, str, str, "str | None", str]
"""A case as a long listing prints it: its id, state, URL, host, category, reference, and the time
it was queued as every face shows a time (``2026-11-30T03:52:12Z``, :func:`takedown.plain.iso`).
Plain values, not a :class:`CaseSummary`: ``queue list`` prints a million of these, and building a
record and parsing its time for each line, only to format the time again, was half of its time.
The database writes the time (:mod:`takedown.case_listing`)."""


def listed_json_line(case: ListedCase) -> str:
    """``json_line(plain(summary))`` of the case's :class:`CaseSummary`, byte for byte, written out
    without the dictionary and the encoder's walk of it: ``queue list --json`` and the console's
    export print a million of these, and this is what lets them keep up with the store (a test
    holds the two equal)."""
    case_id, state, url, host, category, reference, queued = case
    shown_reference = "null" if reference is None else _json_text(reference)
    return (
        f'{{"id": {int(case_id)}, "state": {_json_text(state)}, "url": {_json_text(url)},'
        f' "host": {_json_text(host)}, "category": {_json_text(category)},'
        f' "reference": {shown_reference}, "queued_at": "{queued}"}}'
    )


@dataclass(frozen=True, slots=True)
class FingerprintView:
    algorithm: str
    digest: str


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One event of a case's audit trail."""

    at: datetime
    actor: str
    action: str
    from_state: str | None
    to_state: str | None
    detail: dict[str, Any]

    @classmethod
    def of(cls, event: Event) -> TimelineEntry:
        return cls(
            at=event.at,
            actor=event.actor,
            action=event.action,
            from_state=event.from_state,
            to_state=event.to_state,
            detail=dict(event.detail or {}),
        )

    def describe(self) -> str:
        """The entry as one line for people."""
        detail = self.detail
        if self.action == "queued":
            text = f"queued ({detail.get('category', '')})"
            if detail.get("reference"):
                text += f", reference {detail['reference']}"
            if detail.get("reopens_case"):
                text += f"; content came back after case {detail['reopens_case']}"
            return text
        if self.action == "reopened_as":
            return f"URL reported again after closing: new case {detail.get('case')}"
        if self.action == "note":
            return f"note: {detail.get('text', '')}"
        if self.action == "withdrawn":
            return f"withdrawn: {detail.get('reason', '')}"
        if self.action in PROVIDER_SAYS:
            text = PROVIDER_SAYS[self.action]
            if detail.get("reason"):
                text += f": {detail['reason']}"
            if detail.get("ticket"):
                text += f" (their ticket {detail['ticket']})"
            return text
        if self.action == "inbox_handled":
            return f"handled the provider's message {detail.get('inbox')}" + (
                f": {detail['note']}" if detail.get("note") else ""
            )
        moved = f"{self.from_state} -> {self.to_state}" if self.to_state else ""
        extra = ", ".join(f"{key}={value}" for key, value in sorted(detail.items()))
        return " ".join(part for part in (self.action, moved, extra and f"({extra})") if part)


PROVIDER_SAYS = {
    "provider_removed": "the provider says it is removed",
    "provider_not_ours": "the provider says it is not theirs",
    "provider_needs_information": "the provider asks for more information",
    "provider_replied": "the provider replied by mail",
    "provider_ticket": "the provider opened a ticket",
}
"""What each of a provider's events says, for the timeline."""


@dataclass(frozen=True, slots=True)
class CaseDetail:
    """A case with its fingerprints, its times and its whole timeline."""

    id: int
    state: CaseState
    url: str
    canonical_url: str
    dedup_key: str
    host: str
    category: str
    reference: str | None
    queued_by: str
    previous_case_id: int | None
    fingerprints: tuple[FingerprintView, ...]
    queued_at: datetime
    first_seen_live_at: datetime | None
    last_seen_live_at: datetime | None
    last_checked_at: datetime | None
    first_notice_at: datetime | None
    gone_since: datetime | None
    removed_at: datetime | None
    closed_at: datetime | None
    next_check_at: datetime | None
    next_notice_at: datetime | None
    timeline: tuple[TimelineEntry, ...]

    @classmethod
    def of(cls, case: Case) -> CaseDetail:
        """From a case loaded with its events and fingerprints."""
        return cls(
            id=case.id,
            state=CaseState(case.state),
            url=case.url,
            canonical_url=case.canonical_url,
            dedup_key=case.dedup_key,
            host=case.host,
            category=case.category,
            reference=case.reference,
            queued_by=case.queued_by,
            previous_case_id=case.previous_case_id,
            fingerprints=tuple(FingerprintView(f.algorithm, f.digest) for f in case.fingerprints),
            queued_at=case.queued_at,
            first_seen_live_at=case.first_seen_live_at,
            last_seen_live_at=case.last_seen_live_at,
            last_checked_at=case.last_checked_at,
            first_notice_at=case.first_notice_at,
            gone_since=case.gone_since,
            removed_at=case.removed_at,
            closed_at=case.closed_at,
            next_check_at=case.next_check_at,
            next_notice_at=case.next_notice_at,
            timeline=tuple(TimelineEntry.of(event) for event in case.events),
        )
