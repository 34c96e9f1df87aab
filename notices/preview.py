"""What a case's next notice would say, composed now and never stored or sent.

The analyst's check before a round goes out (``takedown notices preview`` and the console's
preview page): the same resolution, recipients, templates and X-ARF reports as the round itself,
through :meth:`notices.compose.Composer.drafts`, which writes nothing. The level is the one the
chase policy would choose for the case's next round unless one is asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from notices.sent import MessageParts, take_apart
from takedown.cases import case_summary
from takedown.models import Case
from takedown.policy import ChasePolicy
from takedown.vocabulary import NoticeLevel, Role

if TYPE_CHECKING:
    from notices.compose import Composer, Plan
    from takedown.clock import Clock
    from takedown.settings import Settings
    from takedown.store import Store


@dataclass(frozen=True, slots=True)
class PreviewedNotice:
    recipient: str
    role: str
    party: str | None
    language: str | None
    level: str
    subject: str
    case_ids: tuple[int, ...]
    raw: str
    """The whole message as it would be sent."""

    @property
    def parts(self) -> MessageParts:
        return take_apart(self.raw)


@dataclass(frozen=True, slots=True)
class Preview:
    level: NoticeLevel
    roles: tuple[str, ...]
    """Whom this level writes to (empty: whom the level calls for by default)."""
    notices: tuple[PreviewedNotice, ...]
    nobody_because: tuple[str, ...]
    """When no notice would go: why (nobody has a mailbox, a lookup failed...)."""
    chase_over: bool = False
    """The case has had every round the chase policy allows: the next step is an analyst's."""


class NoticePreviewer:
    """Previews over a store, with the pipeline's resolver, templates and chase policy."""

    def __init__(self, settings: Settings, store: Store, clock: Clock) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self._composer: Composer | None = None

    @property
    def composer(self) -> Composer:
        if self._composer is None:  # the resolver and templates are built on first use
            from hosting.factory import resolver_from_settings
            from notices.compose import Composer
            from notices.render import NoticeRenderer

            resolver = resolver_from_settings(self.settings, store=self.store, clock=self.clock)
            renderer = NoticeRenderer(self.settings.templates_dir)
            self._composer = Composer(self.store, resolver, self.settings, renderer)
        return self._composer

    def close(self) -> None:
        """Close the registry connections its resolver kept open, if it made one."""
        if self._composer is not None:
            self._composer.resolver.close()

    def next_round(self, case_id: int) -> tuple[NoticeLevel, tuple[Role, ...]] | None:
        """The level and roles of the case's next round as the chase policy has it; ``None`` when
        the chase is over. :class:`takedown.errors.CaseNotFound` when there is no such case."""
        with self.store.reading() as session:
            case_summary(session, case_id)
            rounds = session.get_one(Case, case_id).notice_rounds
        return ChasePolicy.load(self.settings.chase_policy).level_for(rounds)

    def for_case(self, case_id: int, level: NoticeLevel | None = None) -> Preview:
        """The notices the case's next round would send (at ``level`` if given, to whom that level
        calls for)."""
        planned = self.next_round(case_id)
        if level is None and planned is None:
            return Preview(NoticeLevel.ESCALATION, (), (), ("the chase is over: an analyst decides",), True)
        roles: tuple[Role, ...] = ()
        if level is None:
            assert planned is not None
            level, roles = planned
        plan = self.composer.drafts([case_id], level=level.value, now=self.clock.now(), roles=roles or None)
        return _preview(plan, level, roles)

    def for_cases(self, case_ids: Sequence[int], level: NoticeLevel) -> Preview:
        """The notices a round at ``level`` for ``case_ids`` would send, one per recipient."""
        plan = self.composer.drafts(list(case_ids), level=level.value, now=self.clock.now())
        return _preview(plan, level, ())


def _preview(plan: Plan, level: NoticeLevel, roles: tuple[Role, ...]) -> Preview:
    notices = tuple(
        PreviewedNotice(
            recipient=draft.recipient,
            role=draft.role,
            party=draft.party,
            language=draft.language,
            level=draft.level,
            subject=draft.subject,
            case_ids=tuple(fact.id for fact in draft.cases),
            raw=draft.message,
        )
        for draft in plan.drafts
    )
    reasons = tuple(why for _, why in plan.unaddressable) + tuple(d.reason for d in plan.deferred.values())
    return Preview(level, tuple(role.value for role in roles), notices, () if notices else reasons)
