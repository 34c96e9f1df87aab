"""The ``takedown`` command. It wires the packages together and is the only core module that may.

Output for people goes to stdout as text or tables; ``--json`` gives the same facts to scripts.
Progress and errors go to stderr. Exit codes are in :mod:`takedown.exitcodes`.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from takedown import __version__, exitcodes
from takedown.canonical import CanonicalizationError, canonical_parts
from takedown.cases import get_case, list_cases, withdraw
from takedown.clock import Clock, SystemClock, ensure_utc
from takedown.durations import parse_duration
from takedown.errors import (
    CaseNotFound,
    ConfigurationError,
    InvalidReport,
    InvalidTransition,
    StoreError,
    TakedownError,
)
from takedown.importer import ImportFileError, ImportFormat, ImportSummary, import_rows, read_rows
from takedown.intake import CATEGORIES, DEFAULT_CATEGORY, Report, queue_batch, validate_report
from takedown.presenting import case_detail, case_summary, describe_event, iso
from takedown.settings import Settings
from takedown.states import CaseState
from takedown.store import Store, safe_url

if TYPE_CHECKING:
    from hosting.resolve import Resolution

log = logging.getLogger("takedown")


@dataclass
class App:
    """What every command needs; tests build one with their own store, clock and settings."""

    settings: Settings
    clock: Clock = field(default_factory=SystemClock)
    _store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store.open(self.settings.database_url)
        return self._store


def fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@contextmanager
def errors_as_exit_codes() -> Iterator[None]:
    """Turn the core's typed errors into a message and the exit code that means it."""
    try:
        yield
    except CaseNotFound as exc:
        fail(str(exc), exitcodes.NOT_FOUND)
    except InvalidTransition as exc:
        fail(str(exc), exitcodes.REFUSED)
    except InvalidReport as exc:
        fail(str(exc), exitcodes.DATA_ERROR)
    except ImportFileError as exc:
        fail(str(exc), exitcodes.USAGE)
    except (StoreError, TakedownError) as exc:
        fail(str(exc), exitcodes.FAILURE)
    except DBAPIError as exc:
        store_lost(exc)


def store_lost(exc: DBAPIError) -> NoReturn:
    """The database failed under a command (gone away, disk full, locked for too long): one line
    saying so, exit 1; the traceback only with -v."""
    log.info("the store failed", exc_info=exc)
    reason = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
    fail(f"the store failed: {reason[:300]} (run with -v for the details)", exitcodes.FAILURE)


def print_json(data: Any) -> None:
    """One JSON value on one line. The convention every ``--json`` follows: a command that reports
    one result prints one object; a command that lists or follows things (queue list, notices list,
    contacts list, resolve and url canonicalize of several URLs, run) prints one object a line (JSON
    Lines), so a million rows stream and ``jq`` reads both alike. Times are ISO 8601 UTC with a Z."""
    click.echo(json.dumps(data, ensure_ascii=False, sort_keys=False))


def json_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of text.")(
        function
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="takedown")
@click.option(
    "--database-url",
    envvar="TAKEDOWN_DATABASE_URL",
    help="SQLAlchemy URL of the store [env TAKEDOWN_DATABASE_URL; default: a SQLite file in $TAKEDOWN_HOME "
    "or ~/.local/share/takedown].",
)
@click.option(
    "--actor", envvar="TAKEDOWN_ACTOR", help="Who is acting, for the audit log [default: analyst:$USER]."
)
@click.option("-v", "--verbose", count=True, help="Log more to stderr (-v info, -vv debug).")
@click.pass_context
def cli(ctx: click.Context, database_url: str | None, actor: str | None, verbose: int) -> None:
    """Takedown pipeline for internet hotlines: queue confirmed URLs, revisit, notify, chase to removal."""
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    for handler in logging.root.handlers:  # libraries (Scrapy) lower their own loggers' levels:
        handler.setLevel(level)  # what reaches stderr is still only what -v asked for
    if ctx.obj is None:
        try:
            settings = Settings.from_env()
        except ConfigurationError as exc:  # at start-up, before anything is done
            fail(str(exc), exitcodes.USAGE)
        overrides = {}
        if database_url:
            overrides["database_url"] = database_url
        if actor:
            overrides["actor"] = actor
        if overrides:
            settings = Settings(**{**settings_dict(settings), **overrides})
        ctx.obj = App(settings=settings)


class Duration(click.ParamType[timedelta]):
    """A click option that takes a duration: ``90s``, ``15m``, ``2h``, ``7d``, or a bare number in
    the option's own unit; gives a :class:`~datetime.timedelta`."""

    name = "duration"

    def __init__(self, unit: str) -> None:
        self.unit = unit

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> timedelta:
        if isinstance(value, timedelta):
            return value
        option = param.opts[0] if param is not None and param.opts else "duration"
        try:
            return parse_duration(value, unit=self.unit, name=option, zero_ok=False)
        except ConfigurationError as exc:
            self.fail(str(exc), param, ctx)


def settings_dict(settings: Settings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in settings.__slots__}


# --- queue -----------------------------------------------------------------------------------------


@cli.group()
def queue() -> None:
    """Queue confirmed URLs and look at the queue."""


