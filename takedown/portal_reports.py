"""Reports from the public, through a portal, and their first triage.

A report is what a reporter sent: one or more URLs, what the content shows (a short list), where
it was found and a few words, never who they are. Each URL goes through the same checks as an
analyst's (:func:`takedown.reports.validate_report`) and is then:

- refused at once when it is not an http(s) URL a case could be opened for (the portal tells the
  reporter which one, in their language; nothing of it is kept);
- ``already_open`` when an open case has it: the case's trail says it was reported again, through
  which portal; nothing to assess;
- ``repeat`` when a report still being handled has it: counted there, not queued twice;
- otherwise ``awaiting_revisit``: revisited once (live, gone, unreachable) and matched against the
  hash lists before an analyst assesses it.

Reports never go straight to cases: an analyst's confirmation (or a trusted hash list's match)
opens one, through the same intake as everything else.
"""

from __future__ import annotations

import base64
import secrets
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from takedown.cases import open_case, reported_again
from takedown.errors import InvalidReport, RefusedUrl, ReportRefused
from takedown.intake import queue_batch
from takedown.models import Case, Portal, PortalReport, PortalUrl, ReporterAddress
from takedown.pdq_index import DEFAULT_DISTANCE
from takedown.plain import iso
from takedown.policy import ChasePolicy
from takedown.portal_queue import UNDECIDED
from takedown.reports import Report, ValidReport, validate_report
from takedown.revisits import DEFAULT_REMOVED_PAGE_PATTERNS, Fetch, Outcome, judge, list_matches

CONTENT = ("images", "videos", "live-stream", "text-or-chat", "other")
"""What a reporter may say the content shows; the portal's pages give each its words."""
MAX_URLS = 20
MAX_FOUND_WHERE = 500
MAX_DETAILS = 2000


@dataclass(frozen=True, slots=True)
class ReceivedReport:
    reference: str
    """What the reporter is given: the only way to speak of their report."""
    states: tuple[tuple[int, str], ...]
    """Each accepted URL's place in the report and where triage put it."""
    refused: tuple[RefusedUrl, ...]


@dataclass(frozen=True, slots=True)
class IncomingReport:
    """A report as a portal received it, before it is kept."""

    portal: str
    urls: Sequence[str]
    content: str
    found_where: str | None = None
    details: str | None = None
    reporter_address: str | None = None
    reporter_language: str | None = None


def receive_report(
    session: Session,
    portal: str,
    urls: Sequence[str],
    *,
    content: str,
    found_where: str | None = None,
    details: str | None = None,
    reporter_address: str | None = None,
    reporter_language: str | None = None,
    now: datetime,
) -> ReceivedReport:
    """Keep a report and triage its URLs; :class:`ReportRefused` when nothing of it can be kept."""
    incoming = IncomingReport(
        portal, urls, content, found_where, details, reporter_address, reporter_language
    )
    [result] = receive_reports(session, [incoming], now=now)
    if isinstance(result, ReportRefused):
        raise result
    return result


