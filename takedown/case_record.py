"""Everything recorded about one case besides its timeline: its revisits, the resolutions of who
hosts it, and the notices that named it, newest first. What an analyst reads before acting, and
what an auditor hands over; never content (a check holds what was said about a body, not the body).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from takedown.models import Check, CheckMatch, Hosting, Notice, NoticeCase

RECENT = 50
"""Rows of each kind shown: a case revisited every hour for a year has thousands of checks."""


@dataclass(frozen=True, slots=True)
class CheckView:
    checked_at: datetime
    outcome: str
    http_status: int | None
    connected_ip: str | None
    final_url: str | None
    redirects: tuple[str, ...]
    sha256: str | None
    fingerprint_match: bool | None
    size_bytes: int | None
    truncated: bool
    content_type: str | None
    duration_ms: int | None
    error: str | None
    md5: str | None = None
    sha1: str | None = None
    list_matches: tuple[str, ...] = ()
    """What the body matched on the hash lists in use: list, version, entry, by which digest."""


@dataclass(frozen=True, slots=True)
class ResolutionView:
    resolved_at: datetime
    hostname: str
    addresses: tuple[str, ...]
    asn: int | None
    network: str | None
    organisation: str | None
    country: str | None
    abuse_contacts: tuple[str, ...]
    registrar: str | None
    registrar_abuse: tuple[str, ...]
    cdn: str | None
    upstream_asn: int | None
    sources: tuple[str, ...]
    """Where each party came from (an RDAP URL, the contact book, a CDN catalogue entry)."""


@dataclass(frozen=True, slots=True)
class NoticeView:
    id: int
    level: str
    recipient: str
    role: str | None
    party: str | None
    status: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    subject: str


@dataclass(frozen=True, slots=True)
class CaseRecord:
    checks: tuple[CheckView, ...]
    resolutions: tuple[ResolutionView, ...]
    notices: tuple[NoticeView, ...]


def case_record(session: Session, case_id: int, *, recent: int = RECENT) -> CaseRecord:
    checks = list(
        session.scalars(select(Check).where(Check.case_id == case_id).order_by(Check.id.desc()).limit(recent))
    )
    matched: dict[int, list[str]] = {}
    if checks:
        rows = session.execute(
            select(CheckMatch).where(CheckMatch.check_id.in_([c.id for c in checks])).order_by(CheckMatch.id)
        ).scalars()
        for row in rows:
            described = f"{row.list_name} {row.list_version}: {row.reference or '-'} ({row.algorithm})"
            matched.setdefault(row.check_id, []).append(described)
    resolutions = session.scalars(
        select(Hosting).where(Hosting.case_id == case_id).order_by(Hosting.id.desc()).limit(recent)
    )
    notices = session.scalars(
        select(Notice)
        .join(NoticeCase, NoticeCase.notice_id == Notice.id)
        .where(NoticeCase.case_id == case_id)
        .order_by(Notice.id.desc())
        .limit(recent)
    )
    return CaseRecord(
        checks=tuple(_check(check, tuple(matched.get(check.id, ()))) for check in checks),
        resolutions=tuple(_resolution(row) for row in resolutions),
        notices=tuple(_notice(notice) for notice in notices),
    )


def _texts(values: list[Any] | None) -> tuple[str, ...]:
    return tuple(str(value) for value in values or ())


def _check(check: Check, list_matches: tuple[str, ...]) -> CheckView:
    error = check.error_class
    if error and check.error_detail:
        error = f"{error}: {check.error_detail}"
    return CheckView(
        checked_at=check.checked_at,
        outcome=check.outcome,
        http_status=check.http_status,
        connected_ip=check.connected_ip,
        final_url=check.final_url,
        redirects=_texts(check.redirect_chain),
        sha256=check.sha256,
        fingerprint_match=check.fingerprint_match,
        size_bytes=check.size_bytes,
        truncated=bool(check.truncated),
        content_type=check.content_type,
        duration_ms=check.duration_ms,
        error=error,
        md5=check.md5,
        sha1=check.sha1,
        list_matches=list_matches,
    )


def _resolution(row: Hosting) -> ResolutionView:
    return ResolutionView(
        resolved_at=row.resolved_at,
        hostname=row.hostname,
        addresses=_texts(row.ips),
        asn=row.asn,
        network=row.network,
        organisation=row.organisation,
        country=row.country,
        abuse_contacts=_texts(row.abuse_contacts),
        registrar=row.registrar,
        registrar_abuse=_texts(row.registrar_abuse),
        cdn=row.cdn,
        upstream_asn=row.upstream_asn,
        sources=_texts(row.rdap_sources),
    )


def _notice(notice: Notice) -> NoticeView:
    return NoticeView(
        id=notice.id,
        level=notice.level,
        recipient=notice.recipient,
        role=notice.role,
        party=notice.party,
        status=notice.status,
        attempts=notice.attempts,
        created_at=notice.created_at,
        sent_at=notice.sent_at,
        subject=notice.subject,
    )