@queue.command("add")
@click.argument("url")
@click.option(
    "--category",
    type=click.Choice(list(CATEGORIES)),
    default=DEFAULT_CATEGORY,
    show_default=True,
    help="What the analyst confirmed.",
)
@click.option("--reference", help="The analyst's own reference for the report (kept in the audit trail).")
@click.option(
    "--classification",
    type=click.Choice(["baseline", "A1", "A2", "B1", "B2"], case_sensitive=False),
    help="The analyst's grading, reported in X-ARF [default: TAKEDOWN_CSAM_CLASSIFICATION].",
)
@click.option(
    "--sha256", "sha256", multiple=True, metavar="HEX", help="SHA-256 of the content as assessed; repeatable."
)
@click.option(
    "--md5", "md5", multiple=True, metavar="HEX", help="MD5 of the content as assessed; repeatable."
)
@json_option
@click.pass_obj
def queue_add(
    app: App,
    url: str,
    category: str,
    reference: str | None,
    classification: str | None,
    sha256: tuple[str, ...],
    md5: tuple[str, ...],
    as_json: bool,
) -> None:
    """Queue one confirmed URL. Queuing a URL that is already open changes nothing, and says so.

    Exit status: 0 queued or already open; 65 the URL or a field was refused.
    """
    with errors_as_exit_codes():
        valid = validate_report(
            Report(
                url=url,
                category=category,
                reference=reference,
                sha256=sha256,
                md5=md5,
                classification=classification,
            )
        )
        with app.store.session() as session:
            [result] = queue_batch(session, [valid], actor=app.settings.actor, now=app.clock.now())
    if as_json:
        print_json(
            {
                "outcome": result.outcome.value,
                "case_id": result.case_id,
                "previous_case_id": result.previous_case_id,
                "url": result.url,
            }
        )
    else:
        click.echo(f"{result.url}: {result.describe()}")