def receive_reports(
    session: Session, reports: Sequence[IncomingReport], *, now: datetime
) -> list[ReceivedReport | ReportRefused]:
    """Keep several reports in the caller's transaction, in order, each as :func:`receive_report`
    would (a URL in two of them is counted on the first), with a few statements for all of them:
    the portal's writer keeps a flood of reports this way. Each report's result, or why it was
    refused (nothing of a refused one is kept)."""
    slugs = sorted({report.portal for report in reports})
    portals = {
        portal.slug: portal for portal in session.scalars(select(Portal).where(Portal.slug.in_(slugs)))
    }
    results: list[ReceivedReport | ReportRefused | None] = [None] * len(reports)
    accepted: list[tuple[int, IncomingReport, Portal, list[tuple[int, ValidReport]], list[RefusedUrl]]] = []
    for position, report in enumerate(reports):
        try:
            portal, good, refused = _checked(report, portals.get(report.portal))
        except ReportRefused as exc:
            results[position] = exc
            continue
        accepted.append((position, report, portal, good, refused))
    if not accepted:
        return [result for result in results if result is not None]
    rows = [
        PortalReport(
            portal_id=portal.id, reference=new_reference(), received_at=now, content=report.content,
            found_where=(report.found_where or "").strip() or None,
            details=(report.details or "").strip() or None,
        )
        for _, report, portal, _, _ in accepted
    ]  # fmt: skip
    session.add_all(rows)
    session.flush()  # the reports' ids, for their URLs
    hashes = sorted({valid.dedup_hash for *_, urls, _ in accepted for _, valid in urls})
    open_cases = dict(
        session.execute(
            select(Case.dedup_hash, Case.id).where(Case.dedup_hash.in_(hashes), open_case())
        ).all()
    )
    undecided: dict[str, int] = dict(
        session.execute(
            select(PortalUrl.dedup_hash, PortalUrl.id)
            .where(PortalUrl.dedup_hash.in_(hashes), PortalUrl.state.in_(UNDECIDED))
            .order_by(PortalUrl.id.desc())
        ).all()
    )
    # New URLs first (a later report of the batch may repeat one, and needs its id), then the rest.
    first_of: dict[str, PortalUrl] = {}
    placed: list[list[tuple[int, str, PortalUrl | None, int | None]]] = []
    for row, (*_, urls, _) in zip(rows, accepted, strict=True):
        states: list[tuple[int, str, PortalUrl | None, int | None]] = []
        for index, valid in urls:
            case_id = open_cases.get(valid.dedup_hash)
            if case_id is not None:
                states.append((index, "already_open", None, case_id))
            elif valid.dedup_hash in undecided or valid.dedup_hash in first_of:
                states.append((index, "repeat", None, None))
            else:
                first = PortalUrl(
                    report_id=row.id, url=valid.url, dedup_hash=valid.dedup_hash, host=valid.host,
                    state="awaiting_revisit",
                )  # fmt: skip
                first_of[valid.dedup_hash] = first
                states.append((index, "awaiting_revisit", first, None))
        placed.append(states)
    session.add_all(first_of.values())
    session.flush()
    repeats: Counter[int] = Counter()
    later: list[dict[str, Any]] = []
    for row, (*_, urls, _), decided in zip(rows, accepted, placed, strict=True):
        valid_of = dict(urls)
        for index, state, _, case_id in decided:
            valid = valid_of[index]
            if state == "awaiting_revisit":
                continue
            earlier = None
            if state == "repeat":
                earlier = undecided.get(valid.dedup_hash) or first_of[valid.dedup_hash].id
                repeats[earlier] += 1
            later.append(
                {"report_id": row.id, "url": valid.url, "dedup_hash": valid.dedup_hash, "host": valid.host,
                 "state": state, "case_id": case_id, "same_as_id": earlier, "times_reported": 1}
            )  # fmt: skip
    if later:
        session.execute(insert(PortalUrl), later)
    for earlier, count in repeats.items():
        session.execute(
            update(PortalUrl)
            .where(PortalUrl.id == earlier)
            .values(times_reported=PortalUrl.times_reported + count)
        )
    addresses = []
    for row, (position, report, portal, _, refused), decided in zip(rows, accepted, placed, strict=True):
        cases = sorted({case_id for _, _, _, case_id in decided if case_id is not None})
        reported_again(session, cases, portal=portal.slug, report=row.reference, now=now)
        if report.reporter_address:
            addresses.append(
                ReporterAddress(report_id=row.id, address=report.reporter_address.strip()[:320],
                                language=report.reporter_language or None)
            )  # fmt: skip
        results[position] = ReceivedReport(
            row.reference, tuple((index, state) for index, state, _, _ in decided), tuple(refused)
        )
    session.add_all(addresses)
    return [result for result in results if result is not None]


def _checked(
    report: IncomingReport, portal: Portal | None
) -> tuple[Portal, list[tuple[int, ValidReport]], list[RefusedUrl]]:
    """The report's portal, its valid URLs (each once, with its place) and those refused; or
    :class:`ReportRefused` when nothing of it can be kept."""
    if portal is None:
        raise ReportRefused(f"there is no portal {report.portal[:40]!r}")
    if report.content not in CONTENT:
        raise ReportRefused(f"content must be one of {', '.join(CONTENT)}")
    if not report.urls or len(report.urls) > MAX_URLS:
        raise ReportRefused(f"a report has 1 to {MAX_URLS} URLs")
    if report.found_where is not None and len(report.found_where) > MAX_FOUND_WHERE:
        raise ReportRefused(f"where it was found: at most {MAX_FOUND_WHERE} characters")
    if report.details is not None and len(report.details) > MAX_DETAILS:
        raise ReportRefused(f"the details: at most {MAX_DETAILS} characters")
    if report.reporter_address and not portal.acknowledgements:
        raise ReportRefused(f"portal {portal.slug} does not take addresses for acknowledgements")
    valid, refused = [], []
    seen: set[str] = set()
    for index, url in enumerate(report.urls):
        try:
            checked = validate_report(Report(url))
        except InvalidReport as exc:
            refused.append(RefusedUrl(index, exc.field, exc.message))
            continue
        if checked.dedup_hash not in seen:  # the same URL twice in one report counts once
            seen.add(checked.dedup_hash)
            valid.append((index, checked))
    if not valid:
        raise ReportRefused("no URL of the report could be taken", refused)
    return portal, valid, refused


