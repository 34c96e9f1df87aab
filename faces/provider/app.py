"""The provider page: a notice's recipient sees its own open cases and answers them, by link alone.

The path carries the capability (:mod:`takedown.provider_access`): no account, no cookie, no
session shared with the console (this application never reads the console's cookies). Every
refusal, whatever its reason, is the same plain page, so a guessed or stale link learns nothing;
the reason goes to the log, without the token. Failed links are limited per client address, and
every recipient's requests per recipient, in memory. URLs are text, defanged; nothing a case points
to is fetched, embedded or previewed.
"""

from __future__ import annotations

import io
import logging
import zipfile
from dataclasses import dataclass
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from faces.console.security import SECURITY_HEADERS, FailureLimiter, cross_site
from faces.console.text import defang, when
from notices.render import SHIPPED_TEMPLATES
from notices.sent import reports_as_sent
from takedown.clock import Clock
from takedown.provider_access import ProviderAccess, ProviderTokenRefused, check_access
from takedown.provider_cases import (
    ANSWERS,
    ProviderAnswerRefused,
    answer_cases,
    provider_cases,
)
from takedown.store import Store

log = logging.getLogger("takedown.provider")

PROVIDER_TEMPLATES = SHIPPED_TEMPLATES / "provider"
CANNOT_USE = "This link cannot be used. Reply to the notice you received to ask for a new one."


class ProviderRefused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


REQUESTS_PER_LINK = (300, 600.0)
"""Requests one recipient's links may make in a window of seconds: far more than a person
answering, far less than a script hammering the store."""


@dataclass(frozen=True)
class SignedBy:
    """What the page tells a provider to check a notice's signature against."""

    sender: str
    fingerprint: str
    issuer: str


def create_provider_app(
    store: Store,
    *,
    clock: Clock,
    key: bytes | None,
    requests_per_link: tuple[int, float] = REQUESTS_PER_LINK,
    signed_by: SignedBy | None = None,
) -> FastAPI:
    """The provider page over ``store``; without a ``key`` every link is refused (not configured).
    ``signed_by``: the certificate notices are signed with, which the page names."""
    app = FastAPI(title="takedown provider page", docs_url=None, redoc_url=None, openapi_url=None)
    pages = Environment(
        loader=FileSystemLoader(PROVIDER_TEMPLATES),
        autoescape=select_autoescape(["html"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    pages.filters["defang"] = defang
    pages.filters["when"] = when
    failures = FailureLimiter(limit=20)
    per_recipient = FailureLimiter(limit=requests_per_link[0], window=requests_per_link[1])

    def page(name: str, status: int = 200, **context: object) -> HTMLResponse:
        html = pages.get_template(name).render(**context)
        return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)

    def access(request: Request, token: str) -> ProviderAccess:
        address = request.client.host if request.client else ""
        if failures.blocked(address):
            raise ProviderRefused(
                429, "Too many links that cannot be used from your address. Try again later."
            )
        if key is None:
            raise ProviderRefused(503, "Provider links are not configured on this server.")
        try:
            with store.reading() as session:
                granted = check_access(session, key, token, now=clock.now())
        except ProviderTokenRefused as exc:
            log.info("a provider link was refused: %s", exc.reason)  # the reason, never the token
            failures.failed(address)
            raise ProviderRefused(403, CANNOT_USE) from None
        if not per_recipient.spend(granted.recipient):
            log.warning("a provider's links made too many requests; refused for a while")
            raise ProviderRefused(429, "Too many requests with your links. Try again in a few minutes.")
        return granted

    @app.exception_handler(ProviderRefused)
    async def refused(request: Request, exc: ProviderRefused) -> Response:
        return page("refused.html", exc.status, message=exc.message)

    @app.exception_handler(404)
    async def not_found(request: Request, exc: Exception) -> Response:
        return page("refused.html", 404, message=CANNOT_USE)

    @app.get("/{token}")
    def cases(request: Request, token: str) -> Response:
        """The recipient's open cases, with what they may answer."""
        granted = access(request, token)
        with store.reading() as session:
            rows = provider_cases(session, granted.recipient)
        return page(
            "page.html", recipient=granted.recipient, rows=rows, answers=ANSWERS,
            action=f"{request.scope.get('root_path', '')}/{token}", done=request.query_params.get("done"),
            expires_at=granted.expires_at, signed_by=signed_by,
        )  # fmt: skip

    @app.get("/{token}/reports/xarf-case-{case_id:int}.json")
    def report(request: Request, token: str, case_id: int) -> Response:
        """One case's X-ARF report, exactly as attached to the last notice the recipient had about it."""
        granted = access(request, token)
        with store.reading() as session:
            own = {row.id for row in provider_cases(session, granted.recipient)}
            found = reports_as_sent(session, granted.recipient, [case_id] if case_id in own else [])
        if case_id not in found:
            raise ProviderRefused(404, "There is no report for that case here.")
        return download(found[case_id].encode("utf-8"), f"xarf-case-{case_id}.json", "application/json")

    @app.get("/{token}/reports.zip")
    def every_report(request: Request, token: str) -> Response:
        """Every open case's X-ARF report in one archive, one file per case, as sent."""
        granted = access(request, token)
        with store.reading() as session:
            own = [row.id for row in provider_cases(session, granted.recipient)]
            found = reports_as_sent(session, granted.recipient, own)
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bundle:
            for case_id, text in sorted(found.items()):
                bundle.writestr(f"xarf-case-{case_id}.json", text)
        return download(archive.getvalue(), "xarf-reports.zip", "application/zip")

    def download(body: bytes, filename: str, media_type: str) -> Response:
        headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'}
        return Response(body, media_type=media_type, headers=headers)

    @app.post("/{token}")
    async def answer(request: Request, token: str) -> Response:
        """An answer on the cases ticked: removed, not ours, or need more information."""
        own_origin = f"{request.url.scheme}://{request.headers.get('host', '')}"
        if cross_site(request.headers.get("origin"), request.headers.get("sec-fetch-site"), own_origin):
            raise ProviderRefused(403, "This form can only be sent from this page.")
        granted = access(request, token)
        form = await request.form(max_files=0, max_fields=1100)
        ids = [int(value) for value in form.getlist("case") if isinstance(value, str) and value.isdigit()]
        if not ids:
            raise ProviderRefused(400, "Tick the cases your answer is about.")
        try:
            with store.session() as session:
                done = answer_cases(
                    session, granted.recipient, ids, str(form.get("answer", "")), now=clock.now(),
                    reason=str(form.get("reason", "")), ticket=str(form.get("ticket", "")),
                )  # fmt: skip
        except ProviderAnswerRefused as exc:
            raise ProviderRefused(400, f"The answer was not taken: {exc}.") from None
        message = f"Thank you: your answer on {len(done)} case(s) is recorded."
        return RedirectResponse(
            f"{request.scope.get('root_path', '')}/{token}?" + urlencode({"done": message}), status_code=303
        )

    return app
