"""Running the pipeline: ``crawl``, ``run``, ``frontier feed|status``, ``stats``, ``db upgrade|status``."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from typing import Any

import click

from faces.cli.base import (
    App,
    Duration,
    cli,
    errors_as_exit_codes,
    fail,
    json_option,
    print_json,
)
from takedown import exitcodes
from takedown.clock import ensure_utc
from takedown.plain import iso, plain

# --- stats -----------------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--by", type=click.Choice(["network", "asn", "country", "portal"]), default="network", show_default=True
)
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

    --by portal: per reporting portal, the reports and URLs received, the share of decided URLs
    confirmed, and the median hours from report to assessment and from report to removal.
    """
    from takedown.stats import already_gone_count, removal_stats, write_chart

    if by == "portal":
        _portal_stats(app, as_json)
        return

    with errors_as_exit_codes():
        with app.sql_reads() as reads:
            rows = removal_stats(reads, by)
            already_gone = already_gone_count(reads)
        if chart:
            write_chart(rows, chart, f"Time to removal by {by}")
    if as_json:
        print_json({"by": by, "groups": plain(rows), "already_gone": already_gone})
        return
    click.echo(
        f"{by:<40} {'removed':>7} {'open':>5} {'median h':>9} {'p90 h':>8} {'<=24h':>6} {'<=7d':>6}"
        f" {'rounds':>7}"
    )
    for row in rows:
        click.echo(
            f"{row.group[:40]:<40} {row.removed:>7} {row.still_open:>5} {_number(row.median_hours):>9}"
            f" {_number(row.p90_hours):>8} {_share(row.within_24h):>6} {_share(row.within_7d):>6}"
            f" {row.notice_rounds:>7}"
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
    Every six hours it also forgets the registry answers whose time is up.

    Only one scheduler runs against a store (a lock in the store; a second one exits with status
    75). SIGTERM or Ctrl-C stop it gracefully: running jobs finish, the lock is released. Crawls
    run as child processes (`python -m crawler`), so the scheduler never hosts Twisted's reactor.
    """
    from schedules.daemon import Cadence, run_daemon, run_once
    from schedules.lock import SchedulerAlreadyRunning

    stale = stale_after
    with errors_as_exit_codes():
        try:
            if once:
                result = run_once(app.settings, app.store, app.clock, stale_after=stale)
                if as_json:
                    print_json(plain(result))
                else:
                    forgotten = sum(result.forgotten.values())
                    click.echo(
                        f"revisited {result.crawl['revisited']}; notices composed {result.notices},"
                        f" delivered {result.delivered}"
                        + (f"; forgot {forgotten} expired registry answers" if forgotten else "")
                    )
                return
            cadence = Cadence(crawl_every=crawl_every, notify_every=notify_every, stale_after=stale)
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

    with errors_as_exit_codes():
        queue = _frontier(url)
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
    """How many cases wait in the frontier, and which crawlers hold how many, since when, and how
    many of their leases have lapsed (a crawler that died: the next claim takes them back)."""
    with errors_as_exit_codes():
        status = _frontier(url).status()
    if as_json:
        print_json(plain(status))
        return
    click.echo(f"{status.pending} waiting, {status.leased} being crawled")
    for held in status.holders:
        lapsed = f", {held.expired} lapsed" if held.expired else ""
        click.echo(
            f"  {held.holder:<40} {held.leased:>7} held, oldest {held.oldest_seconds:.0f} s ago{lapsed}"
        )


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
    "--batch", type=click.IntRange(1), default=500, show_default=True, help="Cases claimed at a time."
)
@click.option(
    "--processes",
    type=click.IntRange(1),
    help="Crawls side by side (a Scrapy process uses one core), the due cases split between them by "
    "server, so every server's limit still holds [default: one per thousand due cases, up to the "
    "machine's cores]. Ignored with --case and --frontier.",
)
@click.option(
    "--forever",
    is_flag=True,
    help="With --frontier: keep claiming batches, and wait when the frontier is empty, until stopped "
    "(SIGTERM or Ctrl-C). This is how a crawler machine runs.",
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
    processes: int | None,
    forever: bool,
    as_json: bool,
) -> None:
    """Revisit due cases once and record a check for each: live, changed, gone or unreachable.

    The same crawl makes the one revisit of each URL reported through a portal and waiting for it
    (-s TAKEDOWN_REVISIT_REPORTED_URLS=false: not this time): a match on a hash list the policy
    trusts confirms it and opens a case; anything else waits for an analyst with what was seen.

    With --frontier, revisit a batch claimed from the shared Redis frontier instead (several
    crawler machines, one store); with --forever too, batch after batch until stopped. Each case
    leaves the frontier once its check is recorded. Stopped gracefully, a crawler gives back at
    once what it had not checked; killed, its cases return when their leases lapse
    (TAKEDOWN_FRONTIER_LEASE, renewed while it works). With a frontier, the limit of requests at
    once to one server (TAKEDOWN_CONCURRENCY_PER_HOST) holds across all the crawlers.

    Exit status: 0 the crawl finished (with --forever: was stopped gracefully); 1 it did not, or
    the frontier failed.
    """
    from crawler.run import FrontierWork, run_revisits

    if forever and not frontier:
        fail("--forever needs a shared frontier (--frontier or TAKEDOWN_FRONTIER)", exitcodes.USAGE)
    with errors_as_exit_codes():
        when = _parse_now(now) if now else None
        app.store.upgrade()  # fail early, with a clear message, if the store cannot be opened
        work = FrontierWork(frontier, batch=batch, forever=forever) if frontier else None
        overrides = _overrides(scrapy_overrides)
        side_by_side = 1 if case_ids or work else (processes or os.cpu_count() or 1)
        if side_by_side > 1:
            from crawler.processes import run_in_processes

            verbose = click.get_current_context().find_root().params.get("verbose", 0)
            summary = run_in_processes(
                app.settings, processes, now=when, overrides=overrides, verbose=verbose
            )
        else:
            summary = run_revisits(
                app.settings, case_ids=case_ids, now=when, frontier=work, overrides=overrides
            )
    if summary.claimed == 0 and not forever:
        if as_json:
            print_json({"revisited": 0, "outcomes": {}, "finish_reason": "frontier empty"})
        else:
            click.echo("the frontier is empty")
        return
    if as_json:
        print_json(plain(summary))
    else:
        outcomes = ", ".join(f"{name} {count}" for name, count in summary.outcomes.items()) or "nothing due"
        click.echo(f"revisited {summary.revisited}: {outcomes}")
        if summary.reported:
            states = ", ".join(f"{name} {count}" for name, count in summary.reported.items())
            click.echo(f"URLs reported through portals, revisited once: {states}")
        if summary.released:
            click.echo(f"gave {summary.released} unchecked cases back to the frontier")
    if summary.finish_reason != "finished" and not (forever and summary.finish_reason == "shutdown"):
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


# --- db --------------------------------------------------------------------------------------------


@cli.group()
def db() -> None:
    """The store's schema."""


@db.command("upgrade")
@json_option
@click.pass_obj
def db_upgrade(app: App, as_json: bool) -> None:
    """Bring the store's schema up to date (every command also does this on first use)."""
    from takedown.store import safe_url

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
    from takedown.driver_connections import connect_at_head, end, shown_url
    from takedown.revision import HEAD_REVISION  # held to Alembic's own head by tests/test_store.py

    shown = shown_url(app.settings.database_url) if app._store is None else None
    # A store the driver can open at the head needs neither SQLAlchemy nor Alembic to say so.
    found = connect_at_head(app.settings.database_url, writing=False) if shown else None
    if shown and found is not None:
        end(found[0])
        info: dict[str, str | None] = {"database": shown, "revision": HEAD_REVISION, "head": HEAD_REVISION}
    else:
        from takedown.store import Store, safe_url

        with errors_as_exit_codes():
            store = app._store or Store.open(app.settings.database_url, upgrade=False)
            try:
                info = {
                    "database": safe_url(store.engine),
                    "revision": store.current_revision(),
                    "head": HEAD_REVISION,
                }
            finally:
                if store is not app._store:  # opened here, for this: its connections are closed
                    store.dispose()
    if as_json:
        print_json(info)
    else:
        state = "up to date" if info["revision"] == info["head"] else f"needs upgrade to {info['head']}"
        click.echo(f"{info['database']}: revision {info['revision']} ({state})")


def _portal_stats(app: App, as_json: bool) -> None:
    from takedown.portal_figures import portal_stats

    with errors_as_exit_codes(), app.sql_reads() as reads:
        rows = portal_stats(reads)
    if as_json:
        print_json({"by": "portal", "groups": plain(rows)})
        return
    click.echo(
        f"{'portal':<16} {'reports':>7} {'urls':>6} {'decided':>7} {'confirmed':>9} {'share':>6}"
        f" {'h to assess':>11} {'h to removal':>12}"
    )
    for row in rows:
        click.echo(
            f"{row.portal:<16} {row.reports:>7} {row.urls:>6} {row.decided:>7} {row.confirmed:>9}"
            f" {_share(row.confirmed_share):>6} {_number(row.median_hours_to_assessment):>11}"
            f" {_number(row.median_hours_to_removal):>12}"
        )
