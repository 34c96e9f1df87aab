"""Fixtures shared by the suite.

Store tests run on SQLite always, and on PostgreSQL when ``TAKEDOWN_TEST_DATABASE_URL`` is set: each
test gets a schema of its own there, dropped afterwards. Redis likewise with ``TAKEDOWN_TEST_REDIS_URL``.
When ``TAKEDOWN_TEST_REQUIRE_SERVICES=1`` (CI sets it), a missing service fails the test instead of
skipping it, so a green CI run cannot hide that PostgreSQL or Redis were never exercised.
"""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from sandbox import Sandbox
from takedown.clock import ManualClock
from takedown.settings import sqlite_url
from takedown.store import Store
from tests.closing import close_what_tests_opened
from tests.console_support import Served, serve_console
from tests.worlds import NOTICES_AUTNUMS, NOTICES_HOSTS, NOTICES_NETWORKS, NOTICES_REGISTRATIONS

# Speed is measured by the benchmarks, never asserted by a test: no per-example deadline, and no
# failing because a loaded machine drew the first examples slowly (a health check on time).
hypothesis_settings.register_profile("takedown", deadline=None, suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.load_profile("takedown")

POSTGRES_ENV = "TAKEDOWN_TEST_DATABASE_URL"
REDIS_ENV = "TAKEDOWN_TEST_REDIS_URL"


def service_unavailable(reason: str) -> None:
    if os.environ.get("TAKEDOWN_TEST_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason}, and TAKEDOWN_TEST_REQUIRE_SERVICES=1 forbids skipping")
    pytest.skip(reason)


def postgres_url_for_new_schema() -> Iterator[str]:
    """Yield a URL whose connections use a fresh schema; drop the schema afterwards."""
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        service_unavailable(f"{POSTGRES_ENV} is not set (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    url = make_url(base)
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(url)
    try:
        with admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        admin.dispose()
        service_unavailable(f"PostgreSQL at {url.render_as_string(hide_password=True)} is unreachable: {exc}")
    try:
        yield url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL for an empty store, on each backend."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "takedown.db")
    else:
        yield from postgres_url_for_new_schema()


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    opened = Store.open(database_url)
    try:
        yield opened
    finally:
        opened.dispose()


@pytest.fixture(autouse=True)
def _opened_closed() -> Iterator[None]:
    """What each test handed to ``tests.closing.closed_after_test`` is closed when it ends."""
    yield
    close_what_tests_opened()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 1, 9, 0, tzinfo=UTC))


@pytest.fixture
def console(tmp_path: Path, clock: ManualClock) -> Iterator[Served]:
    """The analyst console served for real on loopback, on a SQLite store of its own."""
    store = Store.open(sqlite_url(tmp_path / "console.db"))
    try:
        with serve_console(store, clock) as served:
            yield served
    finally:
        store.dispose()


