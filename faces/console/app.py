"""The analyst console: a server-rendered web application over the same operations as the CLI.

Every page is HTML from the Jinja2 templates in ``templates/console/``, autoescaped, working
without JavaScript. Who may do what is decided here, on the server, for every request:
auditors read, analysts act on cases, supervisors also manage the contact book and accounts.
A reported URL is only ever text on a page, defanged (see :mod:`faces.console.text`).
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import hmac
import io
import logging
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.staticfiles import StaticFiles

from faces.console.api import create_api
from faces.console.config import ConsoleSettings
from faces.console.refreshing import Refreshing
from faces.console.security import SECURITY_HEADERS, FailureLimiter, cross_site, safe_next
from faces.console.text import defang, defang_text, when
from faces.provider.app import SignedBy, create_provider_app
from hosting.contact_entries import SCOPES, ContactError, contact_history, list_contacts
from hosting.contact_writes import clear_bounce, remove_contact, set_contact
from hosting.contacts import bad_mailboxes
from notices.listing import list_notices
from notices.preview import NoticePreviewer, Preview
from notices.render import SHIPPED_TEMPLATES
from notices.sent import NoticeNotFound, read_notice
from notices.settling import settle_uncertain
from takedown.account_views import list_accounts
from takedown.accounts import (
    UNKNOWN_NAME,
    LoginAttempt,
    add_account,
    check_password,
    check_second_factor,
    disable_account,
    reset_account,
)
from takedown.api_tokens import add_token, revoke_token
from takedown.case_listing import listed_cases
from takedown.case_moves import withdraw
from takedown.case_record import case_record
from takedown.case_views import CaseFilter, ListedCase, listed_json_line
from takedown.cases import (
    add_note,
    confirm_changed,
    iter_cases,
    live_among,
    recheck_now,
    resume_chase,
    show_case,
)
from takedown.classification import CLASSIFICATIONS
from takedown.clock import Clock, SystemClock
from takedown.dashboard import BUCKETS, RemovalWindow, dashboard, recent_removals
from takedown.errors import (
    AccountError,
    CaseNotFound,
    ImportFileError,
    InvalidReport,
    InvalidTransition,
    ReportRefused,
)
from takedown.importer import ImportFormat, read_rows
from takedown.inbox import mark_handled
from takedown.inbox_views import inbox, inbox_message
from takedown.intake import import_rows, queue_batch
from takedown.portal_decisions import Decided, decide
from takedown.portal_figures import PortalStats, portal_stats
from takedown.portal_queue import awaiting
from takedown.portal_referrals import REFERRAL_COLUMNS, referral_row, referrals
from takedown.portal_reports import next_report
from takedown.reports import (
    CATEGORIES,
    DEFAULT_CATEGORY,
    QueueResult,
    Report,
    ValidReport,
    validate_report,
)
from takedown.sql_reads import SessionReads
from takedown.staff_log import record_staff_event
from takedown.staff_log_views import staff_events
from takedown.states import OPEN_STATES, CaseState
from takedown.stats import GROUPINGS, RemovalStats, removal_stats
from takedown.store import Store
from takedown.token_views import TokenScope, list_tokens
from takedown.vocabulary import NoticeLevel, NoticeStatus, StaffRole
from takedown.web_sessions import (
    SECOND_FACTOR,
    SIGNED_IN,
    SessionView,
    end_lapsed_sessions,
    end_session,
    find_session,
    peek_session,
    start_session,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = logging.getLogger("takedown.console")

CONSOLE_TEMPLATES = SHIPPED_TEMPLATES / "console"
PAGE_SIZE = 50
MAX_PASTED_URLS = 1000
MAX_FORM_BYTES = 1_000_000
MAX_UPLOAD_BYTES = 20_000_000
MAX_FORM_FIELDS = 1000
PREVIEW_MAX_CASES = 200
"""The most cases a notice's preview composes: composing is the costly part of a round."""
REMOVALS_EVERY_SECONDS = 300.0
"""How old the dashboard's and the hosting page's time-to-removal figures may get before they are
computed again (a third of a second on a million cases: not per request)."""


@dataclass(frozen=True)
class Cookies:
    session: str
    login: str
    secure: bool

    @classmethod
    def for_settings(cls, settings: ConsoleSettings) -> Cookies:
        # __Host- cookies are only accepted over HTTPS, for this host, for every path.
        if settings.secure_cookies:
            return cls("__Host-takedown-session", "__Host-takedown-login", True)
        return cls("takedown_session", "takedown_login", False)