@queue.command("import")
@click.argument("file", type=click.File("rb"))
@click.option(
    "--format",
    "file_format",
    type=click.Choice([f.value for f in ImportFormat]),
    help="csv (header: url,category,reference,sha256,md5), jsonl (one object a line) or lines "
    "(one URL a line) [default: from the file name].",
)
@click.option(
    "--category",
    type=click.Choice(list(CATEGORIES)),
    help=f"Category for rows that name none [default: {DEFAULT_CATEGORY}].",
)
@click.option(
    "--batch-size", type=click.IntRange(1, 100_000), default=1000, show_default=True, help="Rows per commit."
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@json_option
@click.pass_obj
def queue_import(
    app: App,
    file: Any,
    file_format: str | None,
    category: str | None,
    batch_size: int,
    quiet: bool,
    as_json: bool,
) -> None:
    """Queue every URL in FILE ('-' for stdin). Safe to run again: open URLs are not queued twice.

    A refused row is listed with its line number and the field at fault; the other rows still go in.

    Exit status: 0 all rows accepted; 3 some refused; 65 all refused; 2 the file cannot be read.
    """
    with errors_as_exit_codes():
        name = getattr(file, "name", "<stdin>")
        chosen = ImportFormat(file_format) if file_format else ImportFormat.guess(name)
        rows = read_rows(file, chosen, default_category=category)
        total = _count_lines(name) if name != "<stdin>" else None
        show_progress = not quiet and sys.stderr.isatty()
        with _progress(total, enabled=show_progress) as advance:
            summary = import_rows(
                app.store,
                rows,
                actor=app.settings.actor,
                clock=app.clock,
                batch_size=batch_size,
                on_progress=advance,
            )
    _report_import(summary, as_json)
    if summary.rejected and not summary.accepted:
        sys.exit(exitcodes.DATA_ERROR)
    if summary.rejected:
        sys.exit(exitcodes.PARTIAL)


def _count_lines(path: str) -> int | None:
    try:
        with open(path, "rb") as handle:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    except OSError:
        return None


@contextmanager
def _progress(total: int | None, *, enabled: bool) -> Iterator[Callable[[int], None] | None]:
    if not enabled:
        yield None
        return
    progress = Progress(
        TextColumn("importing"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with progress:
        task = progress.add_task("import", total=total)
        yield lambda rows: progress.advance(task, rows)


def _report_import(summary: ImportSummary, as_json: bool) -> None:
    if as_json:
        print_json(summary.as_dict())
        return
    counts = summary.counts
    click.echo(
        f"queued {counts['queued']}, reopened {counts['reopened']}, already open {counts['already_open']}, "
        f"refused {summary.rejected}"
    )
    for error in summary.errors:
        click.echo(f"refused: {error}", err=True)


@queue.command("list")
@click.option(
    "--state",
    "states",
    multiple=True,
    type=click.Choice([state.value for state in CaseState]),
    help="Only cases in this state; repeatable [default: all].",
)
@click.option("--host", help="Only cases on this host name (ASCII/punycode).")
@click.option(
    "--needs-analyst", is_flag=True, help="Only open cases the chase gave up on: someone must act on them."
)
@click.option("--limit", type=click.IntRange(1), default=100, show_default=True)
@click.option(
    "--after", "after_id", type=click.IntRange(0), default=0, help="Start after this case id (paging)."
)
@json_option
@click.pass_obj
def queue_list(
    app: App,
    states: tuple[str, ...],
    host: str | None,
    needs_analyst: bool,
    limit: int,
    after_id: int,
    as_json: bool,
) -> None:
    """List cases, oldest first."""
    with errors_as_exit_codes(), app.store.session() as session:
        cases = list_cases(
            session,
            states=[CaseState(s) for s in states],
            host=host,
            limit=limit,
            after_id=after_id,
            needs_analyst=needs_analyst,
        )
        rows = [case_summary(case) for case in cases]
    if as_json:
        for row in rows:  # a list: one object a line (JSON Lines), as every listing prints
            print_json(row)
        return
    if not rows:
        click.echo("no cases")
        return
    # Plain aligned columns, URL last and never truncated: people read it, and so do awk and cut.
    reference_width = max([len("reference")] + [len(row["reference"] or "-") for row in rows])
    click.echo(
        f"{'id':>7}  {'state':<11}  {'queued':<20}  {'category':<13}  {'reference':<{reference_width}}  url"
    )
    for row in rows:
        click.echo(
            f"{row['id']:>7}  {row['state']:<11}  {row['queued_at']:<20}  {row['category']:<13}  "
            f"{row['reference'] or '-':<{reference_width}}  {row['url']}"
        )


# --- case ------------------------------------------------------------------------------------------


@cli.group("case")
def case_group() -> None:
    """Look at one case, or act on it."""


@case_group.command("show")
@click.argument("case_id", type=int)
@json_option
@click.pass_obj
def case_show(app: App, case_id: int, as_json: bool) -> None:
    """Show a case and its timeline from the audit log.

    Exit status: 0 shown; 4 no such case.
    """
    with errors_as_exit_codes(), app.store.session() as session:
        case = get_case(session, case_id, with_history=True)
        detail = case_detail(case)
        lines = [(iso(event.at), event.actor, describe_event(event)) for event in case.events]
    if as_json:
        print_json(detail)
        return
    click.echo(f"case {detail['id']}  [{detail['state']}]")
    click.echo(f"  url        {detail['url']}")
    click.echo(f"  canonical  {detail['canonical_url']}")
    click.echo(f"  host       {detail['host']}")
    click.echo(f"  category   {detail['category']}")
    if detail["reference"]:
        click.echo(f"  reference  {detail['reference']}")
    if detail["previous_case_id"]:
        click.echo(f"  reopens    case {detail['previous_case_id']}")
    for fingerprint in detail["fingerprints"]:
        click.echo(f"  {fingerprint['algorithm']:<10} {fingerprint['digest']}")
    click.echo("timeline")
    for at, actor, text in lines:
        click.echo(f"  {at}  {actor:<24} {text}")


@case_group.command("withdraw")
@click.argument("case_id", type=int)
@click.option("--reason", required=True, help="Why the case is withdrawn (kept in the audit trail).")
@json_option
@click.pass_obj
def case_withdraw(app: App, case_id: int, reason: str, as_json: bool) -> None:
    """Close a case without removal: no more revisits or notices.

    Exit status: 0 withdrawn; 4 no such case; 5 the case is already closed.
    """
    with errors_as_exit_codes(), app.store.session() as session:
        case = withdraw(session, case_id, reason=reason, actor=app.settings.actor, now=app.clock.now())
        summary = case_summary(case)
    if as_json:
        print_json(summary)
    else:
        click.echo(f"case {case_id} withdrawn")


# --- url -------------------------------------------------------------------------------------------


@cli.group()
def url() -> None:
    """URL tools."""


@url.command("canonicalize")
@click.argument("urls", nargs=-1, required=True)
@json_option
def url_canonicalize(urls: tuple[str, ...], as_json: bool) -> None:
    """Print the Safe Browsing v4 canonical form of each URL, one a line, in order.

    With --json, one object a line, also giving the dedup key (canonical form plus a port that is
    not the default). A URL that cannot be read is named on stderr (and in the JSON).

    Exit status: 0 all canonicalised; 3 some could not be; 65 none could be.
    """
    failures = 0
    for raw in urls:
        try:
            parts = canonical_parts(raw)
        except CanonicalizationError as exc:
            failures += 1
            if as_json:
                print_json({"input": raw, "canonical": None, "dedup_key": None, "error": str(exc)})
            else:
                click.echo(f"error: {raw!r}: {exc}", err=True)
            continue
        if as_json:
            print_json({"input": raw, "canonical": parts.url, "dedup_key": parts.dedup_key, "error": None})
        else:
            click.echo(parts.url)
    if failures == len(urls):
        sys.exit(exitcodes.DATA_ERROR)
    if failures:
        sys.exit(exitcodes.PARTIAL)


# --- resolve ---------------------------------------------------------------------------------------


@cli.command()
@click.argument("urls", nargs=-1, required=True)
@click.option("--ip", "connected_ip", help="Resolve for this address (the one a check connected to).")
@click.option("--no-cache", is_flag=True, help="Neither read nor write the RDAP range cache in the store.")
@json_option
@click.pass_obj
def resolve(app: App, urls: tuple[str, ...], connected_ip: str | None, no_cache: bool, as_json: bool) -> None:
    """Find who can take each URL down: hosting network, CDN, registrar, upstream, with abuse contacts.

    DNS, RDAP (registries found through the IANA bootstrap; TAKEDOWN_RDAP_BOOTSTRAP overrides it)
    and an IP-to-ASN DNS service (TAKEDOWN_ASN_DNS_ZONE). A step that fails is reported and the
    others go on: a registry that rate-limits us is named with the time to try again.

    Exit status: 0 every URL fully resolved; 3 some step failed for some URL (the rest is printed);
    65 no URL could be read.
    """
    from hosting.factory import resolver_from_settings
    from takedown.intake import validate_url

    with errors_as_exit_codes():
        resolver = resolver_from_settings(
            app.settings, store=app.store, clock=app.clock, cache_in_store=not no_cache
        )
    refused = incomplete = 0
    for raw in urls:
        try:
            url = validate_url(raw)
        except InvalidReport as exc:
            refused += 1
            if as_json:
                print_json({"url": raw, "error": str(exc)})
            else:
                click.echo(f"error: {raw!r}: {exc}", err=True)
            continue
        result = resolver.resolve(url, connected_ip)
        incomplete += not result.complete
        if as_json:
            print_json(result.to_dict())
        else:
            _print_resolution(result)
    if refused == len(urls):
        sys.exit(exitcodes.DATA_ERROR)
    if refused or incomplete:
        sys.exit(exitcodes.PARTIAL)


def _print_resolution(result: Resolution) -> None:
    echo = click.echo
    echo(result.url)
    domain = f" (registered domain {result.registered_domain})" if result.registered_domain else ""
    echo(f"  host       {result.hostname}{domain}")
    if result.cname_chain:
        echo(f"  cname      {' -> '.join(result.cname_chain)}")
    echo(f"  addresses  {', '.join(result.addresses) or '-'}")
    if result.network is not None:
        net = result.network
        echo(
            f"  network    {', '.join(net.cidrs)}  {net.organisation or net.name or '?'}"
            f"  ({result.country or '??'}, {net.registry} {net.handle})"
        )
    if result.route is not None:
        origin = " ".join(f"AS{a}" for a in result.route.origin_asns)
        upstream = ", ".join(f"AS{a}" for a in result.route.upstream_asns) or "-"
        echo(f"  route      {origin} {result.route.prefix}  upstream {upstream}")
    if result.cdn is not None:
        echo(f"  cdn        {result.cdn.cdn.name} ({result.cdn.evidence})")
    echo("  notify:")
    for party in result.parties:
        who = party.name or "?"
        if party.asn is not None and party.role == "upstream":
            who += f" (AS{party.asn})"
        emails = ", ".join(party.emails) or "no mailbox found"
        echo(f"    {party.role:<10} {who}: {emails}  [{party.contact_source}]")
    if not result.parties:
        echo("    nobody found")
    for problem in result.problems:
        retry = f" (retry after {iso(problem.retry_at)})" if problem.retry_at else ""
        echo(f"  problem    {problem.step}: {problem.kind}: {problem.message}{retry}")


# --- contacts --------------------------------------------------------------------------------------


@cli.group()
def contacts() -> None:
    """The contact book: analysts' overrides that beat RDAP, and mailboxes never to write to."""


@contacts.command("set")
@click.argument("scope", type=click.Choice(["asn", "network", "domain", "email"]))
@click.argument("value")
@click.option("--email", help="The mailbox to use instead (for an email entry: its replacement).")
@click.option("--language", help="Language tag the recipient reads notices in (en, de, pt-BR...).")
@click.option("--never-notify", is_flag=True, help="Never write to this network, platform or mailbox.")
@click.option("--note", help="Why: shown in `contacts list` and kept with the entry.")
@json_option
@click.pass_obj
def contacts_set(
    app: App,
    scope: str,
    value: str,
    email: str | None,
    language: str | None,
    never_notify: bool,
    note: str | None,
    as_json: bool,
) -> None:
    """Add or replace the entry for SCOPE VALUE.

    \b
    takedown contacts set asn 64500 --email reports@alpha.example --language nl
    takedown contacts set network 192.0.2.0/24 --email noc@customer.example
    takedown contacts set domain filehost.example --email abuse@filehost.example
    takedown contacts set email hostmaster@registry.example --never-notify
    takedown contacts set email old@host.example --email new@host.example

    Exit status: 0 stored; 65 the entry is not valid (the message says why).
    """
    from hosting.contacts import ContactError, set_contact

    with errors_as_exit_codes():
        try:
            entry = set_contact(
                app.store,
                scope,
                value,
                email=email,
                language=language,
                never_notify=never_notify,
                note=note,
                actor=app.settings.actor,
                clock=app.clock,
            )
        except ContactError as exc:
            fail(str(exc), exitcodes.DATA_ERROR)
    if as_json:
        print_json(entry.to_dict())
    else:
        click.echo(f"{entry.scope} {entry.value}: {_describe_entry(entry)}")


@contacts.command("list")
@json_option
@click.pass_obj
def contacts_list(app: App, as_json: bool) -> None:
    """Every entry of the contact book, by scope."""
    from hosting.contacts import list_contacts

    with errors_as_exit_codes():
        entries = list_contacts(app.store)
    if as_json:
        for entry in entries:
            print_json(entry.to_dict())
        return
    if not entries:
        click.echo("The contact book is empty; RDAP's contacts are used as they are.")
    for entry in entries:
        note = f"  ({entry.note})" if entry.note else ""
        click.echo(f"{entry.scope:<8} {entry.value:<32} {_describe_entry(entry)}{note}")


@contacts.command("remove")
@click.argument("scope", type=click.Choice(["asn", "network", "domain", "email"]))
@click.argument("value")
@json_option
@click.pass_obj
def contacts_remove(app: App, scope: str, value: str, as_json: bool) -> None:
    """Remove the entry for SCOPE VALUE. Exit status 4 if there was none."""
    from hosting.contacts import ContactError, remove_contact

    with errors_as_exit_codes():
        try:
            removed = remove_contact(app.store, scope, value)
        except ContactError as exc:
            fail(str(exc), exitcodes.DATA_ERROR)
    if not removed:
        fail(f"the contact book has no {scope} entry for {value}", exitcodes.NOT_FOUND)
    if as_json:
        print_json({"removed": {"scope": scope, "value": value}})
    else:
        click.echo(f"removed {scope} {value}")


def _describe_entry(entry: Any) -> str:
    if entry.never_notify:
        return "never notify"
    if entry.bad_since is not None:
        return f"bad since {iso(entry.bad_since)}: not notified until set again"
    language = f" [{entry.language}]" if entry.language else ""
    return f"notify {entry.email}{language}"


# --- notices ---------------------------------------------------------------------------------------

NOTICE_STATUSES = ("pending", "sending", "transmitting", "retry", "sent", "failed", "uncertain")


@cli.group()
def notices() -> None:
    """Takedown notices: compose, preview, send through the outbox, list."""


def _composer(app: App) -> Any:
    from hosting.factory import resolver_from_settings
    from notices.compose import Composer
    from notices.render import NoticeRenderer

    resolver = resolver_from_settings(app.settings, store=app.store, clock=app.clock)
    return Composer(app.store, resolver, app.settings, NoticeRenderer(app.settings.templates_dir))


@notices.command("send")
@click.option(
    "--due", is_flag=True, help="First compose the notice rounds now due, as the chase policy says."
)
@json_option
@click.pass_obj
def notices_send(app: App, due: bool, as_json: bool) -> None:
    """Deliver what the outbox holds (after composing the due notice rounds, with --due).

    A case's round is its initial notice, then reminders, then escalations up the ladder, as the
    chase policy (TAKEDOWN_CHASE_POLICY) says; past the last rung an analyst is asked to act. One
    notice per recipient per round, listing all its cases, each with an X-ARF report. A notice is
    written before it is sent and sent at most once; see `takedown notices list`.

    Exit status: 0 all delivered; 3 something was deferred, refused, uncertain, or had no recipient.
    """
    from notices.outbox import Outbox
    from schedules.chase import notice_round
    from takedown.policy import ChasePolicy

    with errors_as_exit_codes():
        composed: dict[str, Any] = {
            "notices": 0,
            "cases": 0,
            "unaddressable": [],
            "deferred": [],
            "needs_analyst": [],
        }
        if due:
            rounds = notice_round(
                _composer(app), ChasePolicy.load(app.settings.chase_policy), now=app.clock.now()
            )
            composed = {
                "notices": sum(rounds.notices.values()),
                "cases": sum(rounds.cases.values()),
                "by_level": rounds.notices,
                "unaddressable": [{"case": cid, "reason": why} for cid, why in rounds.unaddressable],
                "deferred": [
                    {"case": cid, "reason": d.reason, "until": iso(d.until)}
                    for cid, d in rounds.deferred.items()
                ],
                "needs_analyst": rounds.needs_analyst,
            }
        delivered = Outbox(app.store, app.settings, app.clock).deliver_due()
    report = {"composed": composed, "delivered": delivered.counts, "recovered": delivered.recovered}
    if as_json:
        print_json(report)
    else:
        if due:
            click.echo(f"composed {composed['notices']} notices about {composed['cases']} cases")
            for item in composed["unaddressable"]:
                click.echo(f"  case {item['case']}: nobody to notify ({item['reason']})")
            for item in composed["deferred"]:
                click.echo(f"  case {item['case']}: put off until {item['until']} ({item['reason']})")
            for case_id in composed["needs_analyst"]:
                click.echo(f"  case {case_id}: still live after every notice round; an analyst must act")
        counts = (
            ", ".join(f"{name} {count}" for name, count in sorted(delivered.counts.items())) or "nothing due"
        )
        click.echo(f"delivered: {counts}")
        if any(delivered.recovered.values()):
            click.echo(f"recovered after an interrupted run: {delivered.recovered}")
    unwell = {k: v for k, v in delivered.counts.items() if k != "sent"}
    if unwell or composed["unaddressable"] or composed["deferred"]:
        sys.exit(exitcodes.PARTIAL)


@notices.command("preview")
@click.argument("target")
@click.option(
    "--level", type=click.Choice(["initial", "reminder", "escalation"]), default="initial", show_default=True
)
@click.option("--html", "show_html", is_flag=True, help="Print the HTML part instead of the text part.")
@json_option
@click.pass_obj
def notices_preview(app: App, target: str, level: str, show_html: bool, as_json: bool) -> None:
    """Show the notice(s) a case (TARGET is a case id) or a recipient (an e-mail address) would get.

    Nothing is stored or sent. A recipient's preview covers all its live cases. Exit status 4 when
    there is no such case or recipient; 3 when the case exists but nobody would be notified (the
    reason is printed).
    """
    import email
    import email.policy

    from takedown.models import Case

    with errors_as_exit_codes():
        composer = _composer(app)
        if target.isdigit():
            with app.store.session() as session:
                if session.get(Case, int(target)) is None:
                    raise CaseNotFound(int(target))
            case_ids = [int(target)]
        else:
            with app.store.session() as session:
                case_ids = list(session.scalars(select(Case.id).where(Case.state == CaseState.LIVE.value)))
        plan = composer.drafts(case_ids, level=level, now=app.clock.now())
        drafts, unaddressable = plan.drafts, plan.unaddressable
        if not target.isdigit():
            drafts = [d for d in drafts if d.recipient.lower() == target.lower()]
    if not drafts:
        reasons = [why for _, why in unaddressable] + [d.reason for d in plan.deferred.values()]
        if target.isdigit():  # the case exists: nobody can be written to about it (yet)
            fail(
                f"case {target}: nobody would be notified: {'; '.join(reasons) or 'no recipient'}",
                exitcodes.PARTIAL,
            )
        fail("; ".join(reasons) or f"no live case would be notified to {target}", exitcodes.NOT_FOUND)
    for draft in drafts:
        parsed = email.message_from_string(draft.message, policy=email.policy.default)
        part = parsed.get_body(preferencelist=("html",) if show_html else ("plain",))
        body = part.get_content() if part is not None else ""
        if as_json:
            print_json(
                {
                    "recipient": draft.recipient,
                    "role": draft.role,
                    "party": draft.party,
                    "language": draft.language,
                    "level": draft.level,
                    "subject": draft.subject,
                    "cases": [f.id for f in draft.cases],
                    "body": body,
                }
            )
            continue
        for header in ("From", "To", "Subject", "Content-Language"):
            click.echo(f"{header}: {parsed[header]}")
        attachments = [a.get_filename() for a in parsed.iter_attachments()]
        click.echo(f"Attachments: {', '.join(str(a) for a in attachments)}")
        click.echo("")
        click.echo(body)


@notices.command("list")
@click.option("--status", type=click.Choice(NOTICE_STATUSES), help="Only notices in this state.")
@click.option("--limit", type=click.IntRange(1), default=100, show_default=True)
@json_option
@click.pass_obj
def notices_list(app: App, status: str | None, limit: int, as_json: bool) -> None:
    """The outbox, newest first: who, what level, how many cases, and how delivery went.

    `--status uncertain` lists notices a crash left in doubt (presumed delivered, never resent);
    `--status failed` those refused for good (their mailbox is now marked bad in the contact book).
    """
    from sqlalchemy import func as sql_func

    from takedown.models import Notice, NoticeCase

    with errors_as_exit_codes(), app.store.session() as session:
        query = (
            select(Notice, sql_func.count(NoticeCase.case_id))
            .join(NoticeCase, NoticeCase.notice_id == Notice.id, isouter=True)
            .group_by(Notice.id)
            .order_by(Notice.id.desc())
            .limit(limit)
        )
        if status:
            query = query.where(Notice.status == status)
        rows = [
            {
                "id": notice.id,
                "recipient": notice.recipient,
                "role": notice.role,
                "level": notice.level,
                "status": notice.status,
                "cases": count,
                "attempts": notice.attempts,
                "created_at": iso(notice.created_at),
                "sent_at": iso(notice.sent_at),
                "next_attempt_at": iso(notice.next_attempt_at),
                "last_error": notice.last_error,
                "subject": notice.subject,
                "message_id": notice.message_id,
            }
            for notice, count in session.execute(query)
        ]
    if as_json:
        for row in rows:
            print_json(row)
        return
    if not rows:
        click.echo("no notices" + (f" with status {status}" if status else ""))
    for row in rows:
        when = row["sent_at"] or row["next_attempt_at"] or row["created_at"]
        error = f"  ({row['last_error']})" if row["last_error"] and row["status"] != "sent" else ""
        click.echo(
            f"{row['id']:>5} {row['status']:<12} {row['level']:<10} {row['role'] or '-':<9}"
            f" {row['recipient']}  {row['cases']} case(s)  {when}{error}"
        )


# --- stats -----------------------------------------------------------------------------------------


@cli.command()
@click.option("--by", type=click.Choice(["network", "asn", "country"]), default="network", show_default=True)
@click.option(
    "--chart", type=click.Path(dir_okay=False), help="Also draw median and p90 per group as a PNG here."
)
@json_option
@click.pass_obj
def stats(app: App, by: str, chart: str | None, as_json: bool) -> None:
    """Time to removal (first seen live -> removed) per hosting network, AS or country.

    Median, 90th percentile, and the share removed within 24 hours and 7 days, over the cases whose
    removal was confirmed; cases still open are counted beside them, and so are the cases whose
    content was already gone when first checked (never seen live: nothing to take down).
    """
    from takedown.stats import already_gone_count, removal_stats, write_chart

    with errors_as_exit_codes():
        with app.store.session() as session:
            rows = removal_stats(session, by)
            already_gone = already_gone_count(session)
        if chart:
            write_chart(rows, chart, f"Time to removal by {by}")
    if as_json:
        print_json({"by": by, "groups": [row.to_dict() for row in rows], "already_gone": already_gone})
        return
    click.echo(f"{by:<40} {'removed':>7} {'open':>5} {'median h':>9} {'p90 h':>8} {'<=24h':>6} {'<=7d':>6}")
    for row in rows:
        click.echo(
            f"{row.group[:40]:<40} {row.removed:>7} {row.still_open:>5} {_number(row.median_hours):>9}"
            f" {_number(row.p90_hours):>8} {_share(row.within_24h):>6} {_share(row.within_7d):>6}"
        )
    if already_gone:
        click.echo(
            f"already gone when first checked (nothing to take down, not in the figures): {already_gone}"
        )
    if chart:
        click.echo(f"chart written to {chart}")


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _share(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


# --- run -------------------------------------------------------------------------------------------


@cli.command()
@click.option("--once", is_flag=True, help="One crawl and one notice round, then exit (for cron).")
@click.option(
    "--crawl-every",
    type=Duration("m"),
    default="15m",
    show_default=True,
    help="Between revisit crawls (90s, 15m, 2h; a bare number is minutes).",
)
@click.option(
    "--notify-every",
    type=Duration("m"),
    default="5m",
    show_default=True,
    help="Between notice rounds (a bare number is minutes).",
)
@click.option(
    "--stale-after",
    type=Duration("s"),
    default="2m",
    show_default=True,
    help="Without a heartbeat, after which a scheduler is presumed dead and its lock taken over "
    "(a bare number is seconds).",
)
@json_option
@click.pass_obj
def run(
    app: App,
    once: bool,
    crawl_every: timedelta,
    notify_every: timedelta,
    stale_after: timedelta,
    as_json: bool,
) -> None:
    """The scheduler: revisit due cases, send due notice rounds, confirm removals, until stopped.

    Only one scheduler runs against a store (a lock in the store; a second one exits with status
    75). SIGTERM or Ctrl-C stop it gracefully: running jobs finish, the lock is released. Crawls
    run as child processes (`takedown crawl`), so the scheduler never hosts Twisted's reactor.
    """
    from schedules.daemon import Cadence, run_daemon, run_once
    from schedules.lock import SchedulerAlreadyRunning

    stale = stale_after
    with errors_as_exit_codes():
        try:
            if once:
                result = run_once(app.settings, app.store, app.clock, stale_after=stale)
                if as_json:
                    print_json(result)
                else:
                    click.echo(
                        f"revisited {result['crawl']['revisited']}; notices composed {result['notices']},"
                        f" delivered {result['delivered']}"
                    )
                return
            cadence = Cadence(crawl_every, notify_every, stale)
            if as_json:  # one object a line on stdout, as the scheduler goes
                echo = lambda line: print_json(  # noqa: E731
                    {
                        "at": iso(app.clock.now()),
                        "event": line.split(":", 1)[0].split(" ", 1)[0],
                        "message": line,
                    }
                )
            else:
                echo = lambda line: click.echo(line, err=True)  # noqa: E731
            run_daemon(app.settings, app.store, app.clock, cadence, echo=echo)
        except SchedulerAlreadyRunning as exc:
            fail(str(exc), exitcodes.BUSY)


# --- frontier --------------------------------------------------------------------------------------


@cli.group()
def frontier() -> None:
    """The shared Redis frontier, for several crawler machines on one store."""


def _frontier(url: str | None) -> Any:
    from crawler.frontier import RedisFrontier

    if not url:
        fail("give --frontier REDIS_URL (or set TAKEDOWN_FRONTIER)", exitcodes.USAGE)
    return RedisFrontier(url)


@frontier.command("feed")
@click.option(
    "--frontier", "url", envvar="TAKEDOWN_FRONTIER", metavar="REDIS_URL", help="[env TAKEDOWN_FRONTIER]"
)
@click.option("--now", help="Feed what is due at this UTC time instead of the clock's (ISO 8601).")
@json_option
@click.pass_obj
def frontier_feed(app: App, url: str | None, now: str | None, as_json: bool) -> None:
    """Queue every case due for a revisit; cases already queued or being crawled are left alone."""
    from takedown.revisits import due_cases

    queue = _frontier(url)
    with errors_as_exit_codes():
        when = _parse_now(now) if now else app.clock.now()
        added = queue.feed(case.id for case in due_cases(app.store, now=when))
        sizes = queue.sizes()
    if as_json:
        print_json({"added": added, **sizes})
    else:
        click.echo(f"queued {added} due cases; {sizes['pending']} waiting, {sizes['leased']} being crawled")


@frontier.command("status")
@click.option(
    "--frontier", "url", envvar="TAKEDOWN_FRONTIER", metavar="REDIS_URL", help="[env TAKEDOWN_FRONTIER]"
)
@json_option
def frontier_status(url: str | None, as_json: bool) -> None:
    """How many cases wait in the frontier, and how many are leased to crawlers."""
    sizes = _frontier(url).sizes()
    if as_json:
        print_json(sizes)
    else:
        click.echo(f"{sizes['pending']} waiting, {sizes['leased']} being crawled")


# --- crawl -----------------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--case",
    "case_ids",
    multiple=True,
    type=click.IntRange(1),
    help="Revisit this case (repeatable) [default: all due].",
)
@click.option(
    "--now",
    help="Treat this UTC time (ISO 8601, e.g. 2026-03-01T09:00:00Z) as now: which cases are due, "
    "and when checks happened. For accelerated runs and tests.",
)
@click.option(
    "-s",
    "--set",
    "scrapy_overrides",
    multiple=True,
    metavar="NAME=VALUE",
    help="Override a Scrapy setting, as `scrapy crawl -s` does (repeatable).",
)
@click.option(
    "--frontier",
    envvar="TAKEDOWN_FRONTIER",
    metavar="REDIS_URL",
    help="Claim the cases from this shared Redis frontier [env TAKEDOWN_FRONTIER].",
)
@click.option(
    "--batch", type=click.IntRange(1), default=1000, show_default=True, help="Cases claimed per crawl."
)
@json_option
@click.pass_obj
def crawl(
    app: App,
    case_ids: tuple[int, ...],
    now: str | None,
    scrapy_overrides: tuple[str, ...],
    frontier: str | None,
    batch: int,
    as_json: bool,
) -> None:
    """Revisit due cases once and record a check for each: live, changed, gone or unreachable.

    With --frontier, revisit a batch claimed from the shared Redis frontier instead (several
    crawler machines, one store), and acknowledge it once its checks are recorded; a batch whose
    crawl fails returns to the frontier when its lease runs out.

    Exit status: 0 the crawl finished; 1 it did not.
    """
    from crawler.run import run_revisits

    claimed: list[int] = []
    with errors_as_exit_codes():
        when = _parse_now(now) if now else None
        app.store.upgrade()  # fail early, with a clear message, if the store cannot be opened
        if frontier:
            from crawler.frontier import RedisFrontier

            queue = RedisFrontier(frontier)
            claimed = queue.claim(batch)
            if not claimed:
                if as_json:
                    print_json({"revisited": 0, "outcomes": {}, "finish_reason": "frontier empty"})
                else:
                    click.echo("the frontier is empty")
                return
            case_ids = tuple(claimed)
        summary = run_revisits(app.settings, case_ids=case_ids, now=when, **_overrides(scrapy_overrides))
        if claimed and summary.finish_reason == "finished":
            queue.acknowledge(claimed)
    if as_json:
        print_json(summary.as_dict())
    else:
        outcomes = ", ".join(f"{name} {count}" for name, count in summary.outcomes.items()) or "nothing due"
        click.echo(f"revisited {summary.revisited}: {outcomes}")
    if summary.finish_reason != "finished":
        fail(f"the crawl ended early ({summary.finish_reason})", exitcodes.FAILURE)


def _overrides(pairs: tuple[str, ...]) -> dict[str, str]:
    overrides = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r} is not NAME=VALUE", param_hint="-s/--set")
        overrides[name.strip()] = value
    return overrides


def _parse_now(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return ensure_utc(when)
    except ValueError as exc:
        raise click.BadParameter(
            f"{text!r}: {exc}; write e.g. 2026-03-01T09:00:00Z", param_hint="--now"
        ) from None


# --- sandbox ---------------------------------------------------------------------------------------


@cli.group("sandbox")
def sandbox_group() -> None:
    """The local internet on loopback that the demo and the tests run against."""


@sandbox_group.command("run")
@click.option(
    "--scenario",
    "scenario_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A scenario JSON file [default: the bundled basic.json].",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="The web hosts' port, so import files can name it (0: any free port).",
)
@click.option(
    "--mail-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="A Maildir keeping every notice the sandbox receives [default: sandbox-mail in the data directory].",
)
@json_option
def sandbox_run(scenario_path: Path | None, port: int, mail_dir: Path | None, as_json: bool) -> None:
    """Start the sandbox's DNS server and web hosts; run until interrupted (Ctrl-C or SIGTERM).

    Prints the environment that points takedown at it (TAKEDOWN_DNS_SERVER, TAKEDOWN_ALLOW_NETWORKS),
    as shell lines to `eval`, or with --json one line describing it. Every notice received is kept
    in a Maildir (read it with `mutt -f DIR`, or any file in DIR/new as an .eml).
    """
    import shlex
    import signal
    import threading

    from sandbox import Sandbox, Scenario
    from sandbox.scenario import BUNDLED_SCENARIOS, ScenarioError
    from takedown.settings import data_directory

    path = scenario_path or BUNDLED_SCENARIOS / "basic.json"
    try:
        scenario = Scenario.load(path)
    except ScenarioError as exc:
        fail(str(exc), exitcodes.USAGE)
    mail_dir = (mail_dir or data_directory() / "sandbox-mail").expanduser().resolve()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        running = Sandbox.from_scenario(scenario, port=port, mail_dir=mail_dir)
    except OSError as exc:
        fail(f"the sandbox cannot listen on port {port}: {exc.strerror or exc}", exitcodes.FAILURE)
    with running:
        env = running.environment()
        if as_json:
            print_json(
                {
                    "environment": env,
                    "port": running.port,
                    "hosts": running.hosts,
                    "scenario": str(path),
                    "mail_dir": str(mail_dir),
                }
            )
        else:
            for name, value in env.items():
                click.echo(f"export {name}={shlex.quote(value)}")
            click.echo(
                f"# web hosts on port {running.port}: "
                + ", ".join(f"{h} ({a})" for h, a in running.hosts.items())
            )
            click.echo(f"# notices received are kept in the Maildir {shlex.quote(str(mail_dir))}")
            click.echo("# Ctrl-C stops the sandbox")
        sys.stdout.flush()
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass


# --- db --------------------------------------------------------------------------------------------


@cli.group()
def db() -> None:
    """The store's schema."""


@db.command("upgrade")
@json_option
@click.pass_obj
def db_upgrade(app: App, as_json: bool) -> None:
    """Bring the store's schema up to date (every command also does this on first use)."""
    with errors_as_exit_codes():
        store = app.store
        info = {"database": safe_url(store.engine), "revision": store.current_revision()}
    if as_json:
        print_json(info)
    else:
        click.echo(f"{info['database']} is at revision {info['revision']}")


@db.command("status")
@json_option
@click.pass_obj
def db_status(app: App, as_json: bool) -> None:
    """Say where the store is and which schema revision it has."""
    from takedown.store import head_revision

    with errors_as_exit_codes():
        store = app._store or Store.open(app.settings.database_url, upgrade=False)
        info = {
            "database": safe_url(store.engine),
            "revision": store.current_revision(),
            "head": head_revision(),
        }
    if as_json:
        print_json(info)
    else:
        state = "up to date" if info["revision"] == info["head"] else f"needs upgrade to {info['head']}"
        click.echo(f"{info['database']}: revision {info['revision']} ({state})")


# --- demo ------------------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the demo's store here [default: a temporary directory, removed afterwards].",
)
@click.pass_obj
def demo(app: App, directory: Path | None) -> None:
    """Run the pipeline end to end on the sandbox, in a store of its own.

    Queues an analyst's file (bad rows refused, duplicates folded), withdraws a case, resolves who
    can remove each one, then runs two weeks of the chase on an accelerated clock: revisit crawls,
    notice rounds, reminders and escalations delivered to the sandbox's mail server, hosts removing
    content when notified, and an analyst asked to act where nobody does. Ends with where every case
    stands and the time-to-removal statistics. About half a minute.
    """
    from schedules.demo import run_demo

    with errors_as_exit_codes():
        run_demo(directory=directory, actor="analyst:demo", echo=click.echo)


def main() -> None:
    """Entry point of the ``takedown`` console script."""
    try:
        cli(prog_name="takedown")
    except DBAPIError as exc:  # outside a command's own handling: still one line, not a traceback
        store_lost(exc)


if __name__ == "__main__":
    main()
