"""SMTP delivery of one message, with an outcome that says whether it may be tried again.

The only moment a message can be delivered without our knowing is between the end of DATA and
the server's reply. Everything before DATA is safe to repeat (a server delivers nothing until the
message's final dot); a failure inside that window is *uncertain*, and is never retried
automatically, since a second attempt could give the recipient the notice twice.
``before_data`` is called just before DATA so the caller can record that the window is opening;
when it answers ``False`` (the notice is no longer ours to send) the transaction is abandoned
before DATA and the outcome is ``ABANDONED``.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from takedown.settings import Settings

log = logging.getLogger(__name__)


class DeliveryOutcome(StrEnum):
    SENT = "sent"
    RETRY = "retry"
    """Not delivered; try again later (temporary failure, or the trouble is ours)."""
    FAILED = "failed"
    """Refused for good (5xx for the recipient or the message): do not try again."""
    UNCERTAIN = "uncertain"
    """Lost during DATA: the server may or may not have taken it."""
    ABANDONED = "abandoned"
    """Given up before DATA because another sender now owns the notice: record nothing."""


@dataclass(frozen=True)
class Attempt:
    outcome: DeliveryOutcome
    detail: str
    code: int | None = None


class SMTPTransport:
    """One SMTP connection, opened on first use and kept for the next messages of a run."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def send(
        self, sender: str, recipient: str, message: bytes, *, before_data: Callable[[], bool]
    ) -> Attempt:
        try:
            smtp = self._connection()
            code, reply = smtp.mail(sender)
            if code != 250:
                self._reset()
                return Attempt(DeliveryOutcome.RETRY, f"sender refused: {code} {_text(reply)}", code)
            code, reply = smtp.rcpt(recipient)
            if code not in (250, 251):
                self._reset()
                outcome = DeliveryOutcome.FAILED if 500 <= code < 600 else DeliveryOutcome.RETRY
                return Attempt(outcome, f"recipient refused: {code} {_text(reply)}", code)
        except smtplib.SMTPAuthenticationError as exc:
            self.close()
            return Attempt(
                DeliveryOutcome.RETRY,
                f"SMTP login refused ({exc.smtp_code}): check TAKEDOWN_SMTP_USERNAME/PASSWORD",
            )
        except smtplib.SMTPNotSupportedError as exc:
            self.close()
            return Attempt(DeliveryOutcome.RETRY, f"the SMTP server does not offer what is configured: {exc}")
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            return Attempt(DeliveryOutcome.RETRY, f"SMTP unavailable: {type(exc).__name__}: {exc}"[:400])
        if not before_data():
            self._reset()
            return Attempt(
                DeliveryOutcome.ABANDONED, "the claim was taken over before DATA; nothing was transmitted"
            )
        try:
            code, reply = smtp.data(message)
        except smtplib.SMTPDataError as exc:  # DATA itself refused: nothing was transmitted
            self._reset()
            outcome = DeliveryOutcome.FAILED if 500 <= exc.smtp_code < 600 else DeliveryOutcome.RETRY
            return Attempt(
                outcome, f"message refused: {exc.smtp_code} {_text(exc.smtp_error)}", exc.smtp_code
            )
        except (smtplib.SMTPException, OSError) as exc:
            self.close()
            return Attempt(
                DeliveryOutcome.UNCERTAIN, f"connection lost during DATA: {type(exc).__name__}: {exc}"[:400]
            )
        if code == 250:
            return Attempt(DeliveryOutcome.SENT, _text(reply)[:400], code)
        self._reset()
        outcome = DeliveryOutcome.FAILED if 500 <= code < 600 else DeliveryOutcome.RETRY
        return Attempt(outcome, f"message refused: {code} {_text(reply)}", code)

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            settings = self.settings
            smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout)
            try:
                smtp.ehlo()
                if settings.smtp_starttls:
                    smtp.starttls(context=_tls_context(settings.smtp_ca_file))
                    smtp.ehlo()
                if settings.smtp_username:
                    smtp.login(settings.smtp_username, settings.smtp_password or "")
            except BaseException:
                # Not yet ours to keep (close() would not see it): a relay that refuses TLS, its
                # certificate or the login leaves no socket open behind it.
                smtp.close()
                raise
            self._smtp = smtp
        return self._smtp

    def _reset(self) -> None:
        try:
            if self._smtp is not None:
                self._smtp.rset()
        except (smtplib.SMTPException, OSError):
            self.close()


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    """The system's trusted CAs, plus ``ca_file`` when given; certificates and names verified."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context
