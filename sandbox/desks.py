"""Abuse desks: what the sandbox's hosting providers do with the notices they receive.

A scenario's ``desks`` say, per mailbox, what its desk does once its ``after``-th notice arrives:

* ``page``: follows the link in the notice to the provider page and answers there (``answer``:
  removed, not_ours or need_information, with ``reason`` and ``ticket``), after taking down what
  ``removes`` names;
* ``reply``: a person replies to the notice with ``text``;
* ``auto_reply``: its ticket system acknowledges the notice with ``ticket`` (RFC 3834);
* ``bounce``: its mail server bounces the notice for good (an RFC 3464 report, 5.1.1).

Mail goes to the hotline's inbox (``takedown inbox serve``) at :attr:`Desks.inbox`; the page is
reached over HTTP at the link's address. The desks act when told (:meth:`Desks.act`), so a demo on
an accelerated clock decides when a day's answers arrive. Like the rest of the sandbox, they know
nothing of the project's code: they read mail and web pages as any provider would.
"""

from __future__ import annotations

import re
import smtplib
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from sandbox.desk_mail import gmail_style_bounce, person_reply, ticket_auto_reply

ACTIONS = ("page", "reply", "auto_reply", "bounce")
_LINK = re.compile(r"https?://\S+/provider/[A-Za-z0-9_.-]+")
_CASE = re.compile(r'name="case" value="(\d+)"')


@dataclass(frozen=True)
class Desk:
    """What the desk of ``mailbox`` does once its ``after``-th notice arrives."""

    mailbox: str
    action: str
    after: int = 1
    answer: str = "removed"
    reason: str = ""
    ticket: str = ""
    text: str = "Thank you for your report. We are looking into it."
    removes: tuple[tuple[str, str], ...] = ()
    """(host, path) the desk takes down before it answers."""

    @classmethod
    def from_dict(cls, item: Mapping[str, Any], where: str) -> Desk:
        if not isinstance(item, Mapping) or "@" not in str(item.get("mailbox", "")):
            raise ValueError(f"{where}: a desk needs 'mailbox' (an e-mail address)")
        action = item.get("do")
        if action not in ACTIONS:
            raise ValueError(f"{where}: 'do' is one of {', '.join(ACTIONS)}, not {action!r}")
        after = item.get("after", 1)
        if not isinstance(after, int) or after < 1:
            raise ValueError(f"{where}: 'after' must be a whole number from 1")
        removes = tuple((str(r["host"]).lower(), str(r["path"])) for r in item.get("removes", []))
        known = {"mailbox", "do", "after", "answer", "reason", "ticket", "text", "removes"}
        if set(item) - known:
            raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(set(item) - known))}")
        return cls(
            mailbox=str(item["mailbox"]).lower(),
            action=str(action),
            after=after,
            answer=str(item.get("answer", "removed")),
            reason=str(item.get("reason", "")),
            ticket=str(item.get("ticket", "")),
            text=str(item.get("text", cls.text)),
            removes=removes,
        )


@dataclass
class Desks:
    """The scenario's desks, acting on the mail the sandbox's SMTP server received."""

    desks: list[Desk]
    received: Callable[[str], list[EmailMessage]]
    """The messages a mailbox received, oldest first."""
    take_down: Callable[[str, str], None]
    """Take ``path`` on ``host`` down (a plain 404 from then on)."""
    inbox: tuple[str, int] | None = None
    """Where the hotline takes replies (``takedown inbox serve``); without it, mail is not sent."""
    done: set[int] = field(default_factory=set)

    def act(self) -> list[str]:
        """Every desk whose notice has arrived acts, once; what each did, in words."""
        said: list[str] = []
        for index, desk in enumerate(self.desks):
            messages = self.received(desk.mailbox)
            if index in self.done or len(messages) < desk.after:
                continue
            self.done.add(index)
            said.append(self._act(desk, messages[desk.after - 1]))
        return said

    def _act(self, desk: Desk, notice: EmailMessage) -> str:
        for host, path in desk.removes:
            self.take_down(host, path)
        if desk.action == "page":
            return self._use_the_page(desk, notice)
        if desk.action == "reply":
            self._mail(person_reply(notice, sender=desk.mailbox, text=desk.text), desk.mailbox, notice)
            return f"{desk.mailbox} replied: {desk.text[:60]}"
        if desk.action == "auto_reply":
            self._mail(ticket_auto_reply(notice, sender=desk.mailbox, ticket=desk.ticket), "", notice)
            return f"{desk.mailbox}'s ticket system acknowledged the notice as ticket {desk.ticket}"
        self._mail(gmail_style_bounce(notice, recipient=desk.mailbox), "", notice)
        return f"{desk.mailbox} bounced the notice (5.1.1: no such mailbox)"

    def _use_the_page(self, desk: Desk, notice: EmailMessage) -> str:
        links = [link for part in notice.walk() if part.get_content_type() == "text/plain"
                 for link in _LINK.findall(_text(part))]  # fmt: skip
        if not links:
            return f"{desk.mailbox} found no link to answer on in the notice"
        with urllib.request.urlopen(links[0], timeout=10) as page:  # the link in the notice, as a desk would
            cases = _CASE.findall(page.read().decode("utf-8", "replace"))
        form = [("case", case) for case in cases] + [
            ("answer", desk.answer), ("reason", desk.reason), ("ticket", desk.ticket),
        ]  # fmt: skip
        request = urllib.request.Request(links[0], data=urllib.parse.urlencode(form).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass
        ticket = f" (ticket {desk.ticket})" if desk.ticket else ""
        answer = desk.answer.replace("_", " ")
        return f"{desk.mailbox} answered on the provider page: {answer}, {len(cases)} case(s){ticket}"

    def _mail(self, message: bytes, sender: str, notice: EmailMessage) -> None:
        if self.inbox is None:
            return
        recipient = re.sub(r".*<([^>]+)>.*", r"\1", str(notice["From"]))
        with smtplib.SMTP(*self.inbox, timeout=10) as smtp:
            smtp.sendmail(sender, [recipient], message)


def _text(part: EmailMessage) -> str:
    try:
        content = part.get_content()
    except (LookupError, ValueError):
        return ""
    return content if isinstance(content, str) else ""
