"""Composing notices: one per recipient per round, listing all that recipient's cases.

A round takes the live cases due a notice, resolves who can remove each (``hosting/``), picks the
recipients the level calls for, groups the cases by mailbox, renders each group's notice with an
X-ARF report per case, and writes every notice of the round to the outbox in one transaction,
together with moving the cases' ``next_notice_at``. A crash before that commit composes nothing,
after it everything; a second composer running at the same time finds the cases already taken.
Nothing is sent here: :mod:`notices.outbox` does that.

One case never stops the round. A case whose resolution failed for a reason that may pass (a
registry down or rate limiting, a malformed or hostile answer) is *deferred*: no notice, no round
counted, its next round set to when asking again is worthwhile, and a ``notice_deferred`` event
with the reason. Likewise a case whose X-ARF report fails validation, and the cases of a recipient
whose notice cannot be rendered (a broken template for its language): the other cases and
recipients of the round are written as usual.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import insert, select

from hosting.record import record_resolutions
from hosting.resolve import HostingResolver, Party, Resolution
from notices.message import build_message, new_message_id, sender_address
from notices.outbox import OutgoingNotice, enqueue_many
from notices.render import NoticeRenderer
from notices.signing import NoticeSigner, SigningUnavailable, signer_for
from notices.xarf import ReportFacts, build_report, media_type_for, validate
from takedown.case_moves import event_row, insert_events
from takedown.cases import notice_due, put_off_notice, take_for_notice_round
from takedown.models import Case, Event, Notice, NoticeCase
from takedown.plain import iso
from takedown.provider_access import DEFAULT_LIFETIME, provider_key, provider_link
from takedown.settings import Settings
from takedown.sql_reads import among, reading, stored_json, stored_time, stored_time_or_none
from takedown.sql_writes import SqlWrites, writing
from takedown.store import Store
from takedown.vocabulary import HOST_ROLES, NoticeLevel, NoticeStatus, Role

log = logging.getLogger(__name__)

ROLES_FOR_LEVEL: dict[NoticeLevel, tuple[Role, ...]] = {
    NoticeLevel.INITIAL: HOST_ROLES,
    NoticeLevel.REMINDER: HOST_ROLES,
    NoticeLevel.ESCALATION: (Role.REGISTRAR, Role.UPSTREAM),
}
FALLBACK_LEVEL: dict[NoticeLevel, tuple[Role, ...]] = {
    NoticeLevel.INITIAL: (Role.REGISTRAR, Role.UPSTREAM),
    NoticeLevel.REMINDER: (Role.REGISTRAR, Role.UPSTREAM),
}
"""Whom to write to when nobody the level calls for has a mailbox (the next rung of the ladder)."""
ROUND_LIMIT = 5000
DELIVERED = (NoticeStatus.SENT.value, NoticeStatus.UNCERTAIN.value)
"""Notices that count as delivered: an uncertain one is presumed to have arrived."""
_DELIVERED_SQL = ", ".join(f"'{status}'" for status in DELIVERED)
DEFER = timedelta(hours=1)
"""When a case deferred without a time of its own (a registry's Retry-After) is tried again."""


@dataclass(frozen=True)
class CaseFacts:
    id: int
    url: str
    reference: str | None
    queued_at: datetime
    last_seen_live_at: datetime | None
    address: str | None
    http_status: int | None
    checked_at: datetime | None
    sha256: str | None
    md5: str | None
    history: list[dict[str, Any]]
    classification: str | None = None
    final_url: str | None = None
    """Where the last live check ended up, when the reported URL redirected there."""
    content_type: str | None = None
    """What the last live check was served as (``image/png``)."""
    redirect_chain: tuple[str, ...] = ()
    """The URLs that redirected, in order, starting with the reported one."""
    known_to_lists: bool = False
    """The body last seen live matches an entry of a hash list in use."""

    @property
    def served_at(self) -> str:
        """The URL that served the content: the end of the redirects, else the URL as reported."""
        return self.final_url if self.redirect_chain and self.final_url else self.url

    @property
    def hops(self) -> list[tuple[str, str]]:
        """Each redirect as (the URL that redirected, where it sent the browser)."""
        if not self.redirect_chain:
            return []
        targets = [*self.redirect_chain[1:], self.served_at]
        return list(zip(self.redirect_chain, targets, strict=True))


@dataclass
class Draft:
    """One notice before it is written: a recipient, what it is about, and the message."""

    recipient: str
    role: str
    party: str | None
    language: str | None
    level: str
    cases: list[CaseFacts] = field(default_factory=list)
    resolutions: list[Resolution] = field(default_factory=list)
    parties: list[Party] = field(default_factory=list)
    subject: str = ""
    message_id: str = ""
    message: str = ""
    in_reply_to: str | None = None
    """The last notice this recipient had about any of these cases, which this one answers."""


@dataclass
class Plan:
    """What a round would write: its notices, the cases nobody can be written to (with why), the
    cases put off until a failure may have passed (with why and until when), and each case's
    resolution (recorded with the round, addressable or not)."""

    drafts: list[Draft]
    unaddressable: list[tuple[int, str]]
    resolutions: dict[int, Resolution]
    deferred: dict[int, Deferral] = field(default_factory=dict)


@dataclass(frozen=True)
class Deferral:
    reason: str
    until: datetime


@dataclass
class RoundSummary:
    notices: list[int] = field(default_factory=list)
    cases: int = 0
    unaddressable: list[tuple[int, str]] = field(default_factory=list)
    """Cases nobody could be found to write to, with why."""
    deferred: dict[int, Deferral] = field(default_factory=dict)
    """Cases put off because something failed that may pass, with why and until when."""
    unsigned: str | None = None
    """Why no notice could be signed, when that held the whole round back."""


class Composer:
    def __init__(
        self, store: Store, resolver: HostingResolver, settings: Settings, renderer: NoticeRenderer
    ) -> None:
        self.store = store
        self.resolver = resolver
        self.settings = settings
        self.renderer = renderer
        self.sender = sender_address(settings.notice_from)
        self.provider_key = (
            provider_key(settings.provider_key) if settings.provider_key and settings.public_url else None
        )
        """Notices carry their recipient's provider link when the key and the public address are set."""
        self.signer: NoticeSigner | None = None
        self._unsigned_because: str | None = None
        try:
            self.signer = signer_for(settings)
        except SigningUnavailable as exc:  # no notice goes out until it is fixed; each round says so
            self._unsigned_because = str(exc)

    def signing_problem(self, now: datetime) -> str | None:
        """Why notices cannot be signed at ``now`` (so none is composed), or ``None``."""
        if self._unsigned_because is not None:
            return self._unsigned_because
        return self.signer.problem(now, self.sender[1]) if self.signer is not None else None

    def due_case_ids(self, now: datetime, limit: int = ROUND_LIMIT) -> list[int]:
        with self.store.reading() as session:
            return list(
                session.scalars(
                    select(Case.id).where(notice_due(now)).order_by(Case.next_notice_at, Case.id).limit(limit)
                )
            )

    def drafts(
        self, case_ids: Sequence[int], *, level: str, now: datetime, roles: Sequence[str] | None = None
    ) -> Plan:
        """The notices a round for ``case_ids`` would write, rendered; nothing is stored.

        ``roles``: whom to write to (the chase's ladder); by default, those the level calls for."""
        facts = self._facts(case_ids)
        groups: dict[str, Draft] = {}
        unaddressable: list[tuple[int, str]] = []
        resolutions: dict[int, Resolution] = {}
        deferred: dict[int, Deferral] = {}
        items = [(fact.served_at, fact.address) for fact in facts]
        for fact, resolution in zip(facts, self.resolver.resolve_many(items), strict=True):
            resolution.parties += self._redirectors(fact, resolution)
            resolutions[fact.id] = resolution
            recipients = _recipients(resolution, level, roles)
            if not recipients:
                problems = "; ".join(p.message for p in resolution.problems) or "no party has a mailbox"
                transient = [p for p in resolution.problems if p.transient]
                if transient:  # the lookup failed: nobody is known to be missing, so no escalation yet
                    until = max((p.retry_at for p in transient if p.retry_at), default=None) or now + DEFER
                    deferred[fact.id] = Deferral(problems, max(until, now + timedelta(minutes=1)))
                else:
                    unaddressable.append((fact.id, problems))
                continue
            for party, email in recipients:
                key = email.lower()
                draft = groups.get(key)
                if draft is None:
                    draft = groups[key] = Draft(email, party.role, party.name, party.language, level)
                draft.cases.append(fact)
                draft.resolutions.append(resolution)
                draft.parties.append(party)
        drafts: list[Draft] = []
        notified: set[int] = set()
        failed: dict[int, str] = {}
        self._previous_message_ids(list(groups.values()))
        checked = False  # whether a report of this round has passed the strict schema yet
        for draft in groups.values():
            dropped, checked = self._render(draft, now, checked=checked)
            for case_id, why in dropped.items():
                failed.setdefault(case_id, why)
            if draft.cases:
                drafts.append(draft)
                notified.update(f.id for f in draft.cases)
        for case_id, why in failed.items():
            if case_id not in notified:
                deferred[case_id] = Deferral(why, now + DEFER)
        return Plan(drafts, unaddressable, resolutions, deferred)

    def _redirectors(self, fact: CaseFacts, resolution: Resolution) -> list[Party]:
        """Whoever can remove each redirect that led to the content: a URL shortener's own desk (the
        contact book's ``site``), else the CDN or the hosting network of the redirecting host. The
        content itself is resolved where it was served (the end of the redirects)."""
        found: list[Party] = []
        seen = {resolution.hostname}
        for hop, target in fact.hops:
            hop_resolution = self.resolver.resolve(hop)
            if hop_resolution.hostname in seen:
                continue
            seen.add(hop_resolution.hostname)
            party = next(
                (
                    p
                    for role in (Role.SITE, Role.CDN, Role.HOSTING)
                    if (p := hop_resolution.party(role)) and p.emails
                ),
                None,
            )
            if party is None:
                log.info("no one to write to about the redirect at %s", hop_resolution.hostname)
                continue
            evidence = f"served the redirect from {hop} to {target}; {party.evidence}"
            found.append(dataclasses.replace(party, role=Role.REDIRECTOR.value, evidence=evidence))
        return found

    def compose_round(
        self,
        case_ids: Sequence[int],
        *,
        level: str,
        now: datetime,
        actor: str = "notifier",
        roles: Sequence[str] | None = None,
        next_notice_at: datetime | None = None,
    ) -> RoundSummary:
        """Write the round's notices for those of ``case_ids`` still due; each case's next round
        is set to ``next_notice_at`` (``None``: none planned) in the same transaction."""
        with self.store.session() as session:
            due = list(
                session.scalars(select(Case.id).where(Case.id.in_(sorted(set(case_ids))), notice_due(now)))
            )
        if not due:
            return RoundSummary()
        problem = self.signing_problem(now)
        if problem is not None:
            return self._put_off_unsigned(due, problem, now=now, actor=actor)
        plan = self.drafts(due, level=level, now=now, roles=roles)
        drafts, unaddressable = plan.drafts, plan.unaddressable
        summary = RoundSummary(unaddressable=unaddressable, deferred=plan.deferred)
        taken = sorted(
            {fact.id for draft in drafts for fact in draft.cases} | {cid for cid, _ in unaddressable}
        )
        with self.store.session() as session:
            moved = take_for_notice_round(session, taken, now=now, next_notice_at=next_notice_at)
            put_off = sum(
                put_off_notice(session, case_id, now=now, until=deferral.until)
                for case_id, deferral in plan.deferred.items()
            )
            expected = len(taken) + len(plan.deferred)
            if moved + put_off != expected:  # another composer took some meanwhile
                session.rollback()
                log.warning("notice round for %d cases skipped: another round took them", expected)
                return RoundSummary()
            with writing(session) as writes:  # the rest in plain SQL, in this transaction
                summary.notices = self.write_round(writes, plan, taken, level=level, now=now, actor=actor)
        summary.cases = len({fact.id for draft in drafts for fact in draft.cases})
        return summary

    @staticmethod
    def write_round(
        writes: SqlWrites, plan: Plan, taken: Sequence[int], *, level: str, now: datetime, actor: str
    ) -> list[int]:
        """The round's notices to the outbox, the events of its cases (``taken`` and the deferred),
        and the resolutions it was composed with; the notices' ids. In plain SQL: through the ORM
        these writes took a tenth of a round (5,000 cases: 1.1 s, now 0.3 s on SQLite;
        ``bench/bench_round_writes.py``)."""
        drafts = plan.drafts
        outgoing = [
            OutgoingNotice(
                recipient=draft.recipient,
                level=draft.level,
                message_id=draft.message_id,
                subject=draft.subject,
                role=draft.role,
                party=draft.party,
                language=draft.language,
                message=draft.message,
                case_ids=tuple(f.id for f in draft.cases),
            )
            for draft in drafts
        ]
        notice_ids = enqueue_many(writes, outgoing, now=now)
        events: list[dict[str, Any]] = []
        for draft, notice_id in zip(drafts, notice_ids, strict=True):
            queued = {"notice": notice_id, "to": draft.recipient, "role": draft.role, "level": level}
            events += [event_row(f.id, now, actor, "notice_queued", queued) for f in draft.cases]
        events += [
            event_row(cid, now, actor, "notice_unaddressable", {"reason": why[:300]})
            for cid, why in plan.unaddressable
        ]
        events += [
            event_row(cid, now, actor, "notice_deferred", {"reason": d.reason[:300], "until": iso(d.until)})
            for cid, d in plan.deferred.items()
        ]
        insert_events(writes, events)
        recorded = [*taken, *plan.deferred]  # every case was resolved, deferred ones too
        record_resolutions(writes, [(cid, plan.resolutions[cid]) for cid in recorded])
        return notice_ids

    def _put_off_unsigned(
        self, case_ids: list[int], problem: str, *, now: datetime, actor: str
    ) -> RoundSummary:
        """No notice can be signed: the round's cases wait (no round counted), each with why; the
        trail says so once a day, not at every hourly try while it lasts."""
        log.error("no notice composed: notices cannot be signed: %s", problem)
        deferral = Deferral(f"notices cannot be signed: {problem}", now + DEFER)
        with self.store.session() as session:
            put_off = [cid for cid in case_ids if put_off_notice(session, cid, now=now, until=deferral.until)]
            said = set(
                session.scalars(
                    select(Event.case_id).where(
                        Event.case_id.in_(put_off),
                        Event.action == "notice_deferred",
                        Event.at > now - timedelta(days=1),
                    )
                )
            )
            detail = {"reason": deferral.reason[:300], "until": iso(deferral.until)}
            events = [
                event_row(cid, now, actor, "notice_deferred", detail) for cid in put_off if cid not in said
            ]
            if events:
                session.execute(insert(Event), events)
        return RoundSummary(deferred=dict.fromkeys(put_off, deferral), unsigned=problem)

    def _render(self, draft: Draft, now: datetime, *, checked: bool) -> tuple[dict[int, str], bool]:
        """Render ``draft`` in place; the cases it had to drop, with why, and whether a report of
        the round has now been validated (``checked``: one had before). A case whose X-ARF report
        cannot be built or validated is dropped from the notice; when the notice itself cannot be
        rendered, every case is, and ``draft.cases`` is left empty."""
        failed: dict[int, str] = {}
        reports: list[tuple[int, dict[str, Any]]] = []
        kept = []
        for fact, resolution, party in zip(draft.cases, draft.resolutions, draft.parties, strict=True):
            try:
                # Reports are valid by construction (tests/test_xarf_validation.py holds every
                # report buildable from any facts to the strict schema); the first of each round
                # is still validated in full, against a setting or the schema package changing
                # (once a notice, it was a tenth of composing).
                reports.append((fact.id, self._report(fact, resolution, party, now, validated=not checked)))
                checked = True
            except Exception as exc:  # one case's report, not the notice's other cases
                log.exception("X-ARF report for case %d to %s failed", fact.id, draft.recipient)
                failed[fact.id] = f"X-ARF report for {draft.recipient} failed: {str(exc)[:200]}"
                continue
            kept.append((fact, resolution, party))
        draft.cases = [k[0] for k in kept]
        draft.resolutions = [k[1] for k in kept]
        draft.parties = [k[2] for k in kept]
        if not draft.cases:
            return failed, checked
        try:
            self._render_message(draft, now, reports)
        except Exception as exc:  # one recipient's notice, not the round
            log.exception("notice to %s could not be rendered", draft.recipient)
            why = f"notice to {draft.recipient} could not be rendered: {str(exc)[:200]}"
            failed.update((fact.id, why) for fact in draft.cases)
            draft.cases, draft.resolutions, draft.parties = [], [], []
        return failed, checked

    def _report(
        self, fact: CaseFacts, resolution: Resolution, party: Party, now: datetime, *, validated: bool = True
    ) -> dict[str, Any]:
        report = build_report(
            ReportFacts(
                case_id=fact.id,
                url=fact.url,
                address=fact.address or resolution.address,
                verified_at=fact.checked_at or now,
                classification=fact.classification or self.settings.csam_classification,
                sha256=fact.sha256,
                md5=fact.md5,
                media_type=media_type_for(fact.content_type),
                registrar=resolution.domain.registrar if resolution.domain else None,
                hosting_provider=(resolution.network.organisation if resolution.network else None),
                asn=resolution.origin_asn,
                country=party.country,
                known_to_lists=fact.known_to_lists,
                check={
                    "checked_at": _iso(fact.checked_at),
                    "http_status": fact.http_status,
                    "connected_ip": fact.address,
                    "sha256": fact.sha256,
                    "md5": fact.md5,
                },
            ),
            reporter_org=self.settings.reporter_org,
            reporter_email=self.sender[1],
            now=now,
        )
        if validated:
            validate(report)
        return report

    def _render_message(self, draft: Draft, now: datetime, reports: list[tuple[int, dict[str, Any]]]) -> None:
        reference = f"TD-{now:%Y%m%d}-{secrets.token_hex(3).upper()}"
        hosts = sorted({(urlsplit(f.url).hostname or "?") for f in draft.cases})
        context = {
            "party": draft.party,
            "role": draft.role,
            "reference": reference,
            "hosts": hosts,
            "identification": _identification(draft),
            "sender_org": self.settings.reporter_org,
            "sender_email": self.sender[1],
            "cases": [
                {
                    "url": f.url,
                    "reference": f.reference or f"#{f.id}",
                    "confirmed_at": _iso(f.queued_at),
                    "last_seen_live_at": _iso(f.last_seen_live_at),
                    "address": f.address,
                    "http_status": f.http_status,
                    "history": f.history,
                    "served_at": f.served_at,
                    "redirects": [{"from": hop, "to": target} for hop, target in f.hops],
                    "known_to_lists": f.known_to_lists,
                }
                for f in draft.cases
            ],
        }
        draft.message_id = new_message_id(self.sender[1])
        context["provider_link"] = context["provider_link_expires"] = None
        if self.provider_key is not None and self.settings.public_url:
            context["provider_link"] = provider_link(
                self.settings.public_url, self.provider_key, draft.recipient, draft.message_id, now=now
            )
            context["provider_link_expires"] = f"{now + DEFAULT_LIFETIME:%Y-%m-%d}"
        language = draft.language or self.settings.notice_language
        rendered = self.renderer.render(level=draft.level, language=language, context=context)
        draft.subject = rendered.subject
        message = build_message(
            rendered=rendered,
            sender=self.sender,
            recipient=draft.recipient,
            message_id=draft.message_id,
            date=now,
            reports=reports,
            in_reply_to=draft.in_reply_to,
        )
        draft.message = (self.signer.sign(message) if self.signer else message).decode("ascii")
        draft.language = rendered.language

    def _previous_message_ids(self, drafts: Sequence[Draft]) -> None:
        """Set each draft's ``in_reply_to``: the last notice its recipient had about any of its
        cases, so a reminder answers it and the recipient's ticket system files it with the first.
        One query for the round (one per recipient was a tenth of composing)."""
        case_ids = sorted({fact.id for draft in drafts for fact in draft.cases})
        if not case_ids:
            return
        latest: dict[tuple[str, int], tuple[datetime, int, str]] = {}
        with self.store.reading() as session:
            rows = session.execute(
                select(Notice.recipient, NoticeCase.case_id, Notice.sent_at, Notice.id, Notice.message_id)
                .join(NoticeCase, NoticeCase.notice_id == Notice.id)
                .where(NoticeCase.case_id.in_(case_ids), Notice.status.in_(DELIVERED))
            )
            for recipient, case_id, sent_at, notice_id, message_id in rows:
                key = (recipient, case_id)
                ranked = (sent_at or datetime.min.replace(tzinfo=UTC), notice_id, message_id)
                if key not in latest or ranked[:2] > latest[key][:2]:
                    latest[key] = ranked
        for draft in drafts:
            found = [latest[key] for fact in draft.cases if (key := (draft.recipient, fact.id)) in latest]
            draft.in_reply_to = max(found, key=lambda ranked: ranked[:2])[2] if found else None

    def _facts(self, case_ids: Sequence[int]) -> list[CaseFacts]:
        """What a round's notices say of each case: the case, its latest live check, its recorded
        fingerprints and the notices it has had. In plain SQL (:mod:`takedown.sql_reads`), rather
        than five ORM queries each binding thousands of ids and building their rows' objects."""
        ids = sorted(set(case_ids))
        if not ids:
            return []
        with reading(self.store) as reads:
            where, bound = among(reads, "id", ids)
            cases = list(
                reads.stream(
                    "SELECT id, url, reference, queued_at, last_seen_live_at, classification "
                    f'FROM "case" WHERE {where} ORDER BY id',
                    bound,
                )
            )
            where, bound = among(reads, "case_id", ids)
            checks = {
                row[0]: row
                for row in reads.stream(
                    "SELECT k.case_id, k.id, k.connected_ip, k.http_status, k.checked_at, k.sha256, k.md5, "
                    'k.final_url, k.redirect_chain, k.content_type FROM "check" k JOIN (SELECT max(id) AS id '
                    f"FROM \"check\" WHERE {where} AND outcome = 'live' GROUP BY case_id) latest "
                    "ON latest.id = k.id",
                    bound,
                )
            }
            # Whether the body last seen live is on a hash list in use: a notice may say so (never
            # which list or entry).
            known: set[int] = set()
            if checks:
                matched, check_ids = among(reads, "k.id", sorted(row[1] for row in checks.values()))
                known = {
                    case_id
                    for (case_id,) in reads.stream(
                        'SELECT DISTINCT k.case_id FROM "check" k JOIN check_match m ON m.check_id = k.id '
                        f"WHERE {matched}",
                        check_ids,
                    )
                }
            recorded: dict[int, dict[str, str]] = {}
            for case_id, algorithm, digest in reads.stream(
                f"SELECT case_id, algorithm, digest FROM fingerprint WHERE {where} ORDER BY id", bound
            ):
                recorded.setdefault(case_id, {}).setdefault(algorithm, digest)
            history: dict[int, list[dict[str, Any]]] = {}
            where, bound = among(reads, "nc.case_id", ids)
            for case_id, level, role, sent_at in reads.stream(
                "SELECT nc.case_id, n.level, n.role, n.sent_at FROM notice_case nc "
                f"JOIN notice n ON n.id = nc.notice_id WHERE {where} AND n.status IN ({_DELIVERED_SQL}) "
                "ORDER BY n.sent_at, n.id",
                bound,
            ):
                history.setdefault(case_id, []).append(
                    {"level": level, "role": role or "?", "sent_at": _iso(stored_time_or_none(sent_at))}
                )
        facts = []
        for case_id, url, reference, queued_at, last_seen_live_at, classification in cases:
            check = checks.get(case_id)
            digests = recorded.get(case_id, {})
            facts.append(
                CaseFacts(
                    id=case_id,
                    url=url,
                    reference=reference,
                    queued_at=stored_time(queued_at),
                    last_seen_live_at=stored_time_or_none(last_seen_live_at),
                    address=check[2] if check else None,
                    http_status=check[3] if check else None,
                    checked_at=stored_time(check[4]) if check else None,
                    sha256=digests.get("sha256") or (check[5] if check else None),
                    md5=digests.get("md5") or (check[6] if check else None),
                    history=history.get(case_id, []),
                    classification=classification,
                    final_url=check[7] if check else None,
                    redirect_chain=tuple(stored_json(check[8]) or ()) if check else (),
                    content_type=check[9] if check else None,
                    known_to_lists=case_id in known,
                )
            )
        return facts


def _recipients(resolution: Resolution, level: str, wanted: Sequence[str] | None) -> list[tuple[Party, str]]:
    chosen = NoticeLevel(level)
    for roles in (wanted or ROLES_FOR_LEVEL[chosen], FALLBACK_LEVEL.get(chosen, ())):
        found = [
            (party, email) for party in resolution.parties if party.role in roles for email in party.emails
        ]
        if found:
            return found
    return []


def _identification(draft: Draft) -> str:
    seen: list[str] = []
    for party, resolution in zip(draft.parties, draft.resolutions, strict=True):
        parts = []
        if party.role in (Role.HOSTING, Role.CDN, Role.UPSTREAM) and resolution.address:
            parts.append(f"address {resolution.address}")
        if party.asn:
            parts.append(f"AS{party.asn}")
        if party.role == Role.REGISTRAR and resolution.registered_domain:
            parts.append(f"registrar of {resolution.registered_domain}")
        parts.append(f"source {party.evidence}")
        text = ", ".join(parts)
        if text not in seen:
            seen.append(text)
    return "; ".join(seen)


def _iso(when: datetime | None) -> str:
    return iso(when) or "-"
