"""What every command shares: the application object, the ``takedown`` group and its options,
error handling that turns the core's typed errors into one line and a meaningful exit code, and
the one JSON convention (:func:`print_json`)."""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NoReturn

import click

from takedown import __version__, exitcodes
from takedown.clock import Clock, SystemClock
from takedown.durations import parse_duration
from takedown.errors import (
    CaseNotFound,
    ConfigurationError,
    ImportFileError,
    InvalidReport,
    InvalidTransition,
    StoreError,
    TakedownError,
)
from takedown.plain import json_line
from takedown.settings import Settings

if TYPE_CHECKING:
    from takedown.direct_reads import CaseReads, DirectReader
    from takedown.hash_list_versions import Transaction
    from takedown.sql_reads import PagedReads
    from takedown.sql_writes import WriteTarget
    from takedown.store import Store

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
            from takedown.store import Store  # SQLAlchemy and Alembic: only for commands that use it

            self._store = Store.open(self.settings.database_url)
        return self._store

    @contextmanager
    def case_reads(self) -> Iterator[CaseReads]:
        """Reads of cases for one command: through the database driver itself where it can
        (:mod:`takedown.direct_reads`: no SQLAlchemy to import, a third of the start-up), else in
        a reading session of the store. A store given to the app (as tests give) is used as is."""
        reader = self._direct_reader()
        if reader is not None:
            with reader:
                yield reader
            return
        from takedown.cases import SessionCaseReads

        with self.store.reading() as session:
            yield SessionCaseReads(session)

    @contextmanager
    def sql_reads(self) -> Iterator[PagedReads]:
        """Where a command reads what is written once for both ways (:mod:`takedown.sql_reads`):
        as :meth:`case_reads` reads cases."""
        reader = self._direct_reader()
        if reader is not None:
            with reader:
                yield reader
            return
        from takedown.sql_reads import SessionReads

        with self.store.reading() as session:
            yield SessionReads(session)

    def _direct_reader(self) -> DirectReader | None:
        """The driver's own read-only connection to the configured store, or ``None`` where the
        store's path must answer (and always for a store given to the app, as tests give)."""
        if self._store is not None:
            return None
        from takedown.direct_reads import DirectReader

        return DirectReader.open(self.settings.database_url)

    @contextmanager
    def writing(self) -> Iterator[WriteTarget]:
        """One transaction for a command that writes what is written once for both ways
        (:mod:`takedown.sql_writes`): the database driver's own (:mod:`takedown.direct_writes`: no
        SQLAlchemy to import) where it can, else a session of the store. Committed when the block
        ends, rolled back when it raises."""
        writer = None
        if self._store is None:
            from takedown.direct_writes import DirectWriter

            writer = DirectWriter.open(self.settings.database_url)
        if writer is not None:
            with writer:
                yield writer
            return
        with self.store.session() as session:
            yield session

    @contextmanager
    def bulk_store(self) -> Iterator[Store]:
        """The store with a page cache for bulk intake, closed when the block ends (a given store,
        as tests give, is used as is and left open)."""
        if self._store is not None:
            yield self._store
            return
        from takedown.driver_connections import BULK_CACHE_MIB, BULK_CHECKPOINT_PAGES
        from takedown.store import Store

        store = Store.open(
            self.settings.database_url,
            sqlite_cache_mib=BULK_CACHE_MIB,
            sqlite_checkpoint_pages=BULK_CHECKPOINT_PAGES,
        )
        try:
            yield store
        finally:
            store.dispose()

    @contextmanager
    def bulk_transactions(self) -> Iterator[Transaction]:
        """Transactions one after another, for bulk work committed a batch at a time: on one
        connection through the database driver (:class:`takedown.direct_writes.DirectTransactions`,
        with a page cache for bulk intake) where it can, else sessions of :meth:`bulk_store`."""
        transactions = None
        if self._store is None:
            from takedown.direct_writes import DirectTransactions
            from takedown.driver_connections import BULK_CACHE_MIB

            transactions = DirectTransactions.open(self.settings.database_url, cache_mib=BULK_CACHE_MIB)
        if transactions is None:
            with self.bulk_store() as store:
                yield store.session
            return
        try:
            yield transactions.transaction
        finally:
            transactions.close()


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
    except Exception as exc:
        if is_store_failure(exc):
            store_lost(exc)
        raise


def is_store_failure(exc: BaseException) -> bool:
    """The database driver failed (SQLAlchemy's ``DBAPIError``). Asked without importing
    SQLAlchemy: a command that never opened the store cannot have one."""
    if "sqlalchemy" not in sys.modules:
        return False
    from sqlalchemy.exc import DBAPIError

    return isinstance(exc, DBAPIError)


