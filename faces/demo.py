"""``takedown demo``: the pipeline end to end on the sandbox, in a store of its own.

An analyst's file is queued (bad rows refused, duplicates folded), the same file again opens nothing
twice, a case is withdrawn, every case is resolved to the parties who can remove it, then two weeks
of the chase run on an accelerated clock: each day the jobs ``takedown run`` schedules (a revisit
crawl in a child process, a notice round under the chase policy, delivery over the sandbox's SMTP
server). Hosts in the sandbox react to the notices they receive: one removes its content after its
second notice, a registrar suspends a domain when escalated to, one host never acts and an analyst
is asked to. It ends with where every case stands and the time-to-removal statistics, and then the
public's way in: a report through a reporting portal (the real ``takedown portal`` application,
on loopback), its one revisit, a partner's hash list confirming one of its URLs without an
analyst, the reporter's acknowledgement, and the portal's statistics.
"""

from __future__ import annotations

import csv
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hosting.factory import resolver_from_settings
from notices.message import signed_content
from sandbox import HOTLINE_ADDRESS, Sandbox, Scenario
from sandbox.scenario import BUNDLED_SCENARIOS
from schedules.jobs import crawl_job, notify_job
from takedown.case_moves import withdraw
from takedown.cases import list_cases, show_case
from takedown.clock import ManualClock
from takedown.importer import ImportFormat, ImportSummary, read_rows
from takedown.inbox_views import inbox
from takedown.intake import import_rows, queue_batch
from takedown.plain import iso
from takedown.reports import Report, validate_report
from takedown.revisits import due_cases
from takedown.settings import Settings, sqlite_url
from takedown.stats import removal_stats
from takedown.store import Store

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAYS = 14
COMES_BACK_DAY = 6
DEMO_POLICY = Path(__file__).resolve().parent / "demo_chase.toml"
POLICY_NOTE = "reminders every 2 days, 2 of them, then registrar/CDN, then upstream"


