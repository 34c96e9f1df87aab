"""The JSON API, ``/api/v1``: the console's operations for scripts and other systems.

Bearer tokens only (``takedown tokens add NAME --scope read|write``); the console's session cookie
opens nothing here, so no page of another site can make a browser call it (no CSRF to defend
against). The bodies are the CLI's ``--json`` shapes, made by the same :func:`takedown.plain.plain`:
a script moves between ``takedown queue list --json`` and ``GET /api/v1/cases`` without changing
its parser. The OpenAPI description is at ``/api/v1/openapi.json``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import Body, FastAPI, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from notices.listing import list_notices
from notices.sent import NoticeNotFound, read_notice
from takedown.api_tokens import find_token
from takedown.case_moves import withdraw
from takedown.case_record import case_record
from takedown.case_views import CaseFilter
from takedown.cases import list_cases, recheck_now, show_case
from takedown.errors import CaseNotFound, InvalidReport, InvalidTransition
from takedown.hash_export import confirmed_fingerprints
from takedown.intake import queue_batch
from takedown.plain import json_line, plain
from takedown.reports import DEFAULT_CATEGORY, Report, validate_report
from takedown.sql_reads import SessionReads
from takedown.states import CaseState
from takedown.stats import GROUPINGS, already_gone_count, removal_stats
from takedown.token_views import TokenScope, TokenView
from takedown.vocabulary import NoticeStatus

MAX_PAGE = 1000
MAX_QUEUED_AT_ONCE = 1000


class ApiRefused(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


class QueueRequest(BaseModel):
    """URLs an analyst confirmed, with what goes with all of them (as ``queue add`` takes them)."""

    urls: list[str] = Field(min_length=1, max_length=MAX_QUEUED_AT_ONCE)
    category: str = DEFAULT_CATEGORY
    reference: str | None = None
    classification: str | None = None


class WithdrawRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


def _utc(when: datetime | None) -> datetime | None:
    """A time from the query string in UTC; one without an offset is taken to be UTC."""
    if when is None:
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def create_api(console: Any) -> FastAPI:
    """The API over ``console``'s store and clock (a :class:`faces.console.app.Console`)."""
    api = FastAPI(
        title="takedown API", version="1", docs_url=None, redoc_url=None, openapi_url="/openapi.json"
    )

    @api.exception_handler(CaseNotFound)
    async def not_found(request: Request, exc: CaseNotFound) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=404)

    @api.exception_handler(ApiRefused)
    async def refused(request: Request, exc: ApiRefused) -> JSONResponse:
        return JSONResponse({"error": exc.message}, status_code=exc.status, headers=exc.headers)

    def token(request: Request, needed: TokenScope) -> TokenView:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value:
            raise ApiRefused(
                401, "send a token: Authorization: Bearer <token>", {"WWW-Authenticate": "Bearer"}
            )
        with console.session() as session:
            found = find_token(session, value.strip(), now=console.clock.now())
        if found is None:
            raise ApiRefused(
                401, "that token is not valid", {"WWW-Authenticate": 'Bearer error="invalid_token"'}
            )
        if not found.scope.may(needed):
            raise ApiRefused(403, f"a {found.scope} token cannot do this; it needs {needed}")
        return found

    @api.get("/cases")
    def cases(
        request: Request,
        state: Annotated[list[CaseState] | None, Query()] = None,
        host: str | None = None,
        needs_analyst: bool = False,
        after: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
        reference: Annotated[str | None, Query(max_length=200)] = None,
        category: Annotated[str | None, Query(max_length=32)] = None,
        country: Annotated[str | None, Query(pattern="^[A-Za-z]{2}$")] = None,
        asn: Annotated[int | None, Query(ge=0)] = None,
        network: Annotated[str | None, Query(max_length=64)] = None,
        queued_from: datetime | None = None,
        queued_before: datetime | None = None,
        order: Literal["oldest", "newest"] = "oldest",
    ) -> JSONResponse:
        """Cases in the order they were queued, filtered; page with ``after`` = the last id of the
        page before. ``queued_from`` / ``queued_before``: ISO 8601 times (UTC unless an offset is
        given); with either, the list is in queued-time order."""
        token(request, TokenScope.READ)
        wanted = CaseFilter(
            states=tuple(state or ()),
            host=host.strip().lower() if host else None,
            needs_analyst=needs_analyst,
            after_id=after,
            reference=reference,
            category=category.lower() if category else None,
            country=country.upper() if country else None,
            asn=asn,
            network=network,
            newest_first=order == "newest",
            queued_from=_utc(queued_from),
            queued_before=_utc(queued_before),
        )
        with console.reading() as session:
            rows = list_cases(session, wanted, limit=limit + 1)
        page = rows[:limit]
        more = len(rows) > limit
        return JSONResponse({"cases": plain(page), "next_after": page[-1].id if more else None})

    @api.get("/cases/{case_id}")
    def case(request: Request, case_id: int) -> JSONResponse:
        """A case as ``takedown case show --json`` gives it, with its revisits, resolutions and
        notices under ``record``."""
        token(request, TokenScope.READ)
        try:
            with console.reading() as session:
                detail = plain(show_case(session, case_id))
                detail["record"] = plain(case_record(session, case_id))
        except CaseNotFound as exc:
            raise ApiRefused(404, str(exc)) from None
        return JSONResponse(detail)

    @api.post("/cases")
    async def queue(request: Request, body: QueueRequest) -> JSONResponse:
        """Queue URLs: one result per URL, in order (queued, already_open or reopened), or why
        it was refused; the rest go in. 200 when every URL went in, 207 when some were refused,
        422 when all were."""
        who = await run_in_threadpool(token, request, TokenScope.WRITE)
        results: list[dict[str, Any]] = []
        valid = []
        for index, url in enumerate(body.urls):
            try:
                report = Report(
                    url=url,
                    category=body.category,
                    reference=body.reference,
                    classification=body.classification,
                )
                valid.append((index, validate_report(report)))
            except InvalidReport as exc:
                results.append(
                    {"index": index, "url": url, "refused": {"field": exc.field, "message": exc.message}}
                )
        if valid:

            def write() -> list[Any]:
                with console.session() as session:
                    return queue_batch(
                        session, [report for _, report in valid], actor=who.actor, now=console.clock.now()
                    )

            queued = await run_in_threadpool(write)
            for (index, _), result in zip(valid, queued, strict=True):
                results.append({"index": index, **plain(result)})
        results.sort(key=lambda row: row["index"])
        status = 200 if len(valid) == len(body.urls) else (207 if valid else 422)
        return JSONResponse({"results": results}, status_code=status)

    @api.post("/cases/{case_id}/withdraw")
    def withdraw_case(
        request: Request, case_id: int, body: Annotated[WithdrawRequest, Body()]
    ) -> JSONResponse:
        who = token(request, TokenScope.WRITE)
        try:
            with console.session() as session:
                summary = withdraw(
                    session, case_id, reason=body.reason, actor=who.actor, now=console.clock.now()
                )
        except CaseNotFound as exc:
            raise ApiRefused(404, str(exc)) from None
        except InvalidTransition as exc:
            raise ApiRefused(409, str(exc)) from None
        return JSONResponse(plain(summary))

    @api.post("/cases/{case_id}/recheck")
    def recheck_case(request: Request, case_id: int) -> JSONResponse:
        """Revisit the case in the next crawl; 409 when it is closed (or 404 when there is none)."""
        who = token(request, TokenScope.WRITE)
        with console.session() as session:
            moved = recheck_now(session, [case_id], actor=who.actor, now=console.clock.now())
            if not moved:
                show_case(session, case_id)  # CaseNotFound when there is no such case
        if not moved:
            raise ApiRefused(409, f"case {case_id} is closed: there is nothing to revisit")
        return JSONResponse({"case": case_id, "next_check_at": plain(console.clock.now())})

    @api.get("/notices")
    def notices(
        request: Request,
        status: NoticeStatus | None = None,
        recipient: Annotated[str | None, Query(max_length=320)] = None,
        before: Annotated[int | None, Query(ge=1)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    ) -> JSONResponse:
        """The outbox, newest first, as ``takedown notices list --json`` prints it; page with
        ``before`` = the last id of the page before."""
        token(request, TokenScope.READ)
        rows = list_notices(
            console.store,
            status=status.value if status else None,
            recipient=recipient,
            before_id=before,
            limit=limit + 1,
        )
        page = rows[:limit]
        more = len(rows) > limit
        return JSONResponse({"notices": plain(page), "next_before": page[-1].id if more else None})

    @api.get("/notices/{notice_id}")
    def notice(request: Request, notice_id: int) -> JSONResponse:
        """A notice exactly as sent: its listing, its cases, and its message taken apart (headers,
        text, the HTML part as source, each X-ARF report as text)."""
        token(request, TokenScope.READ)
        try:
            sent = read_notice(console.store, notice_id)
        except NoticeNotFound as exc:
            raise ApiRefused(404, str(exc)) from None
        return JSONResponse(
            {
                **plain(sent.listing),
                "case_ids": list(sent.case_ids),
                "message": plain(sent.message) if sent.message else None,
            }
        )

    @api.get("/hashes")
    def hashes(request: Request, since: datetime | None = None) -> StreamingResponse:
        """The hotline's hash feed for partners, as JSON Lines (``takedown hashes export --json``):
        one object a line, ``action`` add or remove; with ``since``, a delta. Any read token: make
        one per partner, so each can be revoked alone."""
        token(request, TokenScope.READ)
        wanted = _utc(since)

        def lines() -> Iterator[str]:
            with console.reading() as session:
                for row in confirmed_fingerprints(SessionReads(session), since=wanted):
                    yield json_line(plain(row)) + "\n"

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    @api.get("/stats")
    def stats(request: Request, by: str = "network") -> JSONResponse:
        """Time to removal by ``network``, ``asn`` or ``country``: what ``takedown stats --json``
        prints."""
        token(request, TokenScope.READ)
        if by not in GROUPINGS:
            raise ApiRefused(400, f"by must be one of {', '.join(GROUPINGS)}")
        with console.reading() as session:
            rows = removal_stats(session, by)
            gone = already_gone_count(session)
        return JSONResponse({"by": by, "groups": plain(rows), "already_gone": gone})

    return api