def new_reference() -> str:
    """``R-`` and ten characters of base32 (50 random bits): short enough to write down, never
    guessed, and saying nothing about when or where."""
    return "R-" + base64.b32encode(secrets.token_bytes(10)).decode("ascii")[:10]


@dataclass(frozen=True, slots=True)
class UrlToAssess:
    """One URL of a report, with what its revisit saw and what the hash lists knew: never content."""

    id: int
    url: str
    state: str
    times_reported: int
    revisit: dict[str, Any] | None
    matches: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class ReportToAssess:
    """A report whose URLs wait for a decision, as the analyst assesses it: one at a time."""

    id: int
    reference: str
    portal: str
    country: str
    content: str
    found_where: str | None
    details: str | None
    received_at: datetime
    urls: tuple[UrlToAssess, ...]
    waiting_reports: int
    """How many reports (this one included) still wait for a decision."""


def next_report(session: Session, *, after_report: int = 0) -> ReportToAssess | None:
    """The oldest report after ``after_report`` (a report skipped) with URLs waiting for a
    decision, and those URLs; ``None`` when none waits."""
    report_id = session.scalar(
        select(func.min(PortalUrl.report_id)).where(
            PortalUrl.state.in_(UNDECIDED), PortalUrl.report_id > after_report
        )
    )
    if report_id is None:
        return None
    found = session.execute(
        select(PortalReport, Portal.slug, Portal.country)
        .join(Portal, Portal.id == PortalReport.portal_id)
        .where(PortalReport.id == report_id)
    ).one()
    report, slug, country = found
    urls = session.scalars(
        select(PortalUrl)
        .where(PortalUrl.report_id == report_id, PortalUrl.state.in_(UNDECIDED))
        .order_by(PortalUrl.id)
    )
    return ReportToAssess(
        id=report.id, reference=report.reference, portal=slug, country=country, content=report.content,
        found_where=report.found_where, details=report.details, received_at=report.received_at,
        urls=tuple(
            UrlToAssess(url.id, url.url, url.state, url.times_reported, url.revisit, list(url.matches or ()))
            for url in urls
        ),
        waiting_reports=int(
            session.scalar(
                select(func.count(func.distinct(PortalUrl.report_id))).where(PortalUrl.state.in_(UNDECIDED))
            )
            or 0
        ),
    )  # fmt: skip


def awaiting_revisit(
    session: Session, *, limit: int = 500, after_id: int = 0, hosts: frozenset[str] | None = None
) -> list[tuple[int, str]]:
    """The reported URLs waiting for their one revisit (id, URL), oldest first, a page at a time
    (ids above ``after_id``); ``hosts``: only those on these host names (one crawl's share)."""
    query = select(PortalUrl.id, PortalUrl.url).where(
        PortalUrl.state == "awaiting_revisit", PortalUrl.id > after_id
    )
    if hosts is not None:
        query = query.where(PortalUrl.host.in_(sorted(hosts)))
    return [(url_id, url) for url_id, url in session.execute(query.order_by(PortalUrl.id).limit(limit))]


def revisit_hosts(session: Session) -> list[str]:
    """The host names of the reported URLs waiting for their revisit, each once: shared out with
    the due cases' when a crawl runs as several processes."""
    query = (
        select(PortalUrl.host)
        .where(PortalUrl.state == "awaiting_revisit", PortalUrl.host.is_not(None))
        .distinct()
    )
    return sorted(str(host) for host in session.scalars(query))


@dataclass(frozen=True, slots=True)
class ReportedFetch:
    """What the crawler saw at a reported URL (``fetch.case_id`` is 0: it is not a case yet)."""

    url_id: int
    fetch: Fetch


