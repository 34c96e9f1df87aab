"""``takedown inbox serve``: an SMTP endpoint the hotline's mail server forwards the reply address to.

Why SMTP rather than reading an IMAP mailbox: a mail server forwarding to us keeps every message
in its own queue until we say ``250``, and retries when we say ``451``. We say ``250`` only after
the mail is recorded (and whatever it caused, in the same transaction), and ``451`` when the store
failed, so a mail is never lost between the two; a redelivered one is recognised by its
Message-ID and recorded once. Polling IMAP would need credentials kept here, a folder state to
keep in step, and deleting mail we may not have recorded.

Only the configured reply addresses are accepted (``550`` for any other), a mail larger than
:data:`notices.inbound_mail.MAX_MAIL_BYTES` is refused with ``552`` while it is being sent, and
nothing is answered by mail: the endpoint is for the hotline's own mail server, on loopback or a
private network, not for the internet.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from aiosmtpd.smtp import SMTP, Envelope, Session

from notices.inbound_mail import MAX_MAIL_BYTES
from notices.replies import Taken, take_in
from takedown.clock import Clock
from takedown.store import Store

log = logging.getLogger(__name__)


@dataclass
class _Handler:
    store: Store
    clock: Clock
    addresses: frozenset[str]

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address.strip().lower() not in self.addresses:
            return "550 5.1.1 This server takes mail for the hotline's reply address only"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        loop = asyncio.get_running_loop()
        try:
            taken: Taken = await loop.run_in_executor(None, self._take, raw)
        except Exception:  # the store failed: the forwarding server keeps the mail and tries again
            log.exception("a mail could not be recorded; the mail server was asked to try again")
            return "451 4.3.0 The mail could not be recorded; try again later"
        if taken.inbox_id is None:
            return "250 2.0.0 Already recorded"
        return f"250 2.0.0 Recorded as inbox message {taken.inbox_id}"

    def _take(self, raw: bytes) -> Taken:
        return take_in(self.store, raw, now=self.clock.now())


class InboxServer:
    """The endpoint on ``host:port`` (port 0: any free one), served on a thread of its own."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        addresses: Iterable[str],
        *,
        host: str = "127.0.0.1",
        port: int = 2525,
    ) -> None:
        accepted = frozenset(a.strip().lower() for a in addresses if "@" in a)
        if not accepted:
            raise ValueError("the inbox needs at least one reply address to accept mail for")
        self.handler = _Handler(store, clock, accepted)
        self._socket = socket.create_server((host, port))
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._server: asyncio.base_events.Server | None = None

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._socket.getsockname()[:2]
        return str(host), int(port)

    def _protocol(self) -> SMTP:
        return SMTP(
            self.handler, data_size_limit=MAX_MAIL_BYTES, enable_SMTPUTF8=True, ident="takedown inbox"
        )

    def start(self) -> None:
        async def serve() -> None:
            self._server = await self._loop.create_server(self._protocol, sock=self._socket)

        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(serve())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="takedown-inbox", daemon=True)
        self._thread.start()
        ready.wait(10)

    def stop(self) -> None:
        if self._loop.is_closed():  # stopped already
            return
        if self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        if self._thread is None or not self._thread.is_alive():  # a loop still running is not closed
            self._loop.close()
        self._socket.close()

    def __enter__(self) -> InboxServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