def run_demo(
    *,
    directory: Path | None,
    actor: str,
    echo: Callable[[str], None],
    then: Callable[[Store, ManualClock, Settings], None] | None = None,
) -> None:
    """The walkthrough; ``then`` is given the demo's store, clock and settings at the end, before
    the store is closed and the sandbox stopped (``takedown demo --serve`` keeps the console up on
    them)."""
    workdir = directory or Path(tempfile.mkdtemp(prefix="takedown-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    database_url = sqlite_url(workdir / "demo.db")
    store = Store.open(database_url)
    clock = ManualClock(START)
    try:
        with Sandbox.from_scenario(Scenario.load(BUNDLED_SCENARIOS / "basic.json")) as sandbox:
            reports = _write_reports(workdir / "reports.csv", sandbox)

            echo(f"1. An analyst queues the confirmed URLs in {reports.name} ({iso(clock.now())})")
            summary = _import(store, reports, actor, clock)
            echo(f"   {_counts(summary)}")
            for error in summary.errors:
                echo(f"   refused {error}")

            echo("2. The same file is queued again: nothing is opened twice")
            echo(f"   {_counts(_import(store, reports, actor, clock))}")

            echo("3. One case is withdrawn by an analyst (reported in error)")
            with store.session() as session:
                withdrawn = list_cases(session)[-1]
                withdraw(
                    session,
                    withdrawn.id,
                    reason="duplicate of a partner hotline's report",
                    actor=actor,
                    now=clock.now(),
                )
            echo(f"   case {withdrawn.id} withdrawn")

            echo("4. Who must take each case down (DNS, RDAP at five registries' servers, CDN, upstream)")
            _resolve_open(sandbox, store, clock, echo)

            echo(f"5. The chase on an accelerated clock: a crawl and a notice round a day ({POLICY_NOTE})")
            echo("   notices are signed (S/MIME) and carry each provider's link to its page; replies go to")
            echo("   takedown inbox; the sandbox's abuse desks answer as its scenario says")
            secret = secrets.token_urlsafe(48)
            with _provider_side(store, clock, secret) as (page_url, inbox):
                sandbox.desks.inbox = inbox
                settings = Settings.from_env(
                    {
                        **sandbox.environment(),
                        "TAKEDOWN_DATABASE_URL": database_url,
                        "TAKEDOWN_CHASE_POLICY": str(DEMO_POLICY),
                        "TAKEDOWN_FETCH_TIMEOUT": "5",
                        "TAKEDOWN_HOME": str(workdir),
                        "TAKEDOWN_PROVIDER_KEY": secret,
                        "TAKEDOWN_PUBLIC_URL": page_url,
                    }
                )
                for day in range(DAYS):
                    sandbox.event(f"day:{day}")  # the sandbox's own calendar: content that comes back
                    news = [_report_again(store, sandbox, actor, clock)] if day == COMES_BACK_DAY else []
                    _chase_day(day, sandbox, settings, store, clock, echo, news)
                    clock.set(START + timedelta(days=day + 1))  # a recheck may have moved it on

            echo(f"6. Where every case ended ({iso(clock.now())})")
            _show_cases(store, echo)
            echo("7. Time to removal, by hosting network (takedown stats)")
            with store.session() as session:
                for row in removal_stats(session, "network"):
                    median = "-" if row.median_hours is None else f"{row.median_hours:.0f} h"
                    counts = f"removed {row.removed}, still open {row.still_open}"
                    echo(f"   {row.group:<40} {counts}, median {median}")
            echo("8. The public reports through the Kenya portal (takedown portal: in Swahili, no cookie)")
            _portal(sandbox, settings, store, clock, actor, echo)
            if directory is not None:
                echo(f"The demo's store is kept at {workdir / 'demo.db'}")
            if then is not None:  # the sandbox stays up: previews resolve against it
                then(store, clock, settings)
    finally:
        store.dispose()
        if directory is None:
            shutil.rmtree(workdir, ignore_errors=True)


def _write_reports(path: Path, sandbox: Sandbox) -> Path:
    rows = [
        (sandbox.url("host-a.test", "/gallery/1.jpg"), "HL-2026-0001"),
        (
            sandbox.url("HOST-A.test", "/gallery/./1.jpg#top"),
            "HL-2026-0002",
        ),  # the same URL, written otherwise
        (sandbox.url("host-a.test", "/old"), "HL-2026-0003"),  # redirects to the gallery
        (sandbox.url("cdn-fronted.test", "/v/clip.mp4"), "HL-2026-0004"),
        (sandbox.url("host-b.test", "/x.jpg"), "HL-2026-0005"),
        (sandbox.url("gone-soon.test", "/p/1"), "HL-2026-0006"),
        (sandbox.url("host-a.test", "/already-removed.jpg"), "HL-2026-0007"),
        ("ftp://files.host-a.test/x.zip", "HL-2026-0008"),
        ("http://user:secret@host-b.test/p/1", "HL-2026-0009"),
        (sandbox.url("quick.test", "/q.jpg"), "HL-2026-0011"),
        (sandbox.url("host-b.test", "/reported-in-error.jpg"), "HL-2026-0010"),
    ]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["url", "category", "reference"])
        writer.writerows((url, "csam", reference) for url, reference in rows)
    return path


def _import(store: Store, path: Path, actor: str, clock: ManualClock) -> ImportSummary:
    with path.open("rb") as handle:
        return import_rows(store, read_rows(handle, ImportFormat.CSV), actor=actor, clock=clock)


def _counts(summary: ImportSummary) -> str:
    counts = summary.counts
    return (
        f"queued {counts['queued']}, reopened {counts['reopened']}, "
        f"already open {counts['already_open']}, refused {summary.rejected}"
    )


def _report_again(store: Store, sandbox: Sandbox, actor: str, clock: ManualClock) -> str:
    url = sandbox.url("quick.test", "/q.jpg")
    with store.session() as session:
        [result] = queue_batch(
            session, [validate_report(Report(url, reference="HL-2026-0011"))], actor=actor, now=clock.now()
        )
    return f"{url} is reported again (the content came back): {result.describe()}"


def _resolve_open(sandbox: Sandbox, store: Store, clock: ManualClock, echo: Callable[[str], None]) -> None:
    settings = Settings.from_env({**sandbox.environment(), "TAKEDOWN_DATABASE_URL": "sqlite://"})
    resolver = resolver_from_settings(settings, store=store, clock=clock)
    with store.session() as session:
        cases = [(case.id, case.url) for case in list_cases(session) if case.is_open]
    try:
        for (case_id, _), result in zip(
            cases, resolver.resolve_many((url, None) for _, url in cases), strict=True
        ):
            parties = "; ".join(f"{p.role} {p.name}: {', '.join(p.emails) or '-'}" for p in result.parties)
            echo(f"   case {case_id:<3} {parties}")
    finally:
        resolver.close()


def _chase_day(
    day: int,
    sandbox: Sandbox,
    settings: Settings,
    store: Store,
    clock: ManualClock,
    echo: Callable[[str], None],
    news: list[str],
) -> None:
    """One day of the chase: what ``takedown run`` does on its schedule, said aloud."""
    started = clock.now()
    with store.session() as session:
        before = {case.id: case.state for case in list_cases(session)}
    crawl_due = next(due_cases(store, now=clock.now(), page_size=1), None) is not None
    crawl = crawl_job(settings, clock.now()) if crawl_due else {"revisited": 0}
    sent_before = len(sandbox.smtp.messages)
    notified = notify_job(settings, store, clock)
    lines = list(news)
    with store.session() as session:
        for case in list_cases(session):
            if before.get(case.id) != case.state:
                lines.append(f"case {case.id} {before.get(case.id)} -> {case.state}")
    for received in sandbox.smtp.messages[sent_before:]:
        message = received.message
        subject = str(message["Subject"]).split("] ", 1)[-1].split(":", 1)[0]
        cases = len(list(signed_content(message).iter_attachments()))
        lines.append(f"{subject.lower()} to {message['To']} ({cases} case{'s' if cases > 1 else ''})")
    lines += [f"case {case_id}: an analyst must act" for case_id in notified.rounds.needs_analyst]
    lines += _desks_answer(sandbox, settings, store, clock)
    if crawl["revisited"] or lines:
        echo(f"   day {day:<2} {iso(started)}  revisited {crawl['revisited']}")
        for line in lines:
            echo(f"          {line}")


@contextmanager
def _provider_side(store: Store, clock: ManualClock, secret: str) -> Iterator[tuple[str, tuple[str, int]]]:
    """What providers reach while the chase runs: the web application (its provider page, at the
    links in the notices) and ``takedown inbox serve`` (where replies to notices go)."""
    from faces.console.app import create_app
    from faces.console.serve import serving
    from notices.inbox_server import InboxServer
    from takedown.provider_access import provider_key

    application = create_app(store, clock=clock, provider_key=provider_key(secret))
    with serving(application) as url, InboxServer(store, clock, [HOTLINE_ADDRESS], port=0) as inbox:
        yield url, inbox.address


def _desks_answer(sandbox: Sandbox, settings: Settings, store: Store, clock: ManualClock) -> list[str]:
    """The abuse desks answer the day's notices. A provider that says "removed" on its page brings
    its cases' revisit forward: the scheduler's next crawl (every 15 minutes) checks them, instead of
    the revisit planned for the next day; what that saves of the time to removal is said."""
    planned = _next_checks(store)
    lines = list(sandbox.desks.act())
    if not lines:
        return []
    now = clock.now()
    with store.reading() as session:
        recorded = [item for item in inbox(session, limit=100, handled=True) if item.received_at == now]
        waiting = [item for item in inbox(session, limit=100) if item.received_at == now]
    lines += [
        f"their ticket {item.ticket} is recorded on case(s) {', '.join(map(str, item.case_ids))}"
        for item in recorded
        if item.kind == "auto_reply" and item.ticket
    ]
    lines += [f"message {item.id} from {item.sender} waits in the console's inbox" for item in waiting]
    brought = {case_id for case_id, when in _next_checks(store).items() if when == now}
    if brought:
        clock.advance(timedelta(minutes=15))
        crawl_job(settings, clock.now())
        with store.reading() as session:
            for case_id in sorted(brought):
                state = show_case(session, case_id).state
                was = planned.get(case_id)
                hours = (was - clock.now()).total_seconds() / 3600 if was is not None else 0
                sooner = f", {hours:.0f} h before its planned revisit" if hours >= 1 else ""
                lines.append(
                    f"case {case_id} revisited 15 minutes after the provider's answer: {state}{sooner}"
                )
    return lines


def _next_checks(store: Store) -> dict[int, datetime | None]:
    with store.reading() as session:
        return {
            case.id: show_case(session, case.id).next_check_at for case in list_cases(session) if case.is_open
        }


def _show_cases(store: Store, echo: Callable[[str], None]) -> None:
    with store.session() as session:
        for case in list_cases(session):
            echo(f"   case {case.id:<3} {case.state:<11} {case.url}")


def _portal(
    sandbox: Sandbox,
    settings: Settings,
    store: Store,
    clock: ManualClock,
    actor: str,
    echo: Callable[[str], None],
) -> None:
    """A report through a portal, its revisit, and what became of it (which the reporter never learns)."""
    from faces.console.serve import serving
    from faces.portal.app import create_portal_app
    from notices.acknowledgements import acknowledge_reports
    from sandbox.web import Serve, content_digest
    from takedown.hash_list_import import HashRow, ReadHashRow, import_hash_list
    from takedown.portal_figures import portal_stats
    from takedown.portal_queue import awaiting
    from takedown.portals import PortalChange, add_portal

    with store.session() as session:
        kenya = PortalChange(country="KE", languages=["sw", "en"], partner="Watoto Salama (demo)",
                             helplines=["Childline Kenya: 116"], acknowledgements=True)  # fmt: skip
        add_portal(session, "ke", kenya, actor=actor, now=clock.now())
    known = sandbox.serve("host-b.test", "/album/7.jpg", Serve("portal-known"))
    unknown = sandbox.serve("host-b.test", "/album/8.jpg", Serve("portal-unknown"))
    entry = HashRow(
        sha256=content_digest("portal-known"), category="csam", classification="A1", reference="P-7"
    )
    listed = iter([ReadHashRow(2, entry)])
    import_hash_list(
        store.session, listed, name="partner-hashes", version="2026-03", actor=actor, clock=clock
    )
    with serving(create_portal_app(store, clock=clock)) as url:  # a visitor's browser, in Swahili
        form, form_cookies = _visit(f"{url}/ke/")
        urls = "\n".join([known, unknown, sandbox.url("host-a.test", "/gallery/1.jpg")])
        fields = {"urls": urls, "content": "images", "address": "mtu@reporter.test"}
        answer, answer_cookies = _visit(f"{url}/ke/?lang=sw", fields)
    reference = answer.split('class="reference">', 1)[1].split("<", 1)[0]
    cookies = form_cookies + answer_cookies
    echo(f"   the form: {len(form.encode()):,} bytes, cookies set: {cookies}")
    echo(f"   three URLs reported; the reporter is given {reference} and nothing about what becomes of it")
    crawl = crawl_job(settings, clock.now())
    echo(f"   the next crawl revisits the two new URLs once: {crawl.get('reported', {})}")
    echo(
        "   (the third is case 1's URL, still open: a 'reported again' line on its trail, nothing to assess)"
    )
    sent_before = len(sandbox.smtp.messages)
    acknowledge_reports(settings, store, clock)  # what the scheduler's notice round also does
    for received in sandbox.smtp.messages[sent_before:]:
        message = received.message
        language = message["Content-Language"]
        echo(f"   acknowledgement to {message['To']} in {language}; the address is deleted")
    with store.session() as session:
        opened = [case for case in list_cases(session) if case.reference == reference]
        waiting = [row for row in awaiting(session) if row.report == reference]
        portals = portal_stats(session)
    for case in opened:
        echo(f"   case {case.id} opened by the partner's hash list (a trusted match): {case.url}")
    for row in waiting:
        seen = (row.revisit or {}).get("outcome")
        echo(f"   waits for an analyst (console: /reports/assess): {row.url} ({seen})")
    for fared in portals:
        counts = f"{fared.reports} report(s), {fared.urls} URLs, {fared.confirmed} confirmed"
        echo(f"   portal {fared.portal}: {counts}")


def _visit(url: str, form: dict[str, str] | None = None) -> tuple[str, int]:
    """A page as a browser set to Swahili gets it (a form posted when given), and how many cookies
    it was asked to keep. The standard library's client: the demo needs nothing the tests install."""
    from urllib.parse import urlencode
    from urllib.request import Request, urlopen

    data = urlencode(form).encode("ascii") if form is not None else None
    request = Request(url, data=data, headers={"Accept-Language": "sw"})
    with urlopen(request, timeout=30) as response:  # the demo's own server, on loopback
        return response.read().decode("utf-8"), len(response.headers.get_all("Set-Cookie") or [])