class Refused(Exception):
    """A request answered with a plain refusal page and status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class NeedsLogin(Exception):
    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class Console:
    """The application's state: the store, the clock, the templates, the login limiter."""

    def __init__(
        self,
        store: Store,
        *,
        clock: Clock | None = None,
        settings: ConsoleSettings | None = None,
        previewer: NoticePreviewer | None = None,
    ):
        self.store = store
        self.previewer = previewer
        self.clock = clock or SystemClock()
        self.settings = settings or ConsoleSettings()
        self.cookies = Cookies.for_settings(self.settings)
        self.limiter = FailureLimiter(limit=self.settings.failed_logins_per_address)
        self.templates = Environment(
            loader=FileSystemLoader(CONSOLE_TEMPLATES),
            autoescape=select_autoescape(["html"], default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.removals = Refreshing(self._recent_removals, every=REMOVALS_EVERY_SECONDS)
        self.hosting = {
            by: Refreshing(functools.partial(self._removal_stats, by), every=REMOVALS_EVERY_SECONDS)
            for by in GROUPINGS
        }
        self.portal_stats = Refreshing(self._portal_stats, every=REMOVALS_EVERY_SECONDS)
        self.templates.filters["defang"] = defang
        self.templates.filters["defang_text"] = defang_text
        self.templates.filters["when"] = when

    def warm(self) -> None:
        """Start computing the costly figures now, behind the caller, so that the first pages after
        a start have them (``takedown web`` does this as it starts)."""
        figures: list[Refreshing[Any]] = [self.removals, *self.hosting.values(), self.portal_stats]
        for figure in figures:
            figure.start()

    def _recent_removals(self) -> tuple[datetime, tuple[RemovalWindow, ...]]:
        now = self.clock.now()
        with self.reading() as session:
            return now, recent_removals(session, now=now)

    def _removal_stats(self, by: str) -> tuple[datetime, list[RemovalStats]]:
        now = self.clock.now()
        with self.reading() as session:
            return now, removal_stats(session, by)

    def _portal_stats(self) -> list[PortalStats]:
        with self.reading() as session:
            return portal_stats(session)

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.store.session() as session:
            yield session

    def needs_previewer(self) -> NoticePreviewer:
        if self.previewer is None:
            raise Refused(
                503, "Notice previews are not available: this console runs without the pipeline's settings."
            )
        return self.previewer

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """For what a page only reads: never waits for a writer (see :meth:`Store.reading`)."""
        with self.store.reading() as session:
            yield session

    def who(self, request: Request) -> SessionView | None:
        token = request.cookies.get(self.cookies.session)
        if not token:
            return None
        limits = {"idle": self.settings.idle_timeout, "lifetime": self.settings.session_lifetime}
        now = self.clock.now()
        with self.reading() as session:
            view, needs_writing = peek_session(session, token, now=now, **limits)
        if not needs_writing:
            return view
        with self.session() as session:  # once a minute a session, or one that just ended
            return find_session(session, token, now=now, **limits)

    def page(self, name: str, request: Request, status: int = 200, **context: Any) -> HTMLResponse:
        template = self.templates.get_template(name)
        html = template.render(request_path=request.url.path, **context)
        return HTMLResponse(html, status_code=status)

    def signed_in(self, request: Request, role: StaffRole = StaffRole.AUDITOR) -> SessionView:
        """Who is asking, signed in with every factor and allowed ``role``'s work; otherwise the
        request goes no further."""
        who = self.who(request)
        if who is None or who.stage != SIGNED_IN:
            query = f"?{request.url.query}" if request.url.query else ""
            raise NeedsLogin(request.url.path + query)
        if not who.role.may(role):
            log.info("refused %s %s to %s (%s)", request.method, request.url.path, who.name, who.role)
            raise Refused(403, f"Your role ({who.role}) does not allow this.")
        return who

    def changing(
        self, request: Request, role: StaffRole, posted: FormData
    ) -> tuple[SessionView, dict[str, str]]:
        """A state-changing request: signed in with ``role``, from this site, with the session's
        CSRF token in the form. Returns who and the form's fields."""
        who = self.signed_in(request, role)
        return who, self.checked_form(request, who, posted)

    def checked_form(self, request: Request, who: SessionView, posted: FormData) -> dict[str, str]:
        """The fields of a form ``who`` posted: refused unless it came from this site with the
        session's CSRF token."""
        form = _fields(posted)
        self.check_token(request, form.get("csrf"), who)
        return form

    def check_token(self, request: Request, given: object, who: SessionView) -> None:
        self.same_site(request)
        if not isinstance(given, str) or not hmac.compare_digest(given, who.csrf_token):
            raise Refused(403, "This form has expired or did not come from the console. Reload the page.")

    def same_site(self, request: Request) -> None:
        own = f"{request.url.scheme}://{request.url.netloc}"
        if cross_site(request.headers.get("origin"), request.headers.get("sec-fetch-site"), own):
            raise Refused(403, "Requests from other sites are refused.")

    def set_session_cookie(self, response: Response, token: str) -> None:
        response.set_cookie(
            self.cookies.session,
            token,
            httponly=True,
            secure=self.cookies.secure,
            samesite="strict",
            path="/",
            max_age=int(self.settings.session_lifetime.total_seconds()),
        )


async def posted_form(request: Request) -> AsyncIterator[FormData]:
    """The body of a posted form, read on the event loop; the handler that takes it is a plain
    function, run in a worker thread, so that its store work (and a password's argon2 work) never
    holds up the other requests. Closed after it (a file in it is spooled to a temporary file)."""
    if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
        raise Refused(413, "That is more than the console accepts at once.")
    async with request.form(max_files=1, max_fields=MAX_FORM_FIELDS) as form:
        yield form


Posted = Annotated[FormData, Depends(posted_form)]


def _fields(posted: FormData) -> dict[str, str]:
    """The form's text fields, the first value of each."""
    return {key: value for key, value in posted.items() if isinstance(value, str)}


class SecurityHeaders(BaseHTTPMiddleware):
    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response


def create_app(
    store: Store,
    *,
    clock: Clock | None = None,
    settings: ConsoleSettings | None = None,
    previewer: NoticePreviewer | None = None,
    provider_key: bytes | None = None,
    signed_by: SignedBy | None = None,
) -> FastAPI:
    """The console over ``store``. ``previewer`` composes notice previews with the pipeline's
    resolver and templates; without one, the preview pages say they are not available.
    ``provider_key`` signs the links in notices: the provider page under ``/provider`` opens them
    (without it, every link is refused as not configured); ``signed_by``, the certificate notices
    are signed with, is what that page tells providers to check them against."""
    console = Console(store, clock=clock, settings=settings, previewer=previewer)
    app = FastAPI(title="takedown console", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.console = console
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=CONSOLE_TEMPLATES / "static"), name="static")
    app.mount("/api/v1", create_api(console), name="api")
    provider = create_provider_app(store, clock=console.clock, key=provider_key, signed_by=signed_by)
    app.mount("/provider", provider, name="provider")

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        return console.page("refused.html", request, exc.status, message=exc.message)

    @app.exception_handler(NeedsLogin)
    async def needs_login(request: Request, exc: NeedsLogin) -> Response:
        if request.method != "GET":
            return console.page("refused.html", request, 401, message="Sign in first.")
        return RedirectResponse("/login?" + urlencode({"next": exc.next_path}), status_code=303)

    @app.exception_handler(404)
    async def not_found(request: Request, exc: Exception) -> Response:
        return console.page("refused.html", request, 404, message="There is nothing here.")

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(status_code=204)  # no icon, and no 404 in every page's console

    _login_routes(app, console)
    _case_routes(app, console)
    _inbox_routes(app, console)
    return app


def _inbox_routes(app: FastAPI, console: Console) -> None:
    """What hosting providers said (:mod:`takedown.inbox`): read as text, marked handled."""

    @app.get("/inbox")
    def inbox_page(request: Request, handled: bool = False, after: int = 0) -> Response:
        """What waits for an analyst, oldest first; ``handled``: what was dealt with, newest first."""
        who = console.signed_in(request)
        with console.reading() as session:
            rows = inbox(session, limit=PAGE_SIZE + 1, after_id=max(after, 0), handled=handled)
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        return console.page(
            "inbox.html", request, who=who, rows=rows, handled=handled,
            next_after=rows[-1].id if more else None, may_act=who.role.may(StaffRole.ANALYST),
            done=request.query_params.get("done"),
        )  # fmt: skip

    @app.get("/inbox/{message_id}")
    def inbox_one(request: Request, message_id: int) -> Response:
        """One message in full: what the provider wrote, as text, and what came with it."""
        who = console.signed_in(request)
        with console.reading() as session:
            item = inbox_message(session, message_id)
        if item is None:
            raise Refused(404, f"There is no message {message_id} in the inbox.")
        return console.page(
            "inbox_message.html", request, who=who, item=item, may_act=who.role.may(StaffRole.ANALYST)
        )

    @app.post("/inbox")
    def inbox_handle(request: Request, posted: Posted) -> Response:
        """The messages ticked, handled (with a note for their cases' audit trail)."""
        who, form = console.changing(request, StaffRole.ANALYST, posted)
        ids = [int(value) for value in _ticked(posted, "message", "messages handled", numbers=True)]
        with console.session() as session:
            done = mark_handled(
                session, ids, actor=who.actor, now=console.clock.now(), note=form.get("note", "")
            )
        message = f"{len(done)} of {len(ids)} message(s) marked handled"
        return RedirectResponse("/inbox?" + urlencode({"done": message}), status_code=303)


def _decide_ticked(
    console: Console, request: Request, posted: FormData
) -> tuple[dict[str, str], list[int], list[Decided]]:
    """An analyst's decision (the form's ``decision``) on the reported URLs ticked: the form, the
    ids ticked, and what was decided (URLs decided meanwhile by someone else are left out)."""
    who, form = console.changing(request, StaffRole.ANALYST, posted)
    ids = [int(value) for value in _ticked(posted, "url", "URLs to decide", numbers=True)]
    try:
        with console.session() as session:
            done = decide(
                session, ids, form.get("decision", ""), actor=who.actor, now=console.clock.now(),
                category=form.get("category") or None, classification=form.get("classification") or None,
                country=form.get("country") or None,
            )  # fmt: skip
    except (ReportRefused, InvalidReport) as exc:
        raise Refused(400, str(exc)) from None
    return form, ids, done


def _ticked(posted: FormData, name: str, what: str, *, numbers: bool = False) -> list[str]:
    """The values of the checkboxes ``name`` ticked on a review form, each once, in order; refused
    when none is ticked or more than two pages' worth."""
    values = {
        value[:320]
        for value in posted.getlist(name)
        if isinstance(value, str) and (value.isdigit() or not numbers)
    }
    if not values:
        raise Refused(400, f"Tick the {what}.")
    if len(values) > PAGE_SIZE * 2:
        raise Refused(413, f"Too many {what.split()[0]} at once.")
    return sorted(values, key=lambda value: (len(value), value) if numbers else (0, value))


def _notice_level(value: str) -> NoticeLevel | None:
    if not value:
        return None
    try:
        return NoticeLevel(value)
    except ValueError:
        raise Refused(400, f"Choose a level: {', '.join(level.value for level in NoticeLevel)}.") from None


def _preview_page(
    console: Console,
    request: Request,
    who: SessionView,
    preview: Preview,
    *,
    about: str,
    chosen: NoticeLevel | None,
    default_label: str,
    back: tuple[str, str],
    truncated: int = 0,
) -> Response:
    return console.page(
        "preview.html",
        request,
        who=who,
        preview=preview,
        about=about,
        chosen=chosen.value if chosen else "",
        levels=list(NoticeLevel),
        default_label=default_label,
        back_href=back[0],
        back_label=back[1],
        truncated=truncated,
    )


def _log_sign_in(
    session: Session, attempt: LoginAttempt, step: str, *, now: datetime, client: str, name: str
) -> None:
    """A sign-in step in the staff log. The name typed is kept only when it is an account's: an
    unknown one may be a password typed into the wrong field."""
    subject = None if attempt.reason == UNKNOWN_NAME else name.strip().lower()[:64]
    action = f"{step}_accepted" if attempt.account else f"{step}_refused"
    detail: dict[str, Any] = {"from": client}
    if attempt.reason:
        detail["reason"] = attempt.reason
    actor = f"analyst:{subject}" if subject else "unknown"
    record_staff_event(session, at=now, actor=actor, action=action, subject=subject, detail=detail)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _login_routes(app: FastAPI, console: Console) -> None:
    @app.get("/login")
    def login_form(request: Request, next: str = "/") -> Response:
        token = secrets.token_urlsafe(32)
        response = console.page("login.html", request, next=safe_next(next), login_token=token)
        response.set_cookie(
            console.cookies.login,
            token,
            httponly=True,
            secure=console.cookies.secure,
            samesite="strict",
            path="/",
        )
        return response

    @app.post("/login")
    def login(request: Request, posted: Posted) -> Response:
        form = _fields(posted)
        console.same_site(request)
        expected = request.cookies.get(console.cookies.login, "")
        if not expected or not hmac.compare_digest(form.get("login_token", ""), expected):
            raise Refused(403, "This form has expired. Reload the page and sign in again.")
        client = _client(request)
        next_path = safe_next(form.get("next"))
        if console.limiter.blocked(client):
            log.warning("login refused: too many failures from one address")
            return console.page(
                "login.html", request, 429, next=next_path, login_token=expected,
                error="Too many failed sign-ins. Wait a few minutes and try again.",
            )  # fmt: skip
        now = console.clock.now()
        with console.session() as session:
            attempt = check_password(session, form.get("name", ""), form.get("password", ""), now=now)
            _log_sign_in(session, attempt, "password", now=now, client=client, name=form.get("name", ""))
            if attempt.account is not None:
                stage = SECOND_FACTOR if attempt.account.second_factor else SIGNED_IN
                old = request.cookies.get(console.cookies.session)
                if old:
                    end_session(session, old)
                end_lapsed_sessions(
                    session,
                    now=now,
                    idle=console.settings.idle_timeout,
                    lifetime=console.settings.session_lifetime,
                )
                token = start_session(session, attempt.account.name, stage=stage, now=now)
        if attempt.account is None:
            console.limiter.failed(client)
            log.info("login failed: %s", attempt.reason)
            return console.page(
                "login.html", request, 401, next=next_path, login_token=expected,
                error="Wrong name or password, or the account is locked.",
            )  # fmt: skip
        log.info("password accepted for %s", attempt.account.name)
        target = "/login/code?" + urlencode({"next": next_path}) if stage == SECOND_FACTOR else next_path
        response = RedirectResponse(target, status_code=303)
        console.set_session_cookie(response, token)
        response.delete_cookie(console.cookies.login, path="/", secure=console.cookies.secure, httponly=True)
        return response

    @app.get("/login/code")
    def code_form(request: Request, next: str = "/") -> Response:
        who = console.who(request)
        if who is None or who.stage != SECOND_FACTOR:
            return RedirectResponse("/login", status_code=303)
        return console.page("code.html", request, next=safe_next(next), csrf=who.csrf_token)

    @app.post("/login/code")
    def code(request: Request, posted: Posted) -> Response:
        who = console.who(request)
        if who is None or who.stage != SECOND_FACTOR:
            return RedirectResponse("/login", status_code=303)
        form = console.checked_form(request, who, posted)
        client = _client(request)
        next_path = safe_next(form.get("next"))
        if console.limiter.blocked(client):
            return console.page(
                "code.html", request, 429, next=next_path, csrf=who.csrf_token,
                error="Too many failed sign-ins. Wait a few minutes and try again.",
            )  # fmt: skip
        now = console.clock.now()
        old = request.cookies.get(console.cookies.session, "")
        with console.session() as session:
            attempt = check_second_factor(session, who.name, form.get("code", ""), now=now)
            _log_sign_in(session, attempt, "code", now=now, client=client, name=who.name)
            if attempt.account is not None:
                end_session(session, old)
                token = start_session(session, who.name, stage=SIGNED_IN, now=now)
        if attempt.account is None:
            console.limiter.failed(client)
            log.info("second factor failed: %s", attempt.reason)
            return console.page(
                "code.html", request, 401, next=next_path, csrf=who.csrf_token,
                error="That code is wrong or was already used.",
            )  # fmt: skip
        response = RedirectResponse(next_path, status_code=303)
        console.set_session_cookie(response, token)
        return response

    @app.post("/logout")
    def logout(request: Request, posted: Posted) -> Response:
        who = console.who(request)
        if who is not None:
            console.checked_form(request, who, posted)
            with console.session() as session:
                end_session(session, request.cookies.get(console.cookies.session, ""))
                record_staff_event(
                    session, at=console.clock.now(), actor=who.actor, action="signed_out", subject=who.name
                )
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(
            console.cookies.session, path="/", secure=console.cookies.secure, httponly=True
        )
        return response


def _case_routes(app: FastAPI, console: Console) -> None:
    @app.get("/")
    def home(request: Request) -> Response:
        who = console.signed_in(request)
        with console.reading() as session:
            board = dashboard(session, now=console.clock.now())
        removals_at, removals = console.removals.get(wait=console.settings.figures_wait) or (None, None)
        return console.page(
            "dashboard.html",
            request,
            who=who,
            board=board,
            states=list(CaseState),
            removals=removals,
            removals_at=removals_at,
            buckets=BUCKETS,
        )

    @app.get("/cases")
    def cases(request: Request, after: int = 0) -> Response:
        who = console.signed_in(request)
        chosen = _chosen(request)
        wanted, problem = _case_filter(chosen, after)
        rows = []
        if problem is None:
            with console.reading() as session:
                rows = list(iter_cases(session, wanted, limit=PAGE_SIZE + 1))
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        next_query = None
        if more:
            next_query = urlencode({**chosen, "after": rows[-1].id})
        return console.page(
            "cases.html",
            request,
            who=who,
            rows=rows,
            states=list(CaseState),
            chosen=chosen,
            categories=CATEGORIES,
            next_query=next_query,
            export_query=urlencode(chosen),
            problem=problem,
        )

    @app.get("/cases.csv")
    def cases_csv(request: Request, after: int = 0) -> Response:
        """Every case the filter matches, streamed: URLs defanged (a spreadsheet turns a URL into a
        link), cells that a spreadsheet would run as a formula quoted."""
        return _export(console, request, after, _csv_lines, "text/csv; charset=utf-8", "cases.csv")

    @app.get("/cases.jsonl")
    def cases_jsonl(request: Request, after: int = 0) -> Response:
        """Every case the filter matches, streamed as JSON Lines: what ``queue list --json`` prints."""
        return _export(console, request, after, _json_lines, "application/x-ndjson", "cases.jsonl")

    @app.get("/cases/{case_id}")
    def case_page(request: Request, case_id: int) -> Response:
        who = console.signed_in(request)
        try:
            with console.reading() as session:
                detail = show_case(session, case_id)
                record = case_record(session, case_id)
        except CaseNotFound:
            raise Refused(404, f"There is no case {case_id}.") from None
        return console.page(
            "case.html",
            request,
            who=who,
            case=detail,
            record=record,
            is_open=detail.state in OPEN_STATES,
            may_act=who.role.may(StaffRole.ANALYST),
            done=request.query_params.get("done"),
        )

    @app.post("/cases/{case_id}/withdraw")
    def withdraw_case(request: Request, case_id: int, posted: Posted) -> Response:
        who, form = console.changing(request, StaffRole.ANALYST, posted)
        reason = form.get("reason", "").strip()
        if not reason:
            raise Refused(400, "Say why the case is withdrawn: the reason goes in its audit trail.")
        try:
            with console.session() as session:
                withdraw(session, case_id, reason=reason[:500], actor=who.actor, now=console.clock.now())
        except CaseNotFound:
            raise Refused(404, f"There is no case {case_id}.") from None
        except InvalidTransition as exc:
            raise Refused(409, str(exc)) from None
        return RedirectResponse(f"/cases/{case_id}?done=withdrawn", status_code=303)

    @app.post("/queue/file")
    async def queue_file(request: Request) -> Response:
        """A file as ``takedown queue import`` reads it (CSV, JSON Lines or one URL a line, told
        apart by its name), committed in batches: what went in stays in if a later row fails.
        Asynchronous, to stream the upload with its own limits; the store work is in threads."""
        who = await run_in_threadpool(console.signed_in, request, StaffRole.ANALYST)
        if int(request.headers.get("content-length") or 0) > MAX_UPLOAD_BYTES:
            limit = MAX_UPLOAD_BYTES // 1_000_000
            raise Refused(413, f"Files up to {limit} MB here; import larger ones with takedown queue import.")
        async with request.form(max_files=1, max_fields=10) as form:  # its spooled file closed after
            return await _queue_upload(request, who, form)

    async def _queue_upload(request: Request, who: SessionView, form: FormData) -> Response:
        """The rest of :func:`queue_file`, with the form read (and closed when this returns)."""
        console.check_token(request, form.get("csrf"), who)
        upload = form.get("file")
        if isinstance(upload, str) or upload is None or not upload.filename:
            raise Refused(400, "Choose a file to queue.")
        try:
            file_format = ImportFormat.guess(upload.filename)
        except ImportFileError:
            raise Refused(400, "Name the file .csv, .jsonl or .txt so that its format is known.") from None
        category = form.get("category")
        default_category = category if isinstance(category, str) else None
        rows = read_rows(upload.file, file_format, default_category=default_category)
        # In a worker thread: a large file must not hold up every other analyst's pages.
        summary = await run_in_threadpool(
            import_rows, console.store, rows, actor=who.actor, clock=console.clock
        )
        return console.page(
            "queue.html",
            request,
            who=who,
            categories=CATEGORIES,
            default=DEFAULT_CATEGORY,
            summary=summary,
            filename=upload.filename,
        )

    @app.post("/cases/{case_id}/recheck")
    def recheck_case(request: Request, case_id: int, posted: Posted) -> Response:
        who, _form_fields = console.changing(request, StaffRole.ANALYST, posted)
        with console.session() as session:
            moved = recheck_now(session, [case_id], actor=who.actor, now=console.clock.now())
        if not moved:
            raise Refused(409, f"Case {case_id} is closed or does not exist: there is nothing to revisit.")
        return RedirectResponse(f"/cases/{case_id}?done=recheck+requested", status_code=303)

    @app.post("/cases/{case_id}/note")
    def note_case(request: Request, case_id: int, posted: Posted) -> Response:
        who, form = console.changing(request, StaffRole.ANALYST, posted)
        try:
            with console.session() as session:
                add_note(session, case_id, form.get("note", ""), actor=who.actor, now=console.clock.now())
        except CaseNotFound:
            raise Refused(404, f"There is no case {case_id}.") from None
        except InvalidTransition as exc:
            raise Refused(400, str(exc)) from None
        return RedirectResponse(f"/cases/{case_id}?done=note+added", status_code=303)

    @app.post("/cases/{case_id}/decide")
    def decide_case(request: Request, case_id: int, posted: Posted) -> Response:
        """A changed case: still the reported content (its new digests are adopted and the chase
        goes on), or not (closed, with the reason)."""
        who, form = console.changing(request, StaffRole.ANALYST, posted)
        now = console.clock.now()
        try:
            with console.session() as session:
                if form.get("decision") == "still":
                    confirm_changed(session, case_id, actor=who.actor, now=now)
                    done = "still the reported content"
                elif form.get("decision") == "close":
                    reason = form.get("reason", "").strip() or "the content at the URL changed"
                    withdraw(session, case_id, reason=reason[:500], actor=who.actor, now=now)
                    done = "closed"
                else:
                    raise Refused(400, "Choose: still the reported content, or close the case.")
        except CaseNotFound:
            raise Refused(404, f"There is no case {case_id}.") from None
        except InvalidTransition as exc:
            raise Refused(409, str(exc)) from None
        return RedirectResponse(f"/cases/{case_id}?" + urlencode({"done": done}), status_code=303)

    @app.get("/reports")
    def reports(request: Request, after: int = 0) -> Response:
        """Reported URLs from the portals waiting for a decision, oldest first."""
        who = console.signed_in(request)
        with console.reading() as session:
            rows = awaiting(session, limit=PAGE_SIZE + 1, after_id=max(after, 0))
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        return console.page(
            "reports.html",
            request,
            who=who,
            rows=rows,
            portals=console.portal_stats.get(wait=console.settings.figures_wait),
            categories=CATEGORIES,
            classifications=CLASSIFICATIONS,
            may_act=who.role.may(StaffRole.ANALYST),
            next_after=rows[-1].id if more else None,
            done=request.query_params.get("done"),
        )

    @app.post("/reports")
    def reports_decide(request: Request, posted: Posted) -> Response:
        """A decision on every URL ticked: confirm (a case is opened), not illegal, not found,
        duplicate, or refer to a country's hotline."""
        _form, ids, done = _decide_ticked(console, request, posted)
        opened = sum(1 for row in done if row.case_id)
        message = f"{len(done)} of {len(ids)} decided" + (f", {opened} case(s) opened" if opened else "")
        return RedirectResponse("/reports?" + urlencode({"done": message}), status_code=303)

    @app.get("/reports/referrals.csv")
    def referrals_csv(request: Request, country: str = "", since: str = "") -> Response:
        """What was referred to ``country``'s hotline (since a day), as the CSV it is sent."""
        console.signed_in(request)
        code = country.strip().upper()
        if len(code) != 2 or not code.isalpha() or not code.isascii():
            raise Refused(400, "Name the hotline's country: two letters, such as BR.")
        try:
            start = datetime.fromisoformat(since).replace(tzinfo=UTC) if since else None
        except ValueError:
            raise Refused(400, "The date to start from is a day, such as 2026-11-01.") from None
        with console.reading() as session:
            rows = referrals(session, code, since=start)
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(REFERRAL_COLUMNS)
        writer.writerows([_cell(value) for value in referral_row(row)] for row in rows)
        disposition = f'attachment; filename="referrals-{code}.csv"'
        return Response(buffer.getvalue(), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": disposition})  # fmt: skip

    @app.get("/reports/assess")
    def assess(request: Request, after: int = 0) -> Response:
        """One report at a time, oldest first: its URLs waiting for a decision, what their revisit
        saw and what the hash lists knew; decided with one key, and the next report is here at once.
        ``after``: skip to the report after this one."""
        who = console.signed_in(request)
        with console.reading() as session:
            report = next_report(session, after_report=max(after, 0))
        return console.page(
            "assess.html",
            request,
            who=who,
            report=report,
            categories=CATEGORIES,
            classifications=CLASSIFICATIONS,
            may_act=who.role.may(StaffRole.ANALYST),
            done=request.query_params.get("done"),
            after=max(after, 0),
        )

    @app.post("/reports/assess")
    def assess_decide(request: Request, posted: Posted) -> Response:
        """The decision (the button pressed) on the report's URLs ticked; then the next report."""
        form, _ids, done = _decide_ticked(console, request, posted)
        message = f"{form.get('reference', 'the report')}: {len(done)} URL(s) {form.get('decision', '')}"
        after = form.get("after", "0")
        query = {"done": message, **({"after": after} if after.isdigit() and after != "0" else {})}
        return RedirectResponse("/reports/assess?" + urlencode(query), status_code=303)

    @app.get("/review")
    def review(request: Request, after: int = 0) -> Response:
        """Cases the chase gave up on, and changed cases: what waits for an analyst."""
        who = console.signed_in(request)
        with console.reading() as session:
            waiting = list(
                iter_cases(session, CaseFilter(needs_analyst=True, after_id=after), limit=PAGE_SIZE)
            )
            changed = list(iter_cases(session, CaseFilter(states=(CaseState.CHANGED,)), limit=PAGE_SIZE))
        return console.page(
            "review.html",
            request,
            who=who,
            waiting=waiting,
            changed=changed,
            uncertain=list_notices(console.store, status=NoticeStatus.UNCERTAIN.value, limit=PAGE_SIZE),
            bounced=bad_mailboxes(console.store),
            may_act=who.role.may(StaffRole.ANALYST),
            may_vouch=who.role.may(StaffRole.SUPERVISOR),
            done=request.query_params.get("done"),
        )

    @app.post("/review/notices")
    def review_notices(request: Request, posted: Posted) -> Response:
        """Notices in doubt, settled by an analyst who has read the mail server's log."""
        who, form = console.changing(request, StaffRole.ANALYST, posted)
        ids = [int(value) for value in _ticked(posted, "notice", "notices to settle", numbers=True)]
        action = form.get("action")
        if action not in ("delivered", "resend"):
            raise Refused(400, "Choose whether they arrived or must be sent again.")
        with console.session() as session:
            done = settle_uncertain(
                session, ids, delivered=action == "delivered", actor=who.actor, now=console.clock.now()
            )
        message = (
            f"{'delivered' if action == 'delivered' else 'sent again'}: {len(done)} of {len(ids)} notices"
        )
        return RedirectResponse("/review?" + urlencode({"done": message}), status_code=303)

    @app.post("/review/mailboxes")
    def review_mailboxes(request: Request, posted: Posted) -> Response:
        """Mailboxes a bounce marked bad, vouched for by a supervisor: written to again."""
        who, _ = console.changing(request, StaffRole.SUPERVISOR, posted)
        addresses = _ticked(posted, "mailbox", "mailboxes to write to again")
        cleared = sum(clear_bounce(console.store, a, actor=who.actor, clock=console.clock) for a in addresses)
        message = f"written to again: {cleared} of {len(addresses)} mailboxes"
        return RedirectResponse("/review?" + urlencode({"done": message}), status_code=303)

    @app.post("/review")
    def review_act(request: Request, posted: Posted) -> Response:
        """One action for every case ticked: revisit now, resume the chase, or withdraw."""
        who, form = console.changing(request, StaffRole.ANALYST, posted)
        ids = [int(value) for value in _ticked(posted, "case", "cases to act on", numbers=True)]
        action = form.get("action")
        now = console.clock.now()
        with console.session() as session:
            if action == "recheck":
                done = recheck_now(session, ids, actor=who.actor, now=now)
            elif action == "resume":
                done = resume_chase(session, ids, actor=who.actor, now=now)
            elif action == "withdraw":
                reason = str(form.get("reason") or "").strip()
                if not reason:
                    raise Refused(
                        400, "Say why the cases are withdrawn: the reason goes in their audit trail."
                    )
                done = []
                for case_id in ids:
                    try:
                        withdraw(session, case_id, reason=reason[:500], actor=who.actor, now=now)
                        done.append(case_id)
                    except (CaseNotFound, InvalidTransition):
                        continue
            else:
                raise Refused(400, "Choose an action.")
        message = f"{action}: {len(done)} of {len(ids)} cases"
        return RedirectResponse("/review?" + urlencode({"done": message}), status_code=303)

    @app.get("/notices")
    def notices(request: Request, status: str = "", recipient: str = "") -> Response:
        """The outbox, newest first: who, what level, how delivery went."""
        who = console.signed_in(request)
        problem = None
        if status and status not in {s.value for s in NoticeStatus}:
            problem, status = "That is not a status a notice can have.", ""
        rows = list_notices(
            console.store, status=status or None, recipient=recipient[:320] or None, limit=200
        )
        return console.page(
            "notices.html",
            request,
            who=who,
            rows=rows,
            statuses=list(NoticeStatus),
            chosen={"status": status, "recipient": recipient},
            problem=problem,
        )

    @app.get("/notices/{notice_id}")
    def notice_page(request: Request, notice_id: int) -> Response:
        """A notice exactly as sent: headers, text, the HTML as source (inert), each X-ARF report."""
        who = console.signed_in(request)
        try:
            sent = read_notice(console.store, notice_id)
        except NoticeNotFound:
            raise Refused(404, f"There is no notice {notice_id}.") from None
        return console.page("notice.html", request, who=who, sent=sent)

    @app.get("/cases/{case_id}/preview")
    def case_preview(request: Request, case_id: int, level: str = "") -> Response:
        """The notices the case's next round would send, composed now; nothing kept or sent."""
        who = console.signed_in(request)
        previewer = console.needs_previewer()
        chosen = _notice_level(level)
        try:
            preview = previewer.for_case(case_id, chosen)
        except CaseNotFound:
            raise Refused(404, f"There is no case {case_id}.") from None
        return _preview_page(
            console,
            request,
            who,
            preview,
            about=f"case {case_id}",
            chosen=chosen,
            default_label="its next round",
            back=(f"/cases/{case_id}", f"Back to case {case_id}"),
        )

    @app.get("/notices/{notice_id}/preview")
    def notice_preview(request: Request, notice_id: int, level: str = "") -> Response:
        """What the recipient of a notice would get now about those of its cases still live."""
        who = console.signed_in(request)
        previewer = console.needs_previewer()
        chosen = _notice_level(level)
        try:
            sent = read_notice(console.store, notice_id)
        except NoticeNotFound:
            raise Refused(404, f"There is no notice {notice_id}.") from None
        with console.reading() as session:
            live = live_among(session, sent.case_ids)
        recipient = sent.listing.recipient
        truncated = PREVIEW_MAX_CASES if len(live) > PREVIEW_MAX_CASES else 0
        if live:
            everyone = previewer.for_cases(live[:PREVIEW_MAX_CASES], chosen or NoticeLevel.REMINDER)
            mine = tuple(n for n in everyone.notices if n.recipient.lower() == recipient.lower())
            why = everyone.nobody_because or (f"{recipient} is no longer whom the level writes to",)
            preview = dataclasses.replace(everyone, notices=mine, nobody_because=() if mine else why)
        else:
            preview = Preview(chosen or NoticeLevel.REMINDER, (), (), ("none of its cases is still live",))
        return _preview_page(
            console,
            request,
            who,
            preview,
            about=f"{recipient}, about notice {notice_id}'s live cases",
            chosen=chosen,
            default_label="a reminder",
            back=(f"/notices/{notice_id}", f"Back to notice {notice_id}"),
            truncated=truncated,
        )

    @app.get("/hosting")
    def hosting(request: Request, by: str = "network") -> Response:
        """Time to removal per hosting network, AS or country, the slowest first."""
        who = console.signed_in(request)
        if by not in GROUPINGS:
            raise Refused(400, f"Group by one of: {', '.join(GROUPINGS)}.")
        computed_at, rows = console.hosting[by].get(wait=console.settings.figures_wait) or (None, [])
        groups = [row for row in rows if row.group != "all"]
        groups.sort(key=lambda row: (row.median_hours is None, -(row.median_hours or 0), -row.still_open))
        overall = next((row for row in rows if row.group == "all"), None)
        return console.page(
            "hosting.html",
            request,
            who=who,
            groups=groups,
            overall=overall,
            by=by,
            groupings=GROUPINGS,
            computed_at=computed_at,
        )

    @app.get("/contacts")
    def contacts(request: Request) -> Response:
        """The contact book: what analysts know better than RDAP."""
        who = console.signed_in(request)
        return console.page(
            "contacts.html",
            request,
            who=who,
            entries=list_contacts(console.store),
            changes=contact_history(console.store, limit=20),
            scopes=SCOPES,
            may_edit=who.role.may(StaffRole.SUPERVISOR),
            done=request.query_params.get("done"),
        )

    @app.get("/contacts/history")
    def contact_entry_history(request: Request, scope: str = "", value: str = "") -> Response:
        """Every change to one entry of the book (or to the whole book), newest first."""
        who = console.signed_in(request)
        try:
            if scope or value:
                changes = contact_history(console.store, scope, value[:320], limit=500)
            else:
                changes = contact_history(console.store, limit=500)
        except ContactError as exc:
            raise Refused(400, str(exc)) from None
        return console.page(
            "contact_history.html", request, who=who, changes=changes, scope=scope, value=value
        )

    @app.post("/contacts")
    def contacts_set(request: Request, posted: Posted) -> Response:
        """Add or replace an entry, or bar (never notify) / unbar: supervisors only."""
        who, form = console.changing(request, StaffRole.SUPERVISOR, posted)
        scope, value = form.get("scope", ""), form.get("value", "")
        try:
            if form.get("remove"):
                removed = remove_contact(console.store, scope, value, actor=who.actor, clock=console.clock)
                done = f"{scope} {value} removed" if removed else f"{scope} {value} was not in the book"
            else:
                entry = set_contact(
                    console.store,
                    scope,
                    value,
                    email=form.get("email") or None,
                    language=form.get("language") or None,
                    never_notify=bool(form.get("never_notify")),
                    note=(form.get("note") or "")[:1000] or None,
                    actor=who.actor,
                    clock=console.clock,
                )
                done = f"{entry.scope} {entry.value} " + ("barred" if entry.never_notify else "saved")
        except ContactError as exc:
            raise Refused(400, str(exc)) from None
        return RedirectResponse("/contacts?" + urlencode({"done": done}), status_code=303)

    @app.get("/users")
    def users(request: Request) -> Response:
        """Accounts and API tokens: supervisors only."""
        who = console.signed_in(request, StaffRole.SUPERVISOR)
        with console.reading() as session:
            accounts, tokens = list_accounts(session), list_tokens(session)
        return console.page(
            "users.html",
            request,
            who=who,
            accounts=accounts,
            tokens=tokens,
            roles=list(StaffRole),
            now=console.clock.now(),
            done=request.query_params.get("done"),
        )

    @app.post("/users")
    def users_change(request: Request, posted: Posted) -> Response:
        """Add an account, disable one, or reset one (new password, lock cleared, sessions ended).
        A new TOTP secret or API token is shown on the answer, once."""
        who, form = console.changing(request, StaffRole.SUPERVISOR, posted)
        action, name, now = form.get("action"), form.get("name", ""), console.clock.now()
        secret = None
        logged: tuple[str, str, dict[str, Any]]
        try:
            with console.session() as session:
                if action == "add":
                    enrolment = add_account(
                        session,
                        name,
                        StaffRole(form.get("role", "auditor"))
                        if form.get("role") in set(StaffRole)
                        else StaffRole.AUDITOR,
                        form.get("password", ""),
                        now=now,
                        second_factor=bool(form.get("second_factor")),
                    )
                    done, secret = f"{enrolment.account.name} added", enrolment.totp_uri
                    logged = ("account_added", enrolment.account.name, {"role": enrolment.account.role.value})
                elif action == "disable":
                    if name.strip().lower() == who.name:
                        raise Refused(409, "You cannot disable your own account.")
                    subject = disable_account(session, name, now=now).name
                    done, logged = f"{subject} disabled", ("account_disabled", subject, {})
                elif action == "reset":
                    enrolment = reset_account(
                        session, name, now=now, password=form.get("password") or None,
                        second_factor=True if form.get("second_factor") else None,
                    )  # fmt: skip
                    done, secret = f"{enrolment.account.name} reset", enrolment.totp_uri
                    changed = {"password": bool(form.get("password")), "new_code": bool(enrolment.totp_uri)}
                    logged = ("account_reset", enrolment.account.name, changed)
                elif action == "token":
                    made = add_token(
                        session,
                        name,
                        TokenScope.WRITE if form.get("scope") == "write" else TokenScope.READ,
                        created_by=who.actor,
                        now=now,
                    )
                    done, secret = f"token {made.view.name} made", made.token
                    logged = ("token_made", made.view.name, {"scope": made.view.scope.value})
                elif action == "revoke":
                    subject = revoke_token(session, name, now=now).name
                    done, logged = f"token {subject} revoked", ("token_revoked", subject, {})
                else:
                    raise Refused(400, "Choose an action.")
                what, subject, detail = logged
                record_staff_event(
                    session, at=now, actor=who.actor, action=what, subject=subject, detail=detail or None
                )
        except AccountError as exc:
            raise Refused(400, str(exc)) from None
        log.info("%s: %s", who.actor, done)
        with console.session() as session:
            accounts, tokens = list_accounts(session), list_tokens(session)
        # The answer itself, not a redirect: a secret must not travel in a URL or a later page.
        return console.page(
            "users.html", request, who=who, accounts=accounts, tokens=tokens, roles=list(StaffRole),
            now=now, done=done, secret=secret,
        )  # fmt: skip

    @app.get("/staff-log")
    def staff_log(request: Request, before: int = 0, account: str = "") -> Response:
        """Sign-ins, accounts and tokens, newest first: for supervisors and auditors."""
        who = console.signed_in(request)
        if who.role not in (StaffRole.SUPERVISOR, StaffRole.AUDITOR):
            raise Refused(403, f"Your role ({who.role}) does not allow this.")
        with console.reading() as session:
            entries = staff_events(
                session, limit=PAGE_SIZE + 1, before_id=before or None, subject=account[:64] or None
            )
        more = len(entries) > PAGE_SIZE
        entries = entries[:PAGE_SIZE]
        next_query = urlencode({"account": account, "before": entries[-1].id}) if more else None
        return console.page(
            "staff_log.html", request, who=who, entries=entries, account=account, next_query=next_query
        )

    @app.get("/queue")
    def queue_form(request: Request) -> Response:
        who = console.signed_in(request, StaffRole.ANALYST)
        return console.page("queue.html", request, who=who, categories=CATEGORIES, default=DEFAULT_CATEGORY)

    @app.post("/queue")
    def queue_urls(request: Request, posted: Posted) -> Response:
        who, form = console.changing(request, StaffRole.ANALYST, posted)
        lines = [line.strip() for line in form.get("urls", "").splitlines()]
        lines = [line for line in lines if line]
        category = form.get("category", DEFAULT_CATEGORY)
        reference = form.get("reference") or None
        if len(lines) > MAX_PASTED_URLS:
            raise Refused(413, f"Paste at most {MAX_PASTED_URLS} URLs at once; import a file for more.")
        outcomes: list[dict[str, Any]] = []
        valid: list[tuple[int, ValidReport]] = []
        for number, line in enumerate(lines, start=1):
            try:
                valid.append(
                    (number, validate_report(Report(url=line, category=category, reference=reference)))
                )
            except InvalidReport as exc:
                outcomes.append({"line": number, "url": line, "outcome": "refused", "detail": exc.message})
        if valid:
            results = _queue(console, [report for _, report in valid], who.actor)
            for (number, _), result in zip(valid, results, strict=True):
                outcomes.append(
                    {
                        "line": number,
                        "url": result.url,
                        "outcome": result.outcome.value,
                        "detail": result.describe(),
                        "case_id": result.case_id,
                    }
                )
        outcomes.sort(key=lambda row: row["line"])
        return console.page(
            "queue.html",
            request,
            who=who,
            categories=CATEGORIES,
            default=category,
            outcomes=outcomes,
        )


EXPORT_COLUMNS = ("id", "state", "url_defanged", "host", "category", "reference", "queued_at")


def _export(
    console: Console,
    request: Request,
    after: int,
    lines: Callable[[Console, CaseFilter], Iterator[str]],
    media_type: str,
    filename: str,
) -> Response:
    """Every case the list's filter matches, streamed as a download (for an auditor too)."""
    console.signed_in(request)
    wanted, problem = _case_filter(_chosen(request), after)
    if problem:
        raise Refused(400, problem)
    disposition = f'attachment; filename="{filename}"'
    return StreamingResponse(
        lines(console, wanted), media_type=media_type, headers={"Content-Disposition": disposition}
    )


def _exported(console: Console, wanted: CaseFilter) -> Iterator[ListedCase]:
    with console.reading() as session:  # a long export holds no lock against the writers
        yield from listed_cases(SessionReads(session), wanted, limit=None)


def _csv_lines(console: Console, wanted: CaseFilter) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    for number, (case_id, state, url, host, category, reference, queued) in enumerate(
        _exported(console, wanted)
    ):
        writer.writerow(
            [case_id, state, _cell(defang(url)), _cell(host), category, _cell(reference or ""), queued]
        )
        if number % 1000 == 999:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _cell(text: str) -> str:
    """A cell a spreadsheet would take for a formula (``=``, ``+``, ``-``, ``@``, a tab or a
    carriage return first) starts with an apostrophe instead: shown, never run (OWASP's advice)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _json_lines(console: Console, wanted: CaseFilter) -> Iterator[str]:
    lines: list[str] = []
    for case in _exported(console, wanted):
        lines.append(listed_json_line(case) + "\n")
        if len(lines) == 1000:
            yield "".join(lines)
            lines = []
    yield "".join(lines)


def _queue(console: Console, reports: list[ValidReport], actor: str) -> list[QueueResult]:
    with console.session() as session:
        return queue_batch(session, reports, actor=actor, now=console.clock.now())


FILTERS = (
    "state",
    "host",
    "needs_analyst",
    "reference",
    "category",
    "country",
    "asn",
    "network",
    "queued_from",
    "queued_to",
    "order",
)
"""The case list's filters, as query parameters (besides ``after``, the keyset page)."""


def _chosen(request: Request) -> dict[str, str]:
    return {name: request.query_params.get(name, "")[:320] for name in FILTERS}


def _day(text: str, what: str) -> datetime | None:
    """A day as the date field sends it (``2026-03-01``), as the UTC midnight that starts it."""
    text = text.strip()
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"The {what} date is a day like 2026-03-01.") from None


def _case_filter(chosen: dict[str, str], after: int) -> tuple[CaseFilter, str | None]:
    """The list's filter from the query string; a value that is not one the console offers is
    named back to the analyst, never passed on."""
    states: tuple[CaseState, ...] = ()
    if chosen["state"]:
        try:
            states = (CaseState(chosen["state"]),)
        except ValueError:
            return CaseFilter(), "That is not a state a case can be in."
    host = chosen["host"].strip().lower()
    if len(host) > 253:
        return CaseFilter(), "That host name is too long."
    asn_text = chosen["asn"].strip().upper().removeprefix("AS")
    if asn_text and not asn_text.isdigit():
        return CaseFilter(), "An AS is a number, like 64500 or AS64500."
    country = chosen["country"].strip().upper()
    if country and not (len(country) == 2 and country.isalpha()):
        return CaseFilter(), "A country is two letters, like NL."
    category = chosen["category"].strip().lower()
    if category and category not in CATEGORIES:
        return CaseFilter(), f"A category is one of: {', '.join(CATEGORIES)}."
    try:
        queued_from = _day(chosen["queued_from"], "queued from")
        queued_to = _day(chosen["queued_to"], "queued to")
    except ValueError as exc:
        return CaseFilter(), str(exc)
    if chosen["order"] not in ("", "oldest", "newest"):
        return CaseFilter(), "The order is oldest or newest first."
    wanted = CaseFilter(
        states=states,
        host=host or None,
        needs_analyst=bool(chosen["needs_analyst"]),
        after_id=max(after, 0),
        newest_first=chosen["order"] == "newest",
        queued_from=queued_from,
        queued_before=queued_to + timedelta(days=1) if queued_to else None,
        reference=chosen["reference"].strip() or None,
        category=category or None,
        country=country or None,
        asn=int(asn_text) if asn_text else None,
        network=chosen["network"].strip() or None,
    )
    return wanted, None
