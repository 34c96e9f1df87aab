"""The chase: each due case gets the notice round its place on the ladder calls for.

A case's ``notice_rounds`` says where it is: the first round is the initial notice to the host,
the next ``reminders`` are reminders, then each escalation writes to the next rung of the ladder
(registrar and CDN, then upstream). When the ladder is exhausted the chase stops writing and flags
the case for an analyst. Rounds are ``reminder_after`` apart; the revisits that run meanwhile close
the case as soon as the content is confirmed gone, and a closed case is never due again.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select

from notices.compose import ROUND_LIMIT, Composer, Deferral
from takedown.cases import ask_an_analyst, notice_due
from takedown.models import Case
from takedown.policy import ChasePolicy
from takedown.vocabulary import NoticeLevel, Role

log = logging.getLogger(__name__)


@dataclass
class NoticeRoundSummary:
    notices: dict[str, int] = field(default_factory=dict)
    """Notices composed, by level."""
    cases: dict[str, int] = field(default_factory=dict)
    unaddressable: list[tuple[int, str]] = field(default_factory=list)
    deferred: dict[int, Deferral] = field(default_factory=dict)
    """Cases put off until a failure (a registry down, a hostile answer) may have passed."""
    needs_analyst: list[int] = field(default_factory=list)
    unsigned: str | None = None
    """Why notices could not be signed, so none was composed (the scheduler's health shows it)."""


def notice_round(
    composer: Composer, policy: ChasePolicy, *, now: datetime, actor: str = "chase", limit: int = ROUND_LIMIT
) -> NoticeRoundSummary:
    """Compose the notices due at ``now`` (the most overdue ``limit`` cases; the rest wait for the
    next round), level by level, as ``policy`` says."""
    store = composer.store
    summary = NoticeRoundSummary()
    with store.session() as session:
        due = session.execute(
            select(Case.id, Case.notice_rounds)
            .where(notice_due(now))
            .order_by(Case.next_notice_at, Case.id)
            .limit(limit)
        ).all()
    plans: dict[tuple[NoticeLevel, tuple[Role, ...]], list[int]] = defaultdict(list)
    exhausted: list[int] = []
    for case_id, rounds in due:
        step = policy.level_for(rounds or 0)
        if step is None:
            exhausted.append(case_id)
        else:
            plans[step].append(case_id)
    if exhausted:
        summary.needs_analyst = _ask_an_analyst(composer, exhausted, now, actor)
    next_round = now + policy.reminder_after
    for (level, roles), case_ids in plans.items():
        result = composer.compose_round(
            case_ids, level=level, roles=roles, now=now, actor=actor, next_notice_at=next_round
        )
        summary.notices[level] = summary.notices.get(level, 0) + len(result.notices)
        summary.cases[level] = summary.cases.get(level, 0) + result.cases
        summary.unaddressable += result.unaddressable
        summary.deferred.update(result.deferred)
        summary.unsigned = summary.unsigned or result.unsigned
    return summary


def _ask_an_analyst(composer: Composer, case_ids: list[int], now: datetime, actor: str) -> list[int]:
    with composer.store.session() as session:
        flagged = ask_an_analyst(
            session, case_ids, now=now, actor=actor, reason="the chase policy's notice rounds are exhausted"
        )
    if flagged:
        log.warning("%d cases still live after every notice round: an analyst must act", len(flagged))
    return flagged
