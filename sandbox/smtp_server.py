"""An SMTP server on loopback that keeps what it receives: where the sandbox's notices arrive.

Every accepted message fires ``notice:<recipient>`` for each recipient, so a scenario can say "host
B removes /x after its second notice". It can also misbehave the ways real servers do, for the
delivery tests: refuse a recipient for good (550), ask to come back later (451), or take a message
and drop the connection before saying so (the ambiguous case exactly-once delivery must survive).
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import logging
import mailbox
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

log = logging.getLogger(__name__)


@dataclass
class Received:
    """One message as the server took it: envelope and the parsed message."""

    mail_from: str
    recipients: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class _Handler:
    sink: SMTPSink

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        reply = self.sink.rcpt_replies.get(address.lower())
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        sink = self.sink
        with sink._lock:
            if sink.temporary_failures > 0:
                sink.temporary_failures -= 1
                return "451 4.3.0 Try again later"
            content = envelope.original_content or b""
            received = Received(str(envelope.mail_from), list(envelope.rcpt_tos), content)
            sink.messages.append(received)
            sink.keep(received)
            drop = sink.drop_after_data > 0
            if drop:
                sink.drop_after_data -= 1
        for recipient in received.recipients:
            sink.on_delivery(recipient.lower())
        if sink.stall_after_data:
            await asyncio.sleep(sink.stall_after_data)
        if drop:  # taken, but the sender never hears so
            transport: Any = server.transport
            transport.abort()
            return "250 OK"
        return "250 OK: queued"


@dataclass
class SMTPSink:
    host: str = "127.0.0.1"
    on_delivery: Callable[[str], None] = lambda recipient: None
    messages: list[Received] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    """Recipient (lower-case) -> the reply to its RCPT TO, e.g. ``550 5.1.1 No such user``."""
    temporary_failures: int = 0
    """Answer the next N messages with 451 at the end of DATA."""
    drop_after_data: int = 0
    """Keep the next N messages, then drop the connection before the 250 reply."""
    stall_after_data: float = 0.0
    """Seconds to keep a sender waiting for the reply after taking its message (a slow relay)."""
    tls_context: ssl.SSLContext | None = None
    """Offer STARTTLS with this server context, and insist on it before MAIL."""
    credentials: tuple[str, str] | None = None
    """Require AUTH (PLAIN/LOGIN) with this login and password."""
    mail_dir: Path | None = None
    """A Maildir where every accepted message is also kept, for a person to read (``mutt -f``)."""

    def keep(self, received: Received) -> None:
        """Deliver ``received`` into :attr:`mail_dir` (Maildir: written to tmp/, then moved to new/),
        with the envelope recipients in ``X-Sandbox-Rcpt`` (notices may go to several)."""
        if self.mail_dir is None:
            return
        envelope = f"X-Sandbox-Rcpt: {', '.join(received.recipients)}\r\n".encode()
        mailbox.Maildir(self.mail_dir, create=True).add(envelope + received.data)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._socket = socket.create_server((self.host, 0))
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._socket.getsockname()[:2]
        return str(host), int(port)

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if self.credentials is None or not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = self.credentials
        ok = auth_data.login == login.encode() and auth_data.password == password.encode()
        return AuthResult(success=ok, handled=False)

    def received_by(self, recipient: str) -> list[Received]:
        with self._lock:
            return [m for m in self.messages if recipient.lower() in (r.lower() for r in m.recipients)]

    def start(self) -> SMTPSink:
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)

            async def serve() -> None:
                handler: Any = _Handler(self)
                self._server = await self._loop.create_server(
                    lambda: SMTP(
                        handler,
                        hostname="sandbox-smtp.test",
                        data_size_limit=10 * 1024 * 1024,
                        tls_context=self.tls_context,
                        require_starttls=self.tls_context is not None,
                        auth_required=self.credentials is not None,
                        auth_require_tls=self.tls_context is not None,
                        authenticator=self._authenticate,
                    ),
                    sock=self._socket,
                )
                ready.set()

            self._loop.run_until_complete(serve())
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="sandbox-smtp", daemon=True)
        self._thread.start()
        ready.wait(10)
        log.info("sandbox SMTP on %s:%d", *self.address)
        return self

    def stop(self) -> None:
        if self._thread is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()
        self._thread = None
