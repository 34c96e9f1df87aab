"""A console served for real on loopback (uvicorn on port 0, in a thread), a browser-like client
that keeps cookies and fills in the forms' hidden tokens, and staff accounts to sign in with."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from faces.console.app import create_app
from faces.console.config import ConsoleSettings
from faces.console.serve import serving
from faces.provider.app import SignedBy
from notices.preview import NoticePreviewer
from takedown.accounts import TOTP_STEP_SECONDS, add_account, totp_code
from takedown.clock import ManualClock
from takedown.store import Store
from takedown.vocabulary import StaffRole
from tests.closing import closed_after_test

PASSWORD = "correct horse battery"
FIGURES_WAIT = 30.0
"""A page waits this long for a first costly figure here (0.2 s in the console): a busy test machine
must not turn "the figures are as stored" into "being computed"."""


@dataclass
class Served:
    url: str
    store: Store
    clock: ManualClock

    def client(self) -> httpx.Client:
        """A client of this console, closed when the test ends."""
        return closed_after_test(httpx.Client(base_url=self.url, follow_redirects=False, timeout=10))

    def account(self, name: str, role: StaffRole, *, second_factor: bool = False) -> str | None:
        """Create an account; its TOTP secret if it has one."""
        with self.store.session() as session:
            enrolment = add_account(
                session, name, role, PASSWORD, now=self.clock.now(), second_factor=second_factor
            )
        return enrolment.totp_secret

    def code(self, secret: str, steps_ahead: int = 0) -> str:
        step = int(self.clock.now().timestamp()) // TOTP_STEP_SECONDS + steps_ahead
        return totp_code(secret, step)


@contextmanager
def serve_console(
    store: Store,
    clock: ManualClock,
    settings: ConsoleSettings | None = None,
    previewer: NoticePreviewer | None = None,
    provider_key: bytes | None = None,
    signed_by: SignedBy | None = None,
) -> Iterator[Served]:
    app = create_app(
        store,
        clock=clock,
        settings=settings or ConsoleSettings(figures_wait=FIGURES_WAIT),
        previewer=previewer,
        provider_key=provider_key,
        signed_by=signed_by,
    )
    with serving(app) as url:
        yield Served(url, store, clock)


def hidden(html: str, name: str) -> str:
    """The value of a form's hidden field."""
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden field {name!r} in the page"
    return found.group(1)


def sign_in(
    client: httpx.Client, name: str, password: str = PASSWORD, *, next_path: str = "/"
) -> httpx.Response:
    """Fill in the login form as a browser would: the token from the page, the cookie it set."""
    form = client.get("/login", params={"next": next_path})
    assert form.status_code == 200
    return client.post(
        "/login",
        data={
            "name": name,
            "password": password,
            "login_token": hidden(form.text, "login_token"),
            "next": hidden(form.text, "next"),
        },
    )


def csrf_of(client: httpx.Client, path: str = "/") -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    return hidden(page.text, "csrf")