def record_revisits(
    session: Session,
    fetches: Sequence[tuple[int, Fetch]],
    *,
    policy: ChasePolicy,
    now: datetime,
    removed_patterns: Sequence[str] = DEFAULT_REMOVED_PAGE_PATTERNS,
    pdq_distance: int = DEFAULT_DISTANCE,
) -> dict[int, str]:
    """What the one revisit of each reported URL (its id, what was fetched) saw, and where that puts
    it: ``confirmed`` without an analyst when it was live and a list the policy trusts knows its
    body in one of the trusted categories (a case is opened through intake, attributed to the
    list), else ``awaiting_assessment``, with the revisit and the matches for the analyst to see.
    URLs no longer waiting for a revisit are left alone. Each id's new state."""
    wanted = dict(fetches)
    rows = session.execute(
        select(PortalUrl, PortalReport.reference)
        .join(PortalReport, PortalReport.id == PortalUrl.report_id)
        .where(PortalUrl.id.in_(sorted(wanted)), PortalUrl.state == "awaiting_revisit")
    ).all()
    judged = {url.id: judge(wanted[url.id], (), removed_patterns) for url, _ in rows}
    served = {key: wanted[key] for key, judgement in judged.items() if judgement.outcome is Outcome.LIVE}
    found = list_matches(session, served, pdq_distance=pdq_distance)
    states = {}
    for url, reference in rows:
        fetch, judgement = wanted[url.id], judged[url.id]
        matches = found.get(url.id, [])
        url.revisit = {
            "checked_at": iso(fetch.checked_at),
            "outcome": judgement.outcome.value,
            "reason": judgement.reason,
            "http_status": fetch.http_status,
            "sha256": fetch.sha256,
            "pdq": fetch.pdq,
        }
        url.matches = [
            {"list": m.list, "version": m.version, "reference": m.reference, "category": m.category,
             "algorithm": m.algorithm, "distance": m.distance}
            for m in matches
        ]  # fmt: skip
        trusted = next((m for m in matches if policy.confirms(m.list, m.category)), None)
        if trusted is None:
            url.state = "awaiting_assessment"
        else:
            report = validate_report(
                Report(url.url, category=trusted.category or "csam", reference=reference,
                       classification=trusted.classification)
            )  # fmt: skip
            [result] = queue_batch(session, [report], actor=f"hashlist:{trusted.list}", now=now)
            url.state, url.case_id = "confirmed", result.case_id
            url.decided_at, url.decided_by = now, f"hashlist:{trusted.list}"
        states[url.id] = url.state
    return states


ACKNOWLEDGE_WITHIN = timedelta(days=7)
"""An address that could not be acknowledged within this long of its report is deleted unused."""


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """One acknowledgement to send: to the address a reporter left, in their language, saying
    only that their report (its reference) was received, never what became of it."""

    id: int
    address: str
    reference: str
    partner: str
    language: str
    received_at: datetime


def claim_acknowledgements(session: Session, *, now: datetime, limit: int = 200) -> list[Acknowledgement]:
    """The acknowledgements to send now, each marked as being sent (commit before sending). An
    address found already marked was taken by a run that did not finish: it is deleted unsent, since
    an acknowledgement sent twice tells a reporter's mailbox more than one lost; so is one that
    could not be acknowledged within :data:`ACKNOWLEDGE_WITHIN`."""
    stale = select(PortalReport.id).where(PortalReport.received_at < now - ACKNOWLEDGE_WITHIN)
    session.execute(
        delete(ReporterAddress).where(
            ReporterAddress.acknowledging_at.is_not(None) | ReporterAddress.report_id.in_(stale)
        )
    )
    rows = session.execute(
        select(
            ReporterAddress,
            PortalReport.reference,
            PortalReport.received_at,
            Portal.partner,
            Portal.languages,
        )
        .join(PortalReport, PortalReport.id == ReporterAddress.report_id)
        .join(Portal, Portal.id == PortalReport.portal_id)
        .order_by(ReporterAddress.id)
        .limit(limit)
    ).all()
    claimed = []
    for address, reference, received_at, partner, languages in rows:
        address.acknowledging_at = now
        language = address.language or (list(languages or ()) or ["en"])[0]
        claimed.append(
            Acknowledgement(address.id, address.address, reference, partner, language, received_at)
        )
    return claimed


def settle_acknowledgements(session: Session, *, done: Sequence[int], again: Sequence[int] = ()) -> None:
    """After sending: the addresses of ``done`` (sent, or refused for good) are deleted; those in
    ``again`` (the mail server said later) wait for the next run."""
    if done:
        session.execute(delete(ReporterAddress).where(ReporterAddress.id.in_(sorted(set(done)))))
    if again:
        session.execute(
            update(ReporterAddress)
            .where(ReporterAddress.id.in_(sorted(set(again))))
            .values(acknowledging_at=None)
        )
