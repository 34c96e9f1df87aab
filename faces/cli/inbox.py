"""``takedown inbox``: mail to the notices' reply address (``serve``, ``take``), and what
providers said (``list``)."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from faces.cli.base import App, cli, errors_as_exit_codes, fail, is_store_failure, json_option, print_json
from takedown import exitcodes
from takedown.plain import iso


@cli.group()
def inbox() -> None:
    """Mail to the notices' reply address (replies, automatic replies, bounces), and what providers
    said on their page: read, threaded to its notice, acted on, and kept for analysts."""


@inbox.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=2525, show_default=True, type=int, help="Port to listen on (0: any free one)."
)
@click.option(
    "--address",
    "addresses",
    multiple=True,
    help="A reply address to accept mail for (repeatable); the address of TAKEDOWN_NOTICE_FROM by default.",
)
@click.pass_obj
def serve(app: App, host: str, port: int, addresses: tuple[str, ...]) -> None:
    """Take mail over SMTP from the hotline's mail server until stopped (Ctrl-C, SIGTERM).

    Point the mail server's route for the reply address here. A mail is answered 250 only once it
    is recorded, 451 when the store failed (the mail server keeps it and tries again), 550 for
    other addresses, 552 when it is over 10 MB."""
    from notices.inbox_server import InboxServer
    from notices.message import sender_address

    with errors_as_exit_codes():
        accepted = addresses or (sender_address(app.settings.notice_from)[1],)
        store = app.store  # opened, and its schema brought up to date, before any mail is taken
        server = InboxServer(store, app.clock, accepted, host=host, port=port)
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    with server:
        bound_host, bound_port = server.address
        click.echo(
            f"takedown inbox: taking mail for {', '.join(sorted(accepted))} on {bound_host}:{bound_port}"
        )
        stopping.wait()
    click.echo("takedown inbox: stopped")


@inbox.command("take")
@click.argument("sources", nargs=-1, required=True)
@json_option
@click.pass_obj
def take(app: App, sources: tuple[str, ...], as_json: bool) -> None:
    """Take in mail from files: each SOURCE is a message file, a Maildir or directory of them, or
    - for one message on stdin (for a mail server's pipe delivery).

    Exit 0 when every mail was recorded (or had been before), 75 when the store failed (a mail
    server piping here keeps the mail and tries again), 1 for an unreadable file."""
    from notices.replies import take_in
    from takedown.errors import StoreError

    for source, raw in _messages(sources):
        try:  # each mail in a transaction of its own, through the database driver where it can
            with app.writing() as target:
                taken = take_in(target, raw, now=app.clock.now())
        except Exception as exc:
            if isinstance(exc, StoreError) or is_store_failure(exc):
                fail(f"{source}: the store failed; nothing was recorded, try again", exitcodes.BUSY)
            raise
        row = {
            "source": source,
            "mail_id": taken.mail_id,
            "inbox": taken.inbox_id,
            "kind": taken.kind,
            "notice": taken.notice_id,
            "cases": list(taken.case_ids),
            "ticket": taken.ticket,
            "waiting": taken.waiting,
            "done": taken.done,
            "problems": taken.problems,
        }
        if as_json:
            print_json(row)
        elif taken.inbox_id is None:
            click.echo(f"{source}: already recorded")
        else:
            what = "; ".join(taken.done + taken.problems) or (
                "waits for an analyst" if taken.waiting else "recorded"
            )
            notice = f"notice {taken.notice_id}" if taken.notice_id else "no notice"
            click.echo(f"{source}: inbox {taken.inbox_id}, {taken.kind}, {notice}: {what}")


def _messages(sources: tuple[str, ...]) -> Any:
    for source in sources:
        if source == "-":
            yield "stdin", sys.stdin.buffer.read()
            continue
        path = Path(source)
        if path.is_dir():
            folders = [path / "new", path / "cur"] if (path / "new").is_dir() else [path]
            for file in sorted(f for folder in folders for f in folder.iterdir() if f.is_file()):
                yield str(file), file.read_bytes()
        elif path.is_file():
            yield str(path), path.read_bytes()
        else:
            fail(f"{source}: no such file or directory", exitcodes.USAGE)


@inbox.command("list")
@click.option("--handled", is_flag=True, help="What was handled (newest first) instead of what waits.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@json_option
@click.pass_obj
def list_inbox(app: App, handled: bool, limit: int, as_json: bool) -> None:
    """What providers said that waits for an analyst (oldest first), or what was handled."""
    from takedown.inbox_views import inbox as read_inbox

    with errors_as_exit_codes(), app.sql_reads() as reads:
        items = read_inbox(reads, limit=limit, handled=handled)
    for item in items:
        row: dict[str, Any] = {
            "id": item.id,
            "received_at": iso(item.received_at),
            "channel": item.channel,
            "kind": item.kind,
            "sender": item.sender,
            "notice": item.notice_id,
            "cases": list(item.case_ids),
            "ticket": item.ticket,
            "subject": item.subject,
            "problem": item.problem,
            "handled_at": iso(item.handled_at),
            "handled_by": item.handled_by,
        }
        if as_json:
            print_json(row)
        else:
            cases = ",".join(map(str, item.case_ids)) or "-"
            fields = (
                item.id,
                iso(item.received_at),
                item.kind,
                item.sender,
                f"cases {cases}",
                item.subject or "",
            )
            click.echo("\t".join(map(str, fields)))
