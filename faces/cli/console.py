"""The console's side of the CLI: ``users add|list|disable|reset`` and ``web``."""

from __future__ import annotations

import sys
from typing import Any

import click

from faces.cli.base import App, cli, errors_as_exit_codes, fail, json_option, print_json
from takedown import exitcodes
from takedown.plain import iso, plain
from takedown.vocabulary import StaffRole

ROLES = [role.value for role in StaffRole]


@cli.group()
def users() -> None:
    """Accounts of the hotline's staff for the console: auditors read, analysts act on cases,
    supervisors also manage the contact book and accounts (always with a second factor)."""


def _password(from_stdin: bool, confirm: bool = True) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=confirm))


def _print_enrolment(enrolment: object, as_json: bool) -> None:
    from takedown.accounts import Enrolment

    assert isinstance(enrolment, Enrolment)
    if as_json:
        print_json(plain(enrolment))
        return
    account = enrolment.account
    click.echo(f"{account.name}: {account.role}, second factor {'on' if account.second_factor else 'off'}")
    if enrolment.totp_secret:
        click.echo("Add this to the authenticator app now; it is not shown again:")
        click.echo(f"  secret: {enrolment.totp_secret}")
        click.echo(f"  {enrolment.totp_uri}")


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the account may do.")
@click.option(
    "--second-factor/--no-second-factor",
    default=False,
    help="Require a TOTP code at sign-in (always on for supervisors).",
)
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@json_option
@click.pass_obj
def users_add(
    app: App, name: str, role: str, second_factor: bool, password_stdin: bool, as_json: bool
) -> None:
    """Create an account. The password is asked for (twice), or read from stdin.

    Exit status: 0 created; 5 the name is taken; 65 the name or password is not acceptable.
    """
    from takedown.accounts import add_account, validate_password
    from takedown.errors import AccountError
    from takedown.staff_names import validate_name

    try:
        clean = validate_name(name)
        password = validate_password(_password(password_stdin), clean)
    except AccountError as exc:
        fail(str(exc), exitcodes.DATA_ERROR)
    with errors_as_exit_codes():
        try:
            with app.writing() as target:
                enrolment = add_account(
                    target,
                    clean,
                    StaffRole(role),
                    password,
                    now=app.clock.now(),
                    second_factor=second_factor,
                )
                _logged(app, target, "account_added", enrolment.account.name, {"role": role})
        except AccountError as exc:
            fail(str(exc), exitcodes.REFUSED)
    _print_enrolment(enrolment, as_json)


@users.command("list")
@json_option
@click.pass_obj
def users_list(app: App, as_json: bool) -> None:
    """Every account, its role and whether it is disabled or locked. Never a password or secret."""
    from takedown.account_views import list_accounts

    with errors_as_exit_codes(), app.sql_reads() as reads:
        accounts = list_accounts(reads)
    now = app.clock.now()
    for account in accounts:
        if as_json:
            print_json(plain(account))
            continue
        status = "disabled" if account.disabled else ""
        if account.locked_until and account.locked_until > now:
            status = f"locked until {iso(account.locked_until)}"
        factor = "2fa" if account.second_factor else "password only"
        click.echo(f"{account.name:<24} {account.role:<11} {factor:<14} {status}".rstrip())


@users.command("disable")
@click.argument("name")
@json_option
@click.pass_obj
def users_disable(app: App, name: str, as_json: bool) -> None:
    """Stop an account signing in; its open sessions end at once. `users reset` enables it again.

    Exit status: 0 disabled; 4 no such account.
    """
    from takedown.accounts import disable_account
    from takedown.errors import AccountError

    with errors_as_exit_codes():
        try:
            with app.writing() as target:
                account = disable_account(target, name, now=app.clock.now())
                _logged(app, target, "account_disabled", account.name)
        except AccountError as exc:
            fail(str(exc), exitcodes.NOT_FOUND)
    if as_json:
        print_json(plain(account))
    else:
        click.echo(f"{account.name}: disabled; its sessions have ended")


@users.command("reset")
@click.argument("name")
@click.option("--password/--keep-password", "new_password", default=True, help="Set a new password.")
@click.option("--role", type=click.Choice(ROLES), help="Change the role.")
@click.option(
    "--second-factor/--no-second-factor",
    default=None,
    help="Enrol a new TOTP secret, or drop the second factor (never for a supervisor).",
)
@click.option("--password-stdin", is_flag=True, help="Read the new password from the first line of stdin.")
@json_option
@click.pass_obj
def users_reset(
    app: App,
    name: str,
    new_password: bool,
    role: str | None,
    second_factor: bool | None,
    password_stdin: bool,
    as_json: bool,
) -> None:
    """Reset an account: a new password (and second factor if asked), the lock cleared, the
    account enabled, every open session ended.

    Exit status: 0 reset; 4 no such account; 65 the password is not acceptable.
    """
    from takedown.accounts import reset_account
    from takedown.errors import AccountError

    password = _password(password_stdin) if new_password else None
    with errors_as_exit_codes():
        try:
            with app.writing() as target:
                enrolment = reset_account(
                    target,
                    name,
                    now=app.clock.now(),
                    password=password,
                    role=StaffRole(role) if role else None,
                    second_factor=second_factor,
                )
                changes = {"password": password is not None, "new_code": bool(enrolment.totp_uri)}
                _logged(app, target, "account_reset", enrolment.account.name, changes)
        except AccountError as exc:
            code = exitcodes.NOT_FOUND if str(exc).startswith("no account") else exitcodes.DATA_ERROR
            fail(str(exc), code)
    _print_enrolment(enrolment, as_json)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8080, show_default=True, type=int, help="Port to listen on (0: any free one)."
)
@click.pass_obj
def web(app: App, host: str, port: int) -> None:
    """Serve the analyst console. Put it behind a proxy that terminates HTTPS (and set
    TAKEDOWN_PUBLIC_URL to its https:// address, which makes cookies Secure).

    The same server answers hosting providers' links under /provider (signed with
    TAKEDOWN_PROVIDER_KEY; without it, every link is refused as not configured)."""
    from faces.console.app import create_app
    from faces.console.config import ConsoleSettings
    from faces.console.serve import console_server
    from faces.provider.app import SignedBy
    from notices.message import sender_address
    from notices.preview import NoticePreviewer
    from notices.signing import SigningUnavailable, signer_for
    from takedown.provider_access import provider_key

    with errors_as_exit_codes():
        previewer = NoticePreviewer(app.settings, app.store, app.clock)
        key = provider_key(app.settings.provider_key) if app.settings.provider_key else None
        signed_by = None
        try:
            signer = signer_for(app.settings)
        except SigningUnavailable as exc:  # the scheduler refuses to send; the page just says nothing
            click.echo(f"warning: {exc}", err=True)
            signer = None
        if signer is not None:
            sender = sender_address(app.settings.notice_from)[1]
            signed_by = SignedBy(sender, signer.fingerprint(), signer.issuer())
        application = create_app(
            app.store,
            clock=app.clock,
            settings=ConsoleSettings.from_env(),
            previewer=previewer,
            provider_key=key,
            signed_by=signed_by,
        )
    application.state.console.warm()  # the first dashboard after a start has its figures
    console_server(application, host=host, port=port).run()


