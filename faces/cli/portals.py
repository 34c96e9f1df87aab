"""Reporting portals' configuration: ``portals add|set|list|show``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from faces.cli.base import App, cli, errors_as_exit_codes, fail, json_option, print_json
from takedown import exitcodes
from takedown.plain import plain

LANGUAGE_HELP = "Comma-separated language codes, the first the default (en, fr, pt, sw)."


@cli.group()
def portals() -> None:
    """Reporting portals: the public's anonymous way to report, one per country or partner.

    What is configured here is shown to visitors: the partner's name, a welcome and help text,
    local child-protection helplines, and whether a reporter may leave an address."""


def _portal_options(function: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--host", help="A host name the portal also answers on (report.partner.example)."),
        click.option("--country", help="Its country, two letters (ISO 3166)."),
        click.option("--languages", help=LANGUAGE_HELP),
        click.option("--partner", help="The partner organisation's name, shown on every page."),
        click.option("--welcome", help="The welcome text (up to 2,000 characters)."),
        click.option("--help-text", "help_text", help="The help text (up to 4,000 characters)."),
        click.option(
            "--helpline", "helplines", multiple=True, help="A local helpline, 'NAME: CONTACT'; repeatable."
        ),
        click.option(
            "--acknowledgements/--no-acknowledgements",
            default=None,
            help="Whether reporters may leave an address for an acknowledgement.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _change(fields: dict[str, Any]) -> Any:
    from takedown.portals import PortalChange

    languages = fields["languages"]
    return PortalChange(
        host=fields["host"],
        country=fields["country"],
        languages=languages.split(",") if languages is not None else None,
        partner=fields["partner"],
        welcome=fields["welcome"],
        help_text=fields["help_text"],
        helplines=list(fields["helplines"]) or None,
        acknowledgements=fields["acknowledgements"],
    )


@portals.command("add")
@click.argument("slug")
@_portal_options
@json_option
@click.pass_obj
def portals_add(app: App, /, slug: str, as_json: bool, **fields: Any) -> None:
    """Add portal SLUG (its path: /r/SLUG). --country, --languages and --partner are required.

    \b
    takedown portals add ke --country KE --languages en,sw --partner "Partner Org" \\
        --helpline "Childline Kenya: 116"

    Exit status: 0 added; 65 a field is not acceptable, or the name is taken (the message says)."""
    from takedown.portals import PortalError, add_portal

    with errors_as_exit_codes(), app.writing() as target:
        try:
            view = add_portal(target, slug, _change(fields), actor=app.settings.actor, now=app.clock.now())
        except PortalError as exc:
            fail(str(exc), exitcodes.DATA_ERROR)
    _show(view, as_json)


@portals.command("set")
@click.argument("slug")
@_portal_options
@json_option
@click.pass_obj
def portals_set(app: App, /, slug: str, as_json: bool, **fields: Any) -> None:
    """Change what is given of portal SLUG; the rest stays. Exit status 65 when a field is not
    acceptable or there is no such portal."""
    from takedown.portals import PortalError, set_portal

    with errors_as_exit_codes(), app.writing() as target:
        try:
            view = set_portal(target, slug, _change(fields), actor=app.settings.actor, now=app.clock.now())
        except PortalError as exc:
            fail(str(exc), exitcodes.NOT_FOUND if "no portal" in str(exc) else exitcodes.DATA_ERROR)
    _show(view, as_json)


@portals.command("list")
@json_option
@click.pass_obj
def portals_list(app: App, as_json: bool) -> None:
    """Every portal: name, country, languages, partner."""
    from takedown.portal_views import list_portals

    with errors_as_exit_codes(), app.sql_reads() as reads:
        views = list_portals(reads)
    if as_json:
        for view in views:
            print_json(plain(view))
        return
    if not views:
        click.echo(
            "no portals; `takedown portals add SLUG --country XX --languages en --partner NAME` adds one"
        )
    for view in views:
        click.echo(f"{view.slug:<16} {view.country}  {','.join(view.languages):<12} {view.partner}")


def _show(view: Any, as_json: bool) -> None:
    if as_json:
        print_json(plain(view))
        return
    click.echo(f"portal {view.slug}: {view.country}, {', '.join(view.languages)}, with {view.partner}")
    if view.host:
        click.echo(f"  also at https://{view.host}/")
    for helpline in view.helplines:
        click.echo(f"  helpline: {helpline.name}: {helpline.contact}")
    click.echo(f"  acknowledgements: {'offered' if view.acknowledgements else 'not offered'}")


@portals.command("queue")
@click.option("--limit", type=click.IntRange(1), default=100, show_default=True)
@click.option("--after", "after_id", type=click.IntRange(0), default=0, help="Start after this id (paging).")
@json_option
@click.pass_obj
def portals_queue(app: App, limit: int, after_id: int, as_json: bool) -> None:
    """Reported URLs waiting for an analyst, oldest first: id, portal, report, times reported,
    stage, what the revisit saw, the hash lists that know it, URL (as text: open it only with your
    assessment tools)."""
    from takedown.portal_queue import awaiting

    with errors_as_exit_codes(), app.sql_reads() as reads:
        rows = awaiting(reads, limit=limit, after_id=after_id)
    if as_json:
        for row in rows:
            print_json(plain(row))
        return
    if not rows:
        click.echo("nothing waits for an analyst")
    for row in rows:
        seen = (row.revisit or {}).get("outcome") or "-"
        listed = ",".join(sorted({str(match.get("list")) for match in row.matches})) or "-"
        click.echo(
            f"{row.id:>7}  {row.portal:<10} {row.report}  x{row.times_reported:<3} {row.state:<19} "
            f"{seen:<11} {listed:<10} {row.url}"
        )


@portals.command("assess")
@click.argument("url_ids", nargs=-1, required=True, type=click.IntRange(1))
@click.option(
    "--decision",
    required=True,
    type=click.Choice(["confirm", "not_illegal", "not_found", "duplicate", "refer"]),
    help="confirm opens a case; refer sends it to another country's hotline (--country).",
)
@click.option("--category", help="With confirm: the case's category [default: csam].")
@click.option("--classification", help="With confirm: baseline, A1, A2, B1 or B2.")
@click.option("--country", help="With refer: the country whose hotline takes it (two letters).")
@json_option
@click.pass_obj
def portals_assess(
    app: App,
    url_ids: tuple[int, ...],
    decision: str,
    category: str | None,
    classification: str | None,
    country: str | None,
    as_json: bool,
) -> None:
    """Decide reported URLs (ids from `portals queue`); later reports of the same URL follow.

    Exit status: 0 every one decided; 4 some were not waiting (decided already, or no such id);
    65 the decision cannot be made as given."""
    from takedown.errors import InvalidReport, ReportRefused
    from takedown.portal_decisions import decide

    with errors_as_exit_codes(), app.writing() as target:
        try:
            done = decide(
                target, url_ids, decision, actor=app.settings.actor, now=app.clock.now(),
                category=category, classification=classification, country=country,
            )  # fmt: skip
        except (ReportRefused, InvalidReport) as exc:
            fail(str(exc), exitcodes.DATA_ERROR)
    if as_json:
        for row in done:
            print_json(plain(row))
    else:
        for row in done:
            opened = f", case {row.case_id}" if row.case_id else ""
            click.echo(
                f"{row.id}: {row.state}{opened}"
                + (f" (and {row.repeats} later reports)" if row.repeats else "")
            )
    missed = sorted(set(url_ids) - {row.id for row in done})
    if missed:
        fail(f"not waiting for a decision: {', '.join(map(str, missed))}", exitcodes.NOT_FOUND)


@portals.command("referrals")
@click.option("--country", required=True, help="The country whose hotline the URLs were referred to.")
@click.option(
    "--since", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]), help="Only those referred since (UTC)."
)
@json_option
@click.pass_obj
def portals_referrals(app: App, country: str, since: Any, as_json: bool) -> None:
    """What was referred to a country's hotline, as CSV for it (JSON Lines with --json)."""
    import csv
    import sys
    from datetime import UTC

    from takedown.portal_referrals import REFERRAL_COLUMNS, referral_row, referrals

    with errors_as_exit_codes(), app.sql_reads() as reads:
        rows = referrals(reads, country, since=since.replace(tzinfo=UTC) if since else None)
    if as_json:
        for row in rows:
            print_json(plain(row))
        return
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(REFERRAL_COLUMNS)
    writer.writerows(referral_row(row) for row in rows)