def store_lost(exc: Exception) -> NoReturn:
    """The database failed under a command (gone away, disk full, locked for too long): one line
    saying so, exit 1; the traceback only with -v."""
    from sqlalchemy.exc import DBAPIError

    from takedown.store import describe_failure

    log.info("the store failed", exc_info=exc)
    assert isinstance(exc, DBAPIError)
    fail(f"{describe_failure(exc)} (run with -v for the details)", exitcodes.FAILURE)


def print_json(data: Any) -> None:
    """One JSON value on one line. The convention every ``--json`` follows: a command that reports
    one result prints one object; a command that lists or follows things (queue list, notices list,
    contacts list, resolve and url canonicalize of several URLs, run) prints one object a line (JSON
    Lines), so a million rows stream and ``jq`` reads both alike. Times are ISO 8601 UTC with a Z."""
    click.echo(json_line(data))


def write_lines(lines: Iterable[str]) -> None:
    """Lines to stdout as they come, without a flush after each (``click.echo`` flushes every
    line, which is most of the time of a million-line listing); flushed at the end."""
    out = sys.stdout
    for line in lines:
        out.write(line)
        out.write("\n")
    out.flush()


def json_option(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts instead of text.")(
        function
    )


COMMANDS: dict[str, tuple[str, str]] = {
    "case": ("cases", "Look at one case, or act on it."),
    "contacts": (
        "hosting",
        "The contact book: analysts' overrides that beat RDAP, and mailboxes never to write to.",
    ),
    "crawl": (
        "operations",
        "Revisit due cases once and record a check for each: live, changed, gone or unreachable.",
    ),
    "db": ("operations", "The store's schema."),
    "demo": ("sandbox", "Run the pipeline end to end on the sandbox, in a store of its own."),
    "frontier": ("operations", "The shared Redis frontier, for several crawler machines on one store."),
    "hashes": (
        "hashes",
        "Lists of fingerprints of confirmed imagery (MD5, SHA-1, SHA-256, PDQ) that revisits match.",
    ),
    "inbox": (
        "inbox",
        "Mail to the notices' reply address (replies, automatic replies, bounces), and what providers "
        "said on their page: read, threaded to its notice, acted on, and kept for analysts.",
    ),
    "notices": ("notices", "Takedown notices: compose, preview, send through the outbox, list."),
    "portal": ("portals", "Serve the reporting portals: each at /SLUG/, or at / on its own --host name."),
    "portals": (
        "portals",
        "Reporting portals: the public's anonymous way to report, one per country or partner.",
    ),
    "queue": ("cases", "Queue confirmed URLs and look at the queue."),
    "resolve": (
        "hosting",
        "Find who can take each URL down: hosting network, CDN, registrar, upstream, with abuse contacts.",
    ),
    "run": (
        "operations",
        "The scheduler: revisit due cases, send due notice rounds, confirm removals, until stopped.",
    ),
    "sandbox": ("sandbox", "The local internet on loopback that the demo and the tests run against."),
    "stats": (
        "operations",
        "Time to removal (first seen live -> removed) per hosting network, AS or country.",
    ),
    "tokens": (
        "console",
        "Bearer tokens for the JSON API (/api/v1): read lists and shows; write also queues and withdraws.",
    ),
    "url": ("cases", "URL tools."),
    "users": (
        "console",
        "Accounts of the hotline's staff for the console: auditors read, analysts act on cases, "
        "supervisors also manage the contact book and accounts (always with a second factor).",
    ),
    "web": ("console", "Serve the analyst console."),
}
"""Each top-level command: the module of ``faces.cli`` that defines it, and its first sentence.

A command's module is imported only when the command is run (or its own ``--help`` asked for):
``takedown --help`` lists them from here without importing any, and ``takedown url canonicalize``
imports one module, not eight. A test holds this table to the commands themselves."""


class LazyGroup(click.Group):
    """The ``takedown`` group, its commands loaded from their modules on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            importlib.import_module(f"faces.cli.{COMMANDS[cmd_name][0]}")  # its decorators register it
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            loaded = self.commands.get(name)
            if loaded is not None and loaded.hidden:
                continue
            described = loaded or click.Command(name, help=COMMANDS[name][1])  # shortened as click does
            rows.append((name, described.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def load_every_command() -> click.Group:
    """The group with every command loaded (for what walks them all: tests, documentation)."""
    for module in sorted({module for module, _ in COMMANDS.values()}):
        importlib.import_module(f"faces.cli.{module}")
    return cli


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
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
