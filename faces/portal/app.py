"""The reporting portals: one application, many portals, each at ``/SLUG/`` or on a host of its own.

A visitor reads a page in their language, pastes one or more web addresses, says what the content
shows, and gets a reference. The application is anonymous by construction:

- it sets no cookie, loads nothing from another site, and runs no analytics;
- the client's address is used for one thing, the limit on reports per client
  (:mod:`faces.portal.limits`: an HMAC under a key that rotates, in memory only), and is never
  stored, logged or passed on; the server runs with no access log (:func:`portal_server`);
- a report's time is kept to the minute, so it cannot be matched to the second against the logs
  of a proxy in front;
- the page never says what became of a report: a URL already being chased, one reported before,
  and a new one all get the same thanks (or, for a form a robot filled in, the same thanks and
  nothing kept).

Every page is complete without JavaScript; ``portal.js`` only adds a count of the characters left
and stops a second click from sending a report twice. Pages are small (a few KB) for old phones on
slow networks. Configuration is read from the store and kept for ``PORTALS_EVERY_SECONDS``, so a
flood of reports costs the store one insert per report and nothing else.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from babel import Locale
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from faces.console.refreshing import Refreshing
from faces.console.security import SECURITY_HEADERS, cross_site
from faces.portal import messages as say
from faces.portal.config import PortalSettings
from faces.portal.i18n import chosen, load_translations, names
from faces.portal.limits import RotatingLimiter
from faces.portal.writer import ReportWriter
from notices.render import SHIPPED_TEMPLATES
from takedown.clock import Clock, SystemClock
from takedown.errors import InvalidReport, ReportRefused
from takedown.portal_reports import (
    CONTENT,
    MAX_DETAILS,
    MAX_FOUND_WHERE,
    MAX_URLS,
    IncomingReport,
    new_reference,
)
from takedown.portal_views import PortalView, list_portals
from takedown.portals import LANGUAGES
from takedown.reports import MAX_URL_LENGTH, Report, validate_report
from takedown.store import Store, describe_failure

log = logging.getLogger("takedown.portal")

PORTAL_TEMPLATES = SHIPPED_TEMPLATES / "portal"
PORTALS_EVERY_SECONDS = 30.0
"""How long the portals' configuration is kept before it is read again (``portals set`` shows
within this)."""
HONEYPOT = "website"
"""A field people never see or fill in (hidden by the style sheet, skipped by screen readers and
the tab key); a robot that fills in every field gives itself away."""
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s.]{2,63}")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
PAGE_HEADERS = {
    **SECURITY_HEADERS,  # the console's, but for what a public page that runs no requests allows
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}


class Refusal(Exception):
    """A request the portal answers with a page saying why, in the visitor's language."""

    def __init__(
        self, status: int, message: str, *, retry_after: int | None = None, language: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after = retry_after
        self.language = language
        """The visitor's, when their form said it; otherwise negotiated again."""


@dataclass(frozen=True)
class Directory:
    by_slug: Mapping[str, PortalView]
    by_host: Mapping[str, PortalView]


@dataclass
class Draft:
    """What a visitor sent, to show back to them with what needs fixing (never kept)."""

    urls: str = ""
    content: str = ""
    found_where: str = ""
    details: str = ""
    address: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    error_args: dict[str, dict[str, Any]] = field(default_factory=dict)
    url_errors: list[tuple[str, str]] = field(default_factory=list)
    """Each web address that was refused, with why."""


class PortalApp:
    """The application's state: the store, the clock, the pages in each language, the limits."""

    def __init__(self, store: Store, *, clock: Clock | None = None, settings: PortalSettings | None = None):
        self.store = store
        self.clock = clock or SystemClock()
        self.settings = settings or PortalSettings()
        self.writer = ReportWriter(store, self.clock)
        self.limiter = RotatingLimiter(self.settings.reports_per_portal, self.settings.reports_overall)
        self.directory = Refreshing(self._read_directory, every=PORTALS_EVERY_SECONDS)
        translations = load_translations()
        self.pages: dict[str, Environment] = {}
        for language, translation in translations.items():
            pages = Environment(
                loader=FileSystemLoader(PORTAL_TEMPLATES),
                autoescape=select_autoescape(["html"], default=True),
                trim_blocks=True,
                lstrip_blocks=True,
                extensions=["jinja2.ext.i18n"],
                auto_reload=False,  # the templates do not change under a running portal: no stat a page
            )
            pages.install_gettext_translations(translation, newstyle=True)  # type: ignore[attr-defined]
            pages.globals["country_name"] = functools.partial(_country_name, language)
            self.pages[language] = pages

    def _read_directory(self) -> Directory:
        with self.store.reading() as session:
            portals = list_portals(session)
        return Directory(
            {portal.slug: portal for portal in portals},
            {portal.host: portal for portal in portals if portal.host},
        )

    def page(
        self,
        name: str,
        language: str,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        html = self.pages[language].get_template(name).render(lang=language, **context)
        return HTMLResponse(html, status_code=status, headers={**PAGE_HEADERS, **(headers or {})})

    def client_key(self, request: Request) -> str:
        """The address the limits count by: the socket's peer, or behind a proxy the last address
        in the header it names (``TAKEDOWN_PORTAL_CLIENT_HEADER``). Used only as the limiter's
        input, in memory."""
        if self.settings.client_header:
            forwarded = request.headers.get(self.settings.client_header, "")
            if forwarded.strip():
                return forwarded.split(",")[-1].strip()
        return request.client.host if request.client else ""


def create_portal_app(
    store: Store, *, clock: Clock | None = None, settings: PortalSettings | None = None
) -> FastAPI:
    """The portals over ``store``."""
    portals = PortalApp(store, clock=clock, settings=settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        portals.writer.close()  # what it holds is written before the process ends

    app = FastAPI(title="takedown portal", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.portals = portals
    app.mount("/static", StaticFiles(directory=PORTAL_TEMPLATES / "static"), name="static")

    @app.exception_handler(Refusal)
    async def refused(request: Request, exc: Refusal) -> Response:
        portal = _portal_of(portals, request)
        language = _language(request, portal, exc.language)
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return portals.page(
            "refused.html", language, exc.status, headers, portal=portal, message=exc.message,
            languages=names(portal.languages if portal else LANGUAGES), path=request.url.path,
        )  # fmt: skip

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # Every answer is a page in the visitor's language, never the framework's English JSON.
        message = say.NO_PORTAL if exc.status_code == 404 else say.NOT_A_FORM
        return await refused(request, Refusal(exc.status_code, message))

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception) -> Response:
        log.error("a request to the portal failed: %s", type(exc).__name__)  # what, never who or which URL
        return await refused(request, Refusal(500, say.BUSY))

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204, headers=PAGE_HEADERS)

    @app.get("/robots.txt", include_in_schema=False)
    def robots() -> Response:  # a reporting page is found through its partner, not a search engine
        return Response("User-agent: *\nDisallow: /\n", media_type="text/plain", headers=PAGE_HEADERS)

    @app.get("/")
    def home(request: Request) -> Response:
        portal = _portal_of(portals, request)
        if portal is not None:
            return _form(portals, request, portal, Draft())
        directory = portals.directory.latest()
        language = _language(request, None)
        return portals.page(
            "index.html", language, portals=sorted(directory.by_slug.values(), key=lambda p: p.slug),
            languages=names(LANGUAGES), path="/",
        )  # fmt: skip

    @app.post("/")
    async def send_here(request: Request) -> Response:
        portal = _portal_of(portals, request)
        if portal is None:
            raise Refusal(404, say.NO_PORTAL)
        return await _receive(portals, request, portal)

    @app.get("/{slug}/")
    def form(request: Request, slug: str) -> Response:
        return _form(portals, request, _named(portals, slug), Draft())

    @app.post("/{slug}/")
    async def send(request: Request, slug: str) -> Response:
        return await _receive(portals, request, _named(portals, slug))

    return app


def _named(portals: PortalApp, slug: str) -> PortalView:
    portal = portals.directory.latest().by_slug.get(slug)
    if portal is None:
        raise Refusal(404, say.NO_PORTAL)
    return portal


def _portal_of(portals: PortalApp, request: Request) -> PortalView | None:
    """The portal a request is for: by its host name, else by the first part of its path."""
    host = (request.headers.get("host") or "").rpartition(":")[0] or request.headers.get("host") or ""
    directory = portals.directory.latest()
    found = directory.by_host.get(host.lower().rstrip("."))
    if found is not None:
        return found
    first = request.url.path.strip("/").split("/")[0]
    return directory.by_slug.get(first)


def _language(request: Request, portal: PortalView | None, asked: str | None = None) -> str:
    offered = portal.languages if portal else LANGUAGES
    return chosen(asked or request.query_params.get("lang"), offered, request.headers.get("accept-language"))


def _form(
    portals: PortalApp,
    request: Request,
    portal: PortalView,
    draft: Draft,
    status: int = 200,
    language: str = "",
) -> Response:
    language = language or _language(request, portal)
    return portals.page(
        "form.html", language, status, portal=portal, draft=draft, content_labels=say.CONTENT_LABELS,
        languages=names(portal.languages), path=request.url.path, honeypot=HONEYPOT,
        max_urls=MAX_URLS, max_found_where=MAX_FOUND_WHERE, max_details=MAX_DETAILS,
    )  # fmt: skip


async def _receive(portals: PortalApp, request: Request, portal: PortalView) -> Response:
    if cross_site(request.headers.get("origin"), request.headers.get("sec-fetch-site"), _origin(request)):
        raise Refusal(403, say.CROSS_SITE)
    fields = await _posted(request, portals.settings.max_body_bytes)
    language = _language(request, portal, fields.get("lang"))
    if fields.get(HONEYPOT):  # a robot: thanked like anyone, and nothing is kept
        portals.limiter.allow(portals.client_key(request), portal.slug)
        return portals.page("thanks.html", language, portal=portal, reference=new_reference(),
                            languages=names(portal.languages), path=request.url.path)  # fmt: skip
    if not portals.limiter.allow(portals.client_key(request), portal.slug):
        raise Refusal(429, say.TOO_MANY_REPORTS, retry_after=3600, language=language)
    draft, urls = _checked(fields, portal)
    if draft.errors or draft.url_errors:
        return _form(portals, request, portal, draft, 400, language)
    try:
        received = await portals.writer.keep(
            IncomingReport(
                portal.slug, urls, draft.content, draft.found_where or None, draft.details or None,
                draft.address or None, language if draft.address else None,
            )
        )  # fmt: skip
    except ReportRefused as exc:  # what the checks above let through and the store did not
        log.warning("a report to portal %s was refused: %s", portal.slug, exc)
        draft.errors["urls"] = say.URL_INVALID
        return _form(portals, request, portal, draft, 400, language)
    except DBAPIError as exc:  # the visitor is asked to come back; the log says why, not who
        log.error("a report to portal %s could not be kept: %s", portal.slug, describe_failure(exc))
        raise Refusal(503, say.BUSY, retry_after=300, language=language) from None
    return portals.page(
        "thanks.html", language, portal=portal, reference=received.reference,
        languages=names(portal.languages), path=request.url.path,
    )  # fmt: skip


def _origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', '')}"


async def _posted(request: Request, limit: int) -> dict[str, str]:
    """The form's fields (the first value of each), read no further than ``limit`` bytes."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise Refusal(415, say.NOT_A_FORM)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise Refusal(413, say.TOO_LARGE)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Refusal(413, say.TOO_LARGE)
    try:
        parsed = parse_qs(
            body.decode("ascii"), keep_blank_values=True, strict_parsing=False, max_num_fields=20,
            encoding="utf-8", errors="strict",
        )  # fmt: skip
    except (UnicodeDecodeError, ValueError):
        raise Refusal(400, say.NOT_A_FORM) from None
    return {name: values[0] for name, values in parsed.items() if values}


def _checked(fields: Mapping[str, str], portal: PortalView) -> tuple[Draft, list[str]]:
    """The visitor's answers checked, each error in words they can act on; the URLs to keep."""
    draft = Draft(
        urls=fields.get("urls", "")[: MAX_URLS * (MAX_URL_LENGTH + 2)],
        content=fields.get("content", ""),
        found_where=fields.get("found_where", "").strip(),
        details=fields.get("details", "").strip(),
        address=fields.get("address", "").strip() if portal.acknowledgements else "",
    )
    lines = [line.strip() for line in draft.urls.splitlines() if line.strip()]
    if not lines:
        draft.errors["urls"] = say.NO_URLS
    elif len(lines) > MAX_URLS:
        draft.errors["urls"] = say.TOO_MANY_URLS
        draft.error_args["urls"] = {"count": MAX_URLS}
    urls = []
    for line in lines[:MAX_URLS]:
        url = line if _SCHEME.match(line) else f"http://{line}"  # "www.example.com/x", as pasted
        try:
            validate_report(Report(url))
        except InvalidReport:
            draft.url_errors.append((line, _why(line)))
            continue
        urls.append(url)
    if draft.content not in CONTENT:
        draft.errors["content"] = say.NO_CONTENT
    if len(draft.found_where) > MAX_FOUND_WHERE:
        draft.errors["found_where"] = say.TOO_LONG_WHERE
        draft.error_args["found_where"] = {"count": MAX_FOUND_WHERE}
    if len(draft.details) > MAX_DETAILS:
        draft.errors["details"] = say.TOO_LONG_DETAILS
        draft.error_args["details"] = {"count": MAX_DETAILS}
    if draft.address and (len(draft.address) > 254 or not _EMAIL.fullmatch(draft.address)):
        draft.errors["address"] = say.BAD_ADDRESS
    return draft, urls


def _why(line: str) -> str:
    scheme = _SCHEME.match(line)
    if scheme and scheme.group().lower() not in ("http://", "https://"):
        return say.URL_SCHEME
    if len(line) > MAX_URL_LENGTH:
        return say.URL_TOO_LONG
    return say.URL_INVALID


@functools.lru_cache(maxsize=1024)
def _country_name(language: str, country: str) -> str:
    """A country's name in the visitor's language (Babel's CLDR data), else its code."""
    try:
        return str(Locale.parse(language).territories.get(country.upper(), country))
    except (ValueError, TypeError):
        return country
