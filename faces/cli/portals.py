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

    with errors_as_exit_codes(), app.store.session() as session:
        try:
            view = add_portal(session, slug, _change(fields), actor=app.settings.actor, now=app.clock.now())
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

    with errors_as_exit_codes(), app.store.session() as session:
        try:
            view = set_portal(session, slug, _change(fields), actor=app.settings.actor, now=app.clock.now())
        except PortalError as exc:
            fail(str(exc), exitcodes.NOT_FOUND if "no portal" in str(exc) else exitcodes.DATA_ERROR)
    _show(view, as_json)


@portals.command("list")
@json_option
@click.pass_obj
def portals_list(app: App, as_json: bool) -> None:
    """Every portal: name, country, languages, partner."""
    from takedown.portals import list_portals

    with errors_as_exit_codes(), app.store.session() as session:
        views = list_portals(session)
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
