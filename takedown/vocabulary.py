"""The project's words, each defined once: notice levels, recipients' roles, notice statuses.

They are :class:`~enum.StrEnum` members, so they are stored, compared and printed as the plain
strings they always were; what changes is that a list of them is written here and nowhere else
(the policy's ladder, the templates' levels, the CLI's choices all read it). Case states are in
:mod:`takedown.states`, classifications in :mod:`takedown.classification`.
"""

from __future__ import annotations

from enum import StrEnum


class NoticeLevel(StrEnum):
    INITIAL = "initial"
    """The first notice to whoever serves the content."""
    REMINDER = "reminder"
    """The same recipients again, while the content stays live."""
    ESCALATION = "escalation"
    """Up the ladder: registrar, CDN, upstream."""


class Role(StrEnum):
    """Who a recipient is to the content."""

    SITE = "site"
    """The platform's own abuse desk (from the contact book)."""
    HOSTING = "hosting"
    """The network holding the address the content is served from."""
    CDN = "cdn"
    """A CDN in front of the origin: asked to pass the report on and disclose the origin."""
    REDIRECTOR = "redirector"
    """The host of a URL that redirects to the content."""
    REGISTRAR = "registrar"
    UPSTREAM = "upstream"
    """A network the host buys transit from."""


HOST_ROLES: tuple[Role, ...] = (Role.SITE, Role.HOSTING, Role.CDN, Role.REDIRECTOR)
"""Who the initial notice and the reminders go to: whoever serves the content, or a redirect to it."""


class NoticeStatus(StrEnum):
    """Where a notice is in the outbox (see :mod:`notices.outbox`)."""

    PENDING = "pending"
    SENDING = "sending"
    """Claimed by a sender, before DATA: safe to send again after a crash."""
    TRANSMITTING = "transmitting"
    """Inside SMTP DATA: after a crash it may or may not have arrived."""
    RETRY = "retry"
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"
    """Lost during DATA: presumed delivered, never re-sent on its own, listed for an analyst."""


class StaffRole(StrEnum):
    """What a member of the hotline's staff may do in the console and the API, each role
    including everything the one before it may do."""

    AUDITOR = "auditor"
    """Reads everything; changes nothing."""
    ANALYST = "analyst"
    """Queues, withdraws, rechecks and reviews cases."""
    SUPERVISOR = "supervisor"
    """Also edits the contact book and manages accounts and tokens; always with a second factor."""

    def may(self, needed: StaffRole) -> bool:
        """Whether this role includes ``needed``."""
        order = list(StaffRole)
        return order.index(self) >= order.index(needed)