@cli.group()
def tokens() -> None:
    """Bearer tokens for the JSON API (/api/v1): read lists and shows; write also queues and
    withdraws. A token is shown once, when it is made; the store keeps only its hash."""


@tokens.command("add")
@click.argument("name")
@click.option("--scope", type=click.Choice(["read", "write"]), required=True, help="What the token may do.")
@json_option
@click.pass_obj
def tokens_add(app: App, name: str, scope: str, as_json: bool) -> None:
    """Make a token for a script or another system; its actions are logged as api:NAME.

    Exit status: 0 made; 5 the name is taken; 65 the name is not acceptable.
    """
    from takedown.api_tokens import add_token
    from takedown.errors import AccountError
    from takedown.token_views import TokenScope

    with errors_as_exit_codes():
        try:
            with app.writing() as target:
                made = add_token(
                    target, name, TokenScope(scope), created_by=app.settings.actor, now=app.clock.now()
                )
                _logged(app, target, "token_made", made.view.name, {"scope": scope})
        except AccountError as exc:
            fail(str(exc), exitcodes.REFUSED if "already" in str(exc) else exitcodes.DATA_ERROR)
    if as_json:
        print_json({"token": made.token, **plain(made.view)})
        return
    click.echo(f"{made.view.name}: {made.view.scope} token; it is shown now and never again:")
    click.echo(made.token)


@tokens.command("list")
@json_option
@click.pass_obj
def tokens_list(app: App, as_json: bool) -> None:
    """Every token: name, scope, who made it, when it was last used, whether it is revoked."""
    from takedown.token_views import list_tokens

    with errors_as_exit_codes(), app.sql_reads() as reads:
        found = list_tokens(reads)
    for token in found:
        if as_json:
            print_json(plain(token))
            continue
        used = iso(token.last_used_at) or "never used"
        status = "revoked" if token.revoked else used
        click.echo(f"{token.name:<24} {token.scope:<6} by {token.created_by:<24} {status}")


@tokens.command("revoke")
@click.argument("name")
@json_option
@click.pass_obj
def tokens_revoke(app: App, name: str, as_json: bool) -> None:
    """Revoke a token: the API refuses it from the next request on.

    Exit status: 0 revoked; 4 no such token.
    """
    from takedown.api_tokens import revoke_token
    from takedown.errors import AccountError

    with errors_as_exit_codes():
        try:
            with app.writing() as target:
                view = revoke_token(target, name, now=app.clock.now())
                _logged(app, target, "token_revoked", view.name)
        except AccountError as exc:
            fail(str(exc), exitcodes.NOT_FOUND)
    if as_json:
        print_json(plain(view))
    else:
        click.echo(f"{view.name}: revoked")


def _logged(app: App, target: Any, action: str, subject: str, detail: dict[str, Any] | None = None) -> None:
    """The change in the staff log, in the same transaction, as the console records its own."""
    from takedown.staff_log import record_staff_event

    record_staff_event(
        target, at=app.clock.now(), actor=app.settings.actor, action=action, subject=subject, detail=detail
    )


@users.command("log")
@click.option("--account", help="Only what concerns this account or token.")
@click.option("--limit", type=click.IntRange(1), default=100, show_default=True)
@json_option
@click.pass_obj
def users_log(app: App, account: str | None, limit: int, as_json: bool) -> None:
    """The staff log, newest first: sign-ins and sign-in failures at the console, accounts and API
    tokens made, disabled, reset or revoked, and by whom."""
    from takedown.staff_log_views import staff_events

    with errors_as_exit_codes(), app.sql_reads() as reads:
        entries = staff_events(reads, limit=limit, subject=account)
    if as_json:
        for entry in entries:
            print_json(plain(entry))
        return
    if not entries:
        click.echo("the staff log is empty")
    for entry in entries:
        detail = ", ".join(f"{key}={value}" for key, value in sorted(entry.detail.items()))
        click.echo(
            f"{iso(entry.at)}  {entry.actor:<24} {entry.action:<18} {entry.subject or '-'}"
            + (f"  ({detail})" if detail else "")
        )
