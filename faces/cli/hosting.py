"""Who must take it down: ``resolve`` and the contact book (``contacts set|list|remove``)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from takedown import exitcodes
from takedown.errors import (
    InvalidReport,
)
from takedown.plain import iso, plain

if TYPE_CHECKING:
    from hosting.resolve import Resolution

from faces.cli.base import (
    App,
    cli,
    errors_as_exit_codes,
    fail,
    json_option,
    print_json,
)

# --- resolve ---------------------------------------------------------------------------------------


@cli.command()
@click.argument("urls", nargs=-1, required=True)
@click.option("--ip", "connected_ip", help="Resolve for this address (the one a check connected to).")
@click.option(
    "--no-cache",
    is_flag=True,
    help="Neither read nor write the store's RDAP caches (networks by range, registrations by"
    " domain): ask the registries afresh.",
)
@json_option
@click.pass_obj
def resolve(app: App, urls: tuple[str, ...], connected_ip: str | None, no_cache: bool, as_json: bool) -> None:
    """Find who can take each URL down: hosting network, CDN, registrar, upstream, with abuse contacts.

    DNS, RDAP (registries found through the IANA bootstrap; TAKEDOWN_RDAP_BOOTSTRAP overrides it)
    and an IP-to-ASN DNS service (TAKEDOWN_ASN_DNS_ZONE). A step that fails is reported and the
    others go on: a registry that rate-limits us is named with the time to try again. Several
    URLs are looked up side by side (TAKEDOWN_RESOLVE_CONCURRENCY host names at once) and printed
    in the order given.

    Exit status: 0 every URL fully resolved; 3 some step failed for some URL (the rest is printed);
    65 no URL could be read.
    """
    from hosting.factory import resolver_from_settings
    from hosting.record import open_case_for, record_resolutions
    from takedown.canonical import canonical_parts
    from takedown.reports import validate_url

    with errors_as_exit_codes():
        resolver = resolver_from_settings(
            app.settings, store=app.store, clock=app.clock, cache_in_store=not no_cache
        )
    click.get_current_context().call_on_close(resolver.close)
    checked: list[str | InvalidReport] = []
    for raw in urls:
        try:
            checked.append(validate_url(raw))
        except InvalidReport as exc:
            checked.append(exc)
    # Side by side, as a notice round resolves (registries are far away), printed in order as
    # each is answered.
    results = resolver.resolve_many((url, connected_ip) for url in checked if isinstance(url, str))
    refused = incomplete = 0
    for raw, url in zip(urls, checked, strict=True):
        if isinstance(url, InvalidReport):
            refused += 1
            if as_json:
                print_json({"url": raw, "error": str(url)})
            else:
                click.echo(f"error: {raw!r}: {url}", err=True)
            continue
        result = next(results)
        with errors_as_exit_codes(), app.store.session() as session:  # an open case's record, too
            case_id = open_case_for(session, canonical_parts(url).dedup_key)
            if case_id is not None:
                record_resolutions(session, [(case_id, result)])
        incomplete += not result.complete
        if as_json:
            print_json(plain(result))
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
    from hosting.contact_entries import ContactError
    from hosting.contact_writes import set_contact

    with errors_as_exit_codes():
        try:
            with app.writing() as target:
                entry = set_contact(
                    target,
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
        print_json(plain(entry))
    else:
        click.echo(f"{entry.scope} {entry.value}: {_describe_entry(entry)}")


@contacts.command("list")
@json_option
@click.pass_obj
def contacts_list(app: App, as_json: bool) -> None:
    """Every entry of the contact book, by scope."""
    from hosting.contact_entries import list_contacts

    with errors_as_exit_codes(), app.sql_reads() as reads:
        entries = list_contacts(reads)
    if as_json:
        for entry in entries:
            print_json(plain(entry))
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
    from hosting.contact_entries import ContactError
    from hosting.contact_writes import remove_contact

    with errors_as_exit_codes():
        try:
            with app.writing() as target:
                removed = remove_contact(target, scope, value, actor=app.settings.actor, clock=app.clock)
        except ContactError as exc:
            fail(str(exc), exitcodes.DATA_ERROR)
    if not removed:
        fail(f"the contact book has no {scope} entry for {value}", exitcodes.NOT_FOUND)
    if as_json:
        print_json({"removed": {"scope": scope, "value": value}})
    else:
        click.echo(f"removed {scope} {value}")


@contacts.command("clear-bounce")
@click.argument("addresses", nargs=-1, required=True)
@json_option
@click.pass_obj
def contacts_clear_bounce(app: App, addresses: tuple[str, ...], as_json: bool) -> None:
    """Vouch for mailboxes a bounce marked bad (`contacts list` shows them): notices go to them again.

    Exit status: 0 every one cleared; 4 some were not marked bad (the others are cleared)."""
    from hosting.contact_writes import clear_bounce

    with errors_as_exit_codes(), app.writing() as target:
        cleared = [a for a in addresses if clear_bounce(target, a, actor=app.settings.actor, clock=app.clock)]
    missed = [a for a in addresses if a not in cleared]
    if as_json:
        print_json({"cleared": cleared, "not_marked_bad": missed})
    else:
        for address in cleared:
            click.echo(f"cleared {address}")
    if missed:
        fail(f"not marked bad: {', '.join(missed)}", exitcodes.NOT_FOUND)


@contacts.command("revoke-links")
@click.argument("addresses", nargs=-1, required=True)
@json_option
@click.pass_obj
def contacts_revoke_links(app: App, addresses: tuple[str, ...], as_json: bool) -> None:
    """Revoke every provider-page link sent to these mailboxes until now (a leaked link, a
    mailbox that changed hands): each is refused from now on; the next notice carries a new one."""
    from takedown.errors import ConfigurationError
    from takedown.provider_access import revoke

    with errors_as_exit_codes():
        try:
            with app.writing() as target:
                for address in addresses:
                    revoke(target, address, actor=app.settings.actor, now=app.clock.now())
        except ConfigurationError as exc:
            fail(f"{exc}; nothing was revoked", exitcodes.DATA_ERROR)
    for address in addresses:
        if as_json:
            print_json({"revoked": address.strip().lower(), "at": iso(app.clock.now())})
        else:
            click.echo(f"links to {address.strip().lower()} revoked")


@contacts.command("history")
@click.argument("scope", type=click.Choice(["asn", "network", "domain", "email"]), required=False)
@click.argument("value", required=False)
@click.option("--limit", type=click.IntRange(1), default=100, show_default=True)
@json_option
@click.pass_obj
def contacts_history(app: App, scope: str | None, value: str | None, limit: int, as_json: bool) -> None:
    """Changes to the contact book, newest first: who set, barred or removed an entry, and which
    mailboxes bounces marked bad. With SCOPE VALUE, that entry's only."""
    from hosting.contact_entries import ContactError, contact_history

    if (scope is None) != (value is None):
        fail("give both SCOPE and VALUE, or neither", exitcodes.USAGE)
    with errors_as_exit_codes(), app.sql_reads() as reads:
        try:
            changes = contact_history(reads, scope, value, limit=limit)
        except ContactError as exc:
            fail(str(exc), exitcodes.DATA_ERROR)
    if as_json:
        for change in changes:
            print_json(plain(change))
        return
    if not changes:
        click.echo("no changes" + (f" to {scope} {value}" if scope else ""))
    for change in changes:
        after = change.email or ""
        note = f"  ({change.note})" if change.note else ""
        click.echo(
            f"{iso(change.at)}  {change.change:<8} {change.scope:<8} {change.value}"
            f"  {after}  by {change.actor}{note}"
        )


def _describe_entry(entry: Any) -> str:
    if entry.never_notify:
        return "never notify"
    if entry.bad_since is not None:
        return f"bad since {iso(entry.bad_since)}: not notified until set again"
    language = f" [{entry.language}]" if entry.language else ""
    return f"notify {entry.email}{language}"
