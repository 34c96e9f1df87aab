"""Intake and cases: ``queue add|import|list``, ``case show|withdraw``, ``url canonicalize``."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import click

from faces.cli.base import (
    App,
    cli,
    errors_as_exit_codes,
    fail,
    json_option,
    print_json,
    write_lines,
)
from takedown import exitcodes
from takedown.canonical import CanonicalizationError, canonical_parts
from takedown.case_views import CaseFilter, ListedCase, listed_json_line
from takedown.classification import CLASSIFICATIONS
from takedown.importer import IMPORT_BATCH, ImportFormat, ImportSummary
from takedown.plain import iso, plain
from takedown.reports import CATEGORIES, DEFAULT_CATEGORY, Report, validate_report
from takedown.states import CaseState

# Commands import the store's side of the core (SQLAlchemy, Alembic, the models) inside their
# function bodies: `takedown --help` and `url canonicalize` never load it (tests/test_cli_startup.py).

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
    type=click.Choice(CLASSIFICATIONS, case_sensitive=False),
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
    from takedown.intake import queue_reports

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
        [result] = queue_reports(app.writing, [valid], actor=app.settings.actor, clock=app.clock)
    if as_json:
        print_json(plain(result))
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
    "--batch-size",
    type=click.IntRange(1, 100_000),
    default=IMPORT_BATCH,
    show_default=True,
    help="Rows per commit.",
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
    from takedown.import_reading import validated_batches
    from takedown.intake import import_batches

    with errors_as_exit_codes():
        name = getattr(file, "name", "<stdin>")
        chosen = ImportFormat(file_format) if file_format else ImportFormat.guess(name)
        show_progress = not quiet and sys.stderr.isatty()
        # The file is read once more, to count its lines, only for a bar that will show them.
        total = _count_lines(name) if show_progress and name != "<stdin>" else None
        with (
            app.bulk_store() as store,
            validated_batches(file, chosen, default_category=category, batch_size=batch_size) as batches,
            _progress(total, enabled=show_progress) as advance,
        ):
            summary = import_batches(
                store, batches, actor=app.settings.actor, clock=app.clock, on_progress=advance
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
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

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
        print_json(plain(summary))
        return
    counts = summary.counts
    click.echo(
        f"queued {counts['queued']}, reopened {counts['reopened']}, already open {counts['already_open']}, "
        f"refused {summary.rejected}"
    )
    for error in summary.errors:
        click.echo(f"refused: {error}", err=True)


TIME_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%S"]
"""How a time is given on the command line: a day (its UTC midnight) or a UTC time."""


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
@click.option("--reference", help="Only cases with this reference, exactly.")
@click.option("--category", type=click.Choice(CATEGORIES), help="Only cases of this category.")
@click.option("--country", help="Only cases last resolved to be hosted in this country (NL).")
@click.option("--asn", type=click.IntRange(0), help="Only cases last resolved to this AS (64500).")
@click.option("--network", help="Only cases last resolved to this network (192.0.2.0/24).")
@click.option("--queued-from", type=click.DateTime(TIME_FORMATS), help="Only cases queued at or after (UTC).")
@click.option(
    "--queued-before", type=click.DateTime(TIME_FORMATS), help="Only cases queued before this (UTC)."
)
@click.option("--newest-first", is_flag=True, help="The newest cases first (with --after, older ones).")
@click.option(
    "--count", "count_only", is_flag=True, help="Print how many cases match (--limit aside), not the cases."
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
    reference: str | None,
    category: str | None,
    country: str | None,
    asn: int | None,
    network: str | None,
    queued_from: datetime | None,
    queued_before: datetime | None,
    newest_first: bool,
    count_only: bool,
    as_json: bool,
) -> None:
    """List cases in the order they were queued, oldest first, as they come from the store (a
    million stream in flat memory). With --queued-from or --queued-before the list is in queued-time
    order; --after pages in the list's order either way."""
    if country is not None and not (len(country) == 2 and country.isalpha()):
        fail(f"--country {country!r}: a country is two letters, like NL", exitcodes.USAGE)
    wanted = CaseFilter(
        states=tuple(CaseState(s) for s in states),
        host=host.strip().lower() if host else None,
        needs_analyst=needs_analyst,
        after_id=after_id,
        reference=reference,
        category=category,
        country=country.upper() if country else None,
        asn=asn,
        network=network,
        newest_first=newest_first,
        queued_from=queued_from.replace(tzinfo=UTC) if queued_from else None,
        queued_before=queued_before.replace(tzinfo=UTC) if queued_before else None,
    )
    with errors_as_exit_codes(), app.case_reads() as reads:
        if count_only:
            count = reads.count_cases(wanted)
            print_json({"count": count}) if as_json else click.echo(count)
            return
        cases = reads.iter_listed(wanted, limit=limit)
        if as_json:  # a list: one object a line (JSON Lines), as every listing prints, as it comes
            write_lines(map(listed_json_line, cases))
            return
        _print_case_table(cases)


TABLE_WIDTHS_FROM = 1000
"""Rows read before the table's header is printed: the reference column is as wide as the widest of
them (all of them, for lists this long or shorter); later rows keep that width."""


def _print_case_table(cases: Iterator[ListedCase]) -> None:
    first = list(islice(cases, TABLE_WIDTHS_FROM))
    if not first:
        click.echo("no cases")
        return
    # Plain aligned columns, URL last and never truncated: people read it, and so do awk and cut.
    reference_width = max([len("reference")] + [len(reference or "-") for *_, reference, _ in first])
    click.echo(
        f"{'id':>7}  {'state':<11}  {'queued':<20}  {'category':<13}  {'reference':<{reference_width}}  url"
    )
    write_lines(
        f"{case_id:>7}  {state:<11}  {queued:<20}  {category:<13}  "
        f"{reference or '-':<{reference_width}}  {url}"
        for rows in (first, cases)
        for case_id, state, url, _host, category, reference, queued in rows
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
    with errors_as_exit_codes(), app.case_reads() as reads:
        detail = reads.show_case(case_id)
    if as_json:
        print_json(plain(detail))
        return
    click.echo(f"case {detail.id}  [{detail.state.value}]")
    click.echo(f"  url        {detail.url}")
    click.echo(f"  canonical  {detail.canonical_url}")
    click.echo(f"  host       {detail.host}")
    click.echo(f"  category   {detail.category}")
    if detail.reference:
        click.echo(f"  reference  {detail.reference}")
    if detail.previous_case_id:
        click.echo(f"  reopens    case {detail.previous_case_id}")
    for fingerprint in detail.fingerprints:
        click.echo(f"  {fingerprint.algorithm:<10} {fingerprint.digest}")
    click.echo("timeline")
    for entry in detail.timeline:
        click.echo(f"  {iso(entry.at)}  {entry.actor:<24} {entry.describe()}")


@case_group.command("withdraw")
@click.argument("case_id", type=int)
@click.option("--reason", required=True, help="Why the case is withdrawn (kept in the audit trail).")
@json_option
@click.pass_obj
def case_withdraw(app: App, case_id: int, reason: str, as_json: bool) -> None:
    """Close a case without removal: no more revisits or notices.

    Exit status: 0 withdrawn; 4 no such case; 5 the case is already closed.
    """
    from takedown.case_moves import withdraw

    with errors_as_exit_codes(), app.writing() as target:
        summary = withdraw(target, case_id, reason=reason, actor=app.settings.actor, now=app.clock.now())
    if as_json:
        print_json(plain(summary))
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
