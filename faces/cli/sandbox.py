"""The local internet and the walkthrough: ``sandbox run`` and ``demo``."""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from faces.cli.base import (
    App,
    cli,
    errors_as_exit_codes,
    fail,
    json_option,
    print_json,
)
from takedown import exitcodes
from takedown.errors import TakedownError

if TYPE_CHECKING:
    from takedown.clock import Clock
    from takedown.settings import Settings
    from takedown.store import Store

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


# --- demo ------------------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--directory",
    type=click.Path(file_okay=False, path_type=Path),
    help="Keep the demo's store here [default: a temporary directory, removed afterwards].",
)
@click.option("--serve", is_flag=True, help="Then keep the analyst console up on the demo's store.")
@click.option(
    "--port", default=8080, show_default=True, type=int, help="The console's port with --serve (0: any free)."
)
@click.pass_obj
def demo(app: App, directory: Path | None, serve: bool, port: int) -> None:
    """Run the pipeline end to end on the sandbox, in a store of its own.

    Queues an analyst's file (bad rows refused, duplicates folded), withdraws a case, resolves who
    can remove each one, then runs two weeks of the chase on an accelerated clock: revisit crawls,
    signed notice rounds, reminders and escalations delivered to the sandbox's mail server, hosts
    removing content when notified, abuse desks answering (one on its provider page, which brings the
    revisit forward; a ticket system's acknowledgement; a person's reply for the inbox), and an
    analyst asked to act where nobody does. Ends with where every case stands, the time-to-removal
    statistics and a report through a portal. About half a minute.
    """
    from faces.demo import run_demo

    with errors_as_exit_codes():
        run_demo(
            directory=directory,
            actor="analyst:demo",
            echo=click.echo,
            then=functools.partial(_serve_console, port=port) if serve else None,
        )


def _serve_console(store: Store, clock: Clock, settings: Settings, *, port: int) -> None:
    """The console on the demo's store, at the demo's (stopped) clock, with a login made for it."""
    import secrets
    import time

    from faces.console.app import create_app
    from faces.console.serve import serving
    from notices.preview import NoticePreviewer
    from takedown.accounts import add_account
    from takedown.vocabulary import StaffRole

    password = secrets.token_urlsafe(12)
    with store.session() as session:
        add_account(session, "demo", StaffRole.ANALYST, password, now=clock.now())
    previewer = NoticePreviewer(settings, store, clock)
    application = create_app(store, clock=clock, previewer=previewer)
    try:
        with serving(application, port=port) as url:
            click.echo(f"9. The analyst console: {url}/  (name demo, password {password})")
            click.echo("   Ctrl-C stops it.")
            while True:
                time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    except TakedownError as exc:
        raise TakedownError(f"the console {exc}; try --port 0") from None
    finally:
        previewer.close()