CHROMIUM_ENV = "TAKEDOWN_TEST_CHROMIUM"


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium for the browser tests (Playwright's own download is not reachable); another
    build with ``TAKEDOWN_TEST_CHROMIUM``. Skips (or fails, in CI) without one."""
    path = os.environ.get(CHROMIUM_ENV) or "/usr/bin/chromium"
    if not Path(path).is_file():
        service_unavailable(f"no Chromium at {path} (apt-get install chromium, or set {CHROMIUM_ENV})")
    return path


@pytest.fixture
def browser_page(chromium_path: str) -> Iterator[Any]:
    """A fresh page in Debian's Chromium, driven by Playwright; the browser's console errors are
    kept on ``page.problems``, so a test can say none happened (a script or style refused by the CSP)."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=["--no-sandbox"])
        page = browser.new_context().new_page()
        page.set_default_timeout(10_000)
        problems: list[str] = []
        page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
        page.problems = problems
        yield page
        browser.close()


@pytest.fixture
def redis_url() -> str:
    """The Redis URL for frontier tests; skips (or fails, in CI) without one."""
    url = os.environ.get(REDIS_ENV)
    if not url:
        service_unavailable(f"{REDIS_ENV} is not set (e.g. redis://127.0.0.1:6379/15)")
    # Tests run side by side (pytest-xdist) use a database each, counting down from the one given:
    # some clear the key the CLI uses, which another worker's test may be using.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    offset = int(worker.removeprefix("gw") or 0)
    base, _, number = url.rpartition("/")
    if offset and number.isdigit():
        url = f"{base}/{(int(number) - offset) % 16}"
    return url


SANDBOX_HOSTS = {"host-a.test": "127.0.0.2", "host-b.test": "127.0.0.3", "cdn-edge.test": "127.0.0.4"}


@pytest.fixture(scope="module")
def authority() -> Any:
    """A certificate authority of the test's own (trustme), for servers that speak TLS."""
    import trustme

    return trustme.CA()


def serving_tls(authority: Any, host: str = "127.0.0.1") -> ssl.SSLContext:
    """A server's TLS context with a certificate for ``host`` from ``authority``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(host).configure_cert(context)
    return context


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """A local internet for a test module: two hosts, a CNAME, and things the guard must refuse.

    ``intranet.test`` is a live web server on 127.0.0.9 that is *not* allowed; ``loopback.test``
    points at 127.0.0.1. Real private ranges are never used end to end: a guard bug would then
    send traffic off this machine. The policy tests cover them without connecting.
    """
    with Sandbox(
        SANDBOX_HOSTS,
        extra_records={"alias.test": {"CNAME": ["host-a.test"]}, "loopback.test": {"A": ["127.0.0.1"]}},
        forbidden={"intranet.test": "127.0.0.9"},
    ) as running:
        yield running


@pytest.fixture(scope="module")
def internet() -> Iterator[Sandbox]:
    """The notices world (:mod:`tests.worlds`), one per test module."""
    with Sandbox(
        NOTICES_HOSTS,
        extra_records={"cdn-fronted.test": {"CNAME": ["edge.sandcdn.test"]}},
        networks=NOTICES_NETWORKS,
        autnums=NOTICES_AUTNUMS,
        registrations=NOTICES_REGISTRATIONS,
    ) as sandbox:
        yield sandbox


@pytest.fixture
def world(internet: Sandbox) -> Sandbox:
    """The module's sandbox with an empty, well-behaved mail server."""
    sink = internet.smtp
    sink.messages.clear()
    sink.rcpt_replies.clear()
    sink.temporary_failures = sink.drop_after_data = 0
    return internet


@pytest.fixture
def portal_store(tmp_path: Path, clock: ManualClock) -> Iterator[Store]:
    """A store of its own with two portals: Kenya's at /ke/ (English, Swahili, French; taking
    addresses) and Mozambique's on its own host name (Portuguese, English)."""
    from takedown.portals import PortalChange, add_portal

    store = Store.open(sqlite_url(tmp_path / "portal.db"))
    store.upgrade()
    with store.session() as session:
        add_portal(
            session,
            "ke",
            PortalChange(
                country="KE",
                languages=["en", "sw", "fr"],
                partner="Watoto Salama",
                helplines=["Childline Kenya: 116"],
                acknowledgements=True,
            ),
            actor="t",
            now=clock.now(),
        )
        add_portal(
            session,
            "mz",
            PortalChange(
                country="MZ", languages=["pt", "en"], partner="Linha Fala Criança", host="denuncia.example.mz"
            ),
            actor="t",
            now=clock.now(),
        )
    try:
        yield store
    finally:
        store.dispose()


@contextmanager
def write_lock_held(store: Store) -> Iterator[None]:
    """While the block runs, another thread holds a write transaction open on ``store`` (on
    SQLite: the database's one write lock), as the scheduler or the portal's writer would."""
    import threading

    from sqlalchemy import text

    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with store.session() as session:
            session.execute(text("SELECT 1"))
            holding.set()
            release.wait(30)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert holding.wait(10), "the writer did not start"
        yield
    finally:
        release.set()
        thread.join()


def within(seconds: float, work: Callable[[], object]) -> bool:
    """Whether ``work`` finished within ``seconds`` (run in a thread of its own, left behind if not)."""
    import threading

    done = threading.Event()

    def run() -> None:
        work()
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return done.wait(seconds)


def printed_both_ways(store: Store, clock: ManualClock, *commands: list[str]) -> list[str]:
    """What each command prints at the terminal reading the store through its driver alone (an app
    given no store: :mod:`takedown.direct_reads`), once it is shown to print the same, and to
    succeed, through the store's own path (the store given to the app)."""
    from click.testing import CliRunner

    from faces.cli import App, cli
    from takedown.settings import Settings

    settings = Settings(
        database_url=store.engine.url.render_as_string(hide_password=False), actor="analyst:t"
    )
    runner = CliRunner()
    printed = []
    for command in commands:
        direct = runner.invoke(cli, command, obj=App(settings=settings, clock=clock))
        through_store = runner.invoke(cli, command, obj=App(settings=settings, clock=clock, _store=store))
        assert (direct.exit_code, through_store.exit_code) == (0, 0), (command, direct.output)
        assert direct.stdout == through_store.stdout, command
        printed.append(direct.stdout)
    return printed


CLI_PROBE = """
import sys
from faces.cli import main
sys.argv = ["takedown", *sys.argv[1:]]
try:
    main()
finally:
    sys.stderr.write("sqlalchemy loaded: %s\\n" % ("sqlalchemy" in sys.modules))
"""


def probe_cli(home: Path, *command: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``takedown COMMAND`` run as a user runs it, on the store in ``home``; its stderr ends by
    saying whether SQLAlchemy was loaded (what the direct reads and writes are there to avoid)."""
    environment = {"TAKEDOWN_HOME": str(home), "TAKEDOWN_ACTOR": "analyst:t", "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, "-c", CLI_PROBE, *command], capture_output=True, text=True,
                          env=environment, timeout=60, input=stdin)  # fmt: skip