@portals.command("acknowledge")
@json_option
@click.pass_obj
def portals_acknowledge(app: App, as_json: bool) -> None:
    """Send reporters the acknowledgements due now (the scheduler's notice round does this too).

    One message each, in the reporter's language, saying only that the report was received; the
    address is deleted once it is sent or refused for good, and after a week in any case."""
    from notices.acknowledgements import acknowledge_reports

    with errors_as_exit_codes():
        summary = acknowledge_reports(app.settings, app.store, app.clock)
    if as_json:
        print_json({"sent": summary.sent, "refused": summary.refused, "later": summary.later})
        return
    click.echo(f"acknowledged {summary.sent}; refused {summary.refused}; to try again {summary.later}")


@cli.command("portal")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8081, show_default=True, type=int, help="Port to listen on (0: any free one)."
)
@click.pass_obj
def portal(app: App, host: str, port: int) -> None:
    """Serve the reporting portals: each at /SLUG/, or at / on its own --host name.

    A process of its own, apart from the console (`takedown web`), so that a flood of reports never
    slows the analysts or the chase. It keeps no client address anywhere (no access log; the limits
    per client, TAKEDOWN_PORTAL_REPORTS_PER_HOUR and _PER_HOUR_ALL, are counted in memory under a
    key that rotates) and sets no cookie. Behind a proxy, set TAKEDOWN_PORTAL_CLIENT_HEADER (such
    as X-Forwarded-For) for the limits to count clients rather than the proxy.
    """
    from faces.console.serve import console_server
    from faces.portal.app import create_portal_app
    from faces.portal.config import PortalSettings

    with errors_as_exit_codes():
        app.store.upgrade()  # fail early, with a clear message, if the store cannot be opened
        application = create_portal_app(app.store, clock=app.clock, settings=PortalSettings.from_env())
    console_server(application, host=host, port=port).run()
