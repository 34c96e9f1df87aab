"""The ``takedown`` command as a user and a script meet it: output, --json, exit codes, --help."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import httpx
import pytest
from click.testing import CliRunner, Result

from faces.cli import App, cli, load_every_command
from takedown import exitcodes
from takedown.clock import ManualClock
from takedown.import_reading import BESIDE_FROM
from takedown.settings import Settings
from takedown.store import Store
from tests.closing import closed_after_test
from tests.conftest import within, write_lock_held
from tests.console_support import sign_in


@pytest.fixture
def app(store: Store, clock: ManualClock, database_url: str) -> App:
    return App(
        settings=Settings(database_url=database_url, actor="analyst:tester"), clock=clock, _store=store
    )


@pytest.fixture
def run(app: App):  # type: ignore[no-untyped-def]
    runner = CliRunner()

    def invoke(*args: str, stdin: str | None = None) -> Result:
        return runner.invoke(cli, list(args), obj=app, input=stdin, catch_exceptions=False)

    return invoke


def test_queue_add_then_again_says_it_is_already_open(run) -> None:  # type: ignore[no-untyped-def]
    first = run("queue", "add", "http://a.test/x", "--reference", "HL-1", "--sha256", "A" * 64)
    assert first.exit_code == exitcodes.OK
    assert first.stdout == "http://a.test/x: queued as case 1\n"
    again = run("queue", "add", "HTTP://a.test:80/x#y", "--json")
    assert again.exit_code == exitcodes.OK
    assert json.loads(again.stdout) == {
        "outcome": "already_open",
        "case_id": 1,
        "previous_case_id": None,
        "url": "HTTP://a.test:80/x#y",
    }


def test_queue_add_refuses_bad_input_with_exit_65_and_the_reason(run) -> None:  # type: ignore[no-untyped-def]
    result = run("queue", "add", "http://user:pw@a.test/")
    assert result.exit_code == exitcodes.DATA_ERROR
    assert result.stdout == ""
    assert (
        result.stderr
        == "error: url: contains credentials (user:password@); remove them, they must never reach a notice\n"
    )


def test_queue_import_reports_counts_and_each_refused_row(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "reports.csv"
    path.write_text(
        "url,reference\nhttp://a.test/1,HL-1\nnot a url,HL-2\nhttp://a.test/3,HL-3\n", encoding="utf-8"
    )
    result = run("queue", "import", str(path))
    assert result.exit_code == exitcodes.PARTIAL
    assert result.stdout == "queued 2, reopened 0, already open 0, refused 1\n"
    assert "refused: line 3: url: has no scheme" in result.stderr

    again = run("queue", "import", str(path), "--json")
    assert again.exit_code == exitcodes.PARTIAL
    assert json.loads(again.stdout) == {
        "queued": 0,
        "already_open": 2,
        "reopened": 0,
        "rejected": 1,
        "errors": [
            {
                "line": 3,
                "field": "url",
                "message": "has no scheme; write it in full, like https://example.com/path",
            }
        ],
    }


def test_queue_import_reads_stdin_with_a_named_format(run) -> None:  # type: ignore[no-untyped-def]
    result = run("queue", "import", "-", "--format", "lines", stdin="http://a.test/1\nhttp://a.test/2\n")
    assert (result.exit_code, result.stdout) == (0, "queued 2, reopened 0, already open 0, refused 0\n")


def test_queue_import_of_a_large_file_from_a_path_or_stdin_counts_every_row_on_its_line(
    run, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    # Large enough to be read in a child process beside the writes: a comment block, then the rows.
    comments = "".join(
        f"# exported row {n:07d} of a hotline's list, for the reader's eyes only\n" for n in range(20_000)
    )
    rows = "http://a.test/1\nhttp://a.test/2\nftp://a.test/3\nhttp://a.test/1\n"
    path = tmp_path / "large.txt"
    path.write_text(comments + rows, encoding="utf-8")
    assert path.stat().st_size > BESIDE_FROM
    result = run("queue", "import", str(path), "--json")
    assert result.exit_code == exitcodes.PARTIAL
    summary = json.loads(result.stdout)
    assert (summary["queued"], summary["already_open"], summary["rejected"]) == (2, 1, 1)
    assert [(error["line"], error["field"]) for error in summary["errors"]] == [(20_003, "url")]

    again = run("queue", "import", "-", "--format", "lines", stdin=comments + rows + "http://a.test/4\n")
    assert again.exit_code == exitcodes.PARTIAL
    assert again.stdout == "queued 1, reopened 0, already open 3, refused 1\n"
    assert "refused: line 20003: url: scheme 'ftp' is not allowed" in again.stderr


def test_queue_import_says_in_one_line_when_its_reading_process_fails(  # type: ignore[no-untyped-def]
    run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "large.txt"
    path.write_text("".join(f"http://a.test/{n}\n" for n in range(80_000)), encoding="utf-8")
    assert path.stat().st_size > BESIDE_FROM
    monkeypatch.setattr(sys, "executable", "/bin/false")  # the reading process dies at once
    result = run("queue", "import", str(path))
    assert result.exit_code == exitcodes.FAILURE
    assert result.stderr == (
        "error: the process reading the file stopped unexpectedly (exit status 1); the batches before"
        " it are in the store, and importing the file again is safe\n"
    )


def test_queue_import_of_only_bad_rows_exits_65(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.txt"
    path.write_text("ftp://a.test/\n", encoding="utf-8")
    assert run("queue", "import", str(path)).exit_code == exitcodes.DATA_ERROR


def test_queue_import_of_an_unrecognised_file_is_a_usage_error(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "reports.xlsx"
    path.write_bytes(b"PK")
    result = run("queue", "import", str(path))
    assert result.exit_code == exitcodes.USAGE
    assert "pass --format csv, jsonl or lines" in result.stderr


def test_queue_list_filters_and_prints_json(run) -> None:  # type: ignore[no-untyped-def]
    for url in ("http://a.test/1", "http://b.test/2", "http://a.test/3"):
        run("queue", "add", url)
    run("case", "withdraw", "2", "--reason", "test")
    listed = json_lines(run("queue", "list", "--state", "queued", "--json").stdout)
    assert [(row["id"], row["url"], row["state"]) for row in listed] == [
        (1, "http://a.test/1", "queued"),
        (3, "http://a.test/3", "queued"),
    ]
    assert listed[0]["queued_at"] == "2026-03-01T09:00:00Z"
    assert [row["id"] for row in json_lines(run("queue", "list", "--host", "b.test", "--json").stdout)] == [2]
    assert [
        row["id"] for row in json_lines(run("queue", "list", "--after", "1", "--limit", "1", "--json").stdout)
    ] == [2]
    text = run("queue", "list").stdout
    assert "http://b.test/2" in text and "withdrawn" in text
    newest = json_lines(run("queue", "list", "--newest-first", "--after", "3", "--json").stdout)
    assert [row["id"] for row in newest] == [2, 1]
    day = ["--queued-from", "2026-03-01", "--queued-before", "2026-03-01T09:00:01", "--count"]
    assert run("queue", "list", *day).stdout.strip() == "3"
    assert run("queue", "list", "--queued-from", "2026-03-02", "--count").stdout.strip() == "0"
    assert run("queue", "list", "--queued-from", "March").exit_code == exitcodes.USAGE
    assert run("queue", "list", "--country", "Netherlands").exit_code == exitcodes.USAGE
    assert run("queue", "list", "--category", "csam", "--count").stdout.strip() == "3"


def test_case_show_gives_the_timeline(run, clock: ManualClock) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    run("queue", "add", "http://a.test/1", "--reference", "HL-9")
    clock.advance(timedelta(hours=5))
    run("case", "withdraw", "1", "--reason", "handed to police")
    shown = run("case", "show", "1")
    assert shown.exit_code == 0
    assert "2026-03-01T09:00:00Z  analyst:tester           queued (csam), reference HL-9" in shown.stdout
    assert "2026-03-01T14:00:00Z  analyst:tester           withdrawn: handed to police" in shown.stdout
    detail = json.loads(run("case", "show", "1", "--json").stdout)
    assert detail["state"] == "withdrawn"
    assert detail["closed_at"] == "2026-03-01T14:00:00Z"
    assert [(e["action"], e["from_state"], e["to_state"]) for e in detail["timeline"]] == [
        ("queued", None, "queued"),
        ("withdrawn", "queued", "withdrawn"),
    ]


def test_case_commands_exit_4_for_a_missing_case_and_5_for_a_closed_one(run) -> None:  # type: ignore[no-untyped-def]
    missing = run("case", "show", "99")
    assert missing.exit_code == exitcodes.NOT_FOUND
    assert missing.stderr == "error: no case with id 99; `takedown queue list` shows the cases\n"
    run("queue", "add", "http://a.test/1")
    assert run("case", "withdraw", "1", "--reason", "x").exit_code == 0
    again = run("case", "withdraw", "1", "--reason", "x")
    assert again.exit_code == exitcodes.REFUSED
    assert "already closed (withdrawn)" in again.stderr
    assert run("case", "withdraw", "1").exit_code == exitcodes.USAGE, "--reason is required"


def test_url_canonicalize_prints_one_line_per_argument_in_order(run) -> None:  # type: ignore[no-untyped-def]
    result = run("url", "canonicalize", "http://www.GOOgle.com/", "http://3279880203/blah", "www.google.com")
    assert result.exit_code == 0
    assert result.stdout == "http://www.google.com/\nhttp://195.127.0.11/blah\nhttp://www.google.com/\n"


def test_url_canonicalize_names_what_it_cannot_read(run) -> None:  # type: ignore[no-untyped-def]
    result = run("url", "canonicalize", "--json", "http://h:8080/a/../b", "http:/broken")
    assert result.exit_code == exitcodes.PARTIAL
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines[0] == {
        "input": "http://h:8080/a/../b",
        "canonical": "http://h/b",
        "dedup_key": "http://h:8080/b",
        "error": None,
    }
    assert lines[1]["canonical"] is None and "expected '//'" in lines[1]["error"]
    assert run("url", "canonicalize", "").exit_code == exitcodes.DATA_ERROR


def test_db_status_reports_the_revision(run) -> None:  # type: ignore[no-untyped-def]
    status = json.loads(run("db", "status", "--json").stdout)
    assert status["revision"] == status["head"] is not None


def test_db_status_says_a_store_needs_upgrading_and_leaves_it_as_it_is(tmp_path: Path) -> None:
    import sqlite3

    from takedown.revision import HEAD_REVISION
    from takedown.settings import sqlite_url

    path = tmp_path / "behind.db"
    Store.open(sqlite_url(path)).dispose()
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0031'")
    app = App(settings=Settings(database_url=sqlite_url(path), actor="analyst:t"))
    shown = CliRunner().invoke(cli, ["db", "status"], obj=app)
    assert shown.exit_code == 0 and shown.stdout.endswith(
        f"revision 0031 (needs upgrade to {HEAD_REVISION})\n"
    )
    as_json = json.loads(CliRunner().invoke(cli, ["db", "status", "--json"], obj=app).stdout)
    assert (as_json["revision"], as_json["head"]) == ("0031", HEAD_REVISION)
    with sqlite3.connect(path) as connection:  # only said, not done: upgrading is db upgrade's
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [("0031",)]


def _all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _all_commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


def json_lines(text: str) -> list[dict[str, object]]:
    """A listing's --json: one object a line (JSON Lines), the convention for every list."""
    rows = [json.loads(line) for line in text.splitlines()]
    assert all(isinstance(row, dict) for row in rows)
    return rows


def _command(path: tuple[str, ...]) -> click.Command:
    found: click.Command = cli
    for name in path:
        assert isinstance(found, click.Group)
        found = found.commands[name]
    return found


HUMAN_ONLY = {("demo",), ("web",), ("portal",), ("inbox", "serve")}
"""The walkthrough a newcomer reads and the console's server (its output is a log); everything else
a script may call has --json."""


@pytest.mark.parametrize(
    "command",
    [
        c
        for c in _all_commands(load_every_command())
        if c and c not in HUMAN_ONLY and not isinstance(_command(c), click.Group)
    ],
    ids=" ".join,
)
def test_every_command_a_script_would_call_has_json(command: tuple[str, ...]) -> None:
    assert any("--json" in getattr(param, "opts", ()) for param in _command(command).params)


@pytest.mark.parametrize(
    "command", _all_commands(load_every_command()), ids=lambda c: " ".join(c) or "takedown"
)
def test_every_command_has_help(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.stdout
    # help describes what the command does now, not the project's history or plans
    assert not re.search(r"issues? #\d|Today:|join it as|arrives? with", result.stdout), result.stdout


@pytest.mark.parametrize(
    "package", ["takedown", "crawler", "crawler.spiders", "hosting", "notices", "schedules", "sandbox"]
)
def test_package_docstrings_describe_what_is_there(package: str) -> None:
    doc = importlib.import_module(package).__doc__ or ""
    assert doc and not re.search(r"issues? #\d|arrives? with", doc), doc


def test_an_unknown_option_is_a_usage_error() -> None:
    assert CliRunner().invoke(cli, ["queue", "list", "--colour"]).exit_code == exitcodes.USAGE


@pytest.mark.e2e
def test_the_demo_runs_in_a_directory_of_its_own_and_ends_in_the_console(tmp_path: Path) -> None:
    """The whole walkthrough as a newcomer runs it, then the console on its store (--serve)."""
    errors = tmp_path / "stderr.txt"
    with errors.open("w") as written:
        process = subprocess.Popen(
            [sys.executable, "-m", "faces.cli", "demo", "--directory", str(tmp_path / "demo"), "--serve",
             "--port", "0"],
            env={**os.environ, "PYTHONUNBUFFERED": "1", "TAKEDOWN_HOME": str(tmp_path)},
            stdout=subprocess.PIPE, stderr=written, text=True,
        )  # fmt: skip
    lines = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if console := re.search(
                r"console: (http://127\.0\.0\.1:\d+/) +\(name demo, password (\S+)\)", line
            ):
                break
        else:
            raise AssertionError(f"the demo ended without serving the console: {errors.read_text()[-2000:]}")
        client = closed_after_test(httpx.Client(base_url=console.group(1), timeout=10))
        assert sign_in(client, "demo", console.group(2)).status_code == 303
        dashboard = client.get("/").text
        assert re.search(r'state=removed">removed</a></td><td class="number">3<', dashboard)
        assert "hxxp://host-b[.]test" in client.get("/cases/4").text
        # The sandbox is still up, so previews resolve: case 1's chase is over, case 9 is due an
        # escalation to an upstream with no mailbox, and its first notice went to the host.
        assert "The chase is over for this case" in client.get("/cases/1/preview").text
        assert "Nobody would be notified: no party has a mailbox." in client.get("/cases/9/preview").text
        first = client.get("/cases/9/preview", params={"level": "initial"}).text
        assert '<h2 id="notice-1">To abuse@quick.test' in first
    finally:
        process.terminate()
        process.communicate(timeout=10)  # and its pipe closed
    out = "".join(lines)
    assert "queued 8, reopened 0, already open 1, refused 2" in out
    assert "queued 0, reopened 0, already open 9, refused 2" in out
    assert re.search(r"case 3 +cdn SandCDN: abuse@sandcdn\.test; registrar Second Registrar Ltd", out)
    chase = out.split("5. The chase")[1]
    assert "takedown request to abuse@host-a.test (2 cases)" in chase
    # quick.test removes at its first notice and says so on its provider page: revisited at once
    assert "abuse@quick.test answered on the provider page: removed, 1 case(s) (ticket QK-1001)" in chase
    assert "case 7 revisited 15 minutes after the provider's answer: gone, 24 h before its planned" in chase
    assert "their ticket 2026030210000017 is recorded on case(s) 4, 5" in chase  # host B's ticket system
    assert re.search(r"message \d+ from abuse@host-a\.test waits in the console's inbox", chase)
    assert re.search(r"reported again \(the content came back\): reopened as case 9", chase)
    assert "reminder to abuse@host-b.test (2 cases)" in chase
    assert re.search(r"case 4 gone -> removed", chase), "host B removed /x.jpg after its second notice"
    assert "escalation to abuse@registrar.test (3 cases)" in chase
    assert re.search(r"case 5 gone -> removed", chase), "the registrar suspended gone-soon.test"
    assert "escalation to abuse@transit.test" in chase
    assert "case 1: an analyst must act" in chase
    final = out.split("6. Where every case ended")[1]
    assert re.search(r"case 4 +removed +http://host-b\.test:\d+/x\.jpg", final)
    assert re.search(r"case 1 +live", final) and re.search(r"case 8 +withdrawn", final)
    assert re.search(r"case 7 +removed", final) and re.search(r"case 9 +live", final)
    assert re.search(r"all +removed 3, still open 4, median 72 h", final)
    portal = out.split("8. The public reports through the Kenya portal")[1]
    assert "cookies set: 0" in portal
    assert "revisits the two new URLs once: {'awaiting_assessment': 1, 'confirmed': 1}" in portal
    assert "acknowledgement to mtu@reporter.test in sw" in portal
    assert re.search(r"case 10 opened by the partner's hash list .*/album/7\.jpg", portal)
    assert re.search(r"waits for an analyst .*/album/8\.jpg \(live\)", portal)
    assert "portal ke: 1 report(s), 3 URLs, 1 confirmed" in portal
    assert (tmp_path / "demo" / "demo.db").exists()
    assert process.returncode in (0, -15)


def test_a_classification_setting_is_normalised_and_an_unknown_one_refused_at_start_up(
    tmp_path: Path,
) -> None:
    assert Settings.from_env({"TAKEDOWN_CSAM_CLASSIFICATION": "a1"}).csam_classification == "A1"
    assert Settings.from_env({"TAKEDOWN_CSAM_CLASSIFICATION": " Baseline "}).csam_classification == "baseline"
    result = CliRunner().invoke(
        cli, ["queue", "list"], env={"TAKEDOWN_HOME": str(tmp_path), "TAKEDOWN_CSAM_CLASSIFICATION": "A3"}
    )
    assert result.exit_code == exitcodes.USAGE
    assert "TAKEDOWN_CSAM_CLASSIFICATION='A3'" in result.output and "A1" in result.output
    assert not (tmp_path / "takedown.db").exists()  # refused before anything was opened


def test_queue_add_of_bytes_that_are_not_utf8_is_refused_with_the_field(run) -> None:  # type: ignore[no-untyped-def]
    raw = b"http://a.test/\xff.jpg".decode("utf-8", "surrogateescape")  # how Python hands over such an argv
    result = run("queue", "add", raw)
    assert result.exit_code == exitcodes.DATA_ERROR
    assert "url" in result.output and "invalid UTF-8" in result.output
    assert run("queue", "list", "--json").output.strip() == ""  # no case: no line


@pytest.mark.e2e
def test_a_store_that_fails_under_a_command_gives_one_line_and_exit_1(tmp_path: Path) -> None:
    env = {**os.environ, "TAKEDOWN_HOME": str(tmp_path)}
    takedown = [sys.executable, "-m", "faces.cli"]
    subprocess.run(
        [*takedown, "queue", "add", "http://a.test/x.jpg"], env=env, check=True, capture_output=True
    )
    for leftover in tmp_path.glob("takedown.db-*"):
        leftover.unlink()
    with open(tmp_path / "takedown.db", "r+b") as database:  # the disk under the store goes bad
        database.write(b"not a database any more" * 200)
    quiet = subprocess.run([*takedown, "queue", "list"], env=env, capture_output=True, text=True)
    assert quiet.returncode == exitcodes.FAILURE
    assert quiet.stderr.strip().splitlines() == [
        "error: the store failed: file is not a database (run with -v for the details)"
    ]
    verbose = subprocess.run([*takedown, "-v", "queue", "list"], env=env, capture_output=True, text=True)
    assert verbose.returncode == exitcodes.FAILURE and "Traceback" in verbose.stderr


def test_the_table_of_commands_is_the_commands_themselves() -> None:
    """``takedown --help`` is written from faces.cli.base.COMMANDS without importing the commands'
    modules: the table must name every command, its module, and its own first sentence."""
    from faces.cli.base import COMMANDS

    group = load_every_command()
    assert set(COMMANDS) == set(group.commands)
    for name, (module, first_sentence) in COMMANDS.items():
        command = group.commands[name]
        assert command.callback is not None and command.callback.__module__ == f"faces.cli.{module}", name
        for limit in (45, 80, 200):
            assert click.Command(name, help=first_sentence).get_short_help_str(limit) == (
                command.get_short_help_str(limit)
            ), name


def test_listings_answer_while_a_writer_holds_the_store(run, store: Store) -> None:  # type: ignore[no-untyped-def]
    """A long ``queue list`` (or any listing) neither waits for the scheduler or the portal's
    writer nor holds them up: it reads in a transaction that takes no write lock."""

    run("queue", "add", "http://held.test/x")
    answers: list[str] = []
    with write_lock_held(store):  # waiting for the lock would take the busy timeout (30 s)
        listings = (
            ["queue", "list"],
            ["portals", "queue"],
            ["notices", "list"],
            ["contacts", "history"],
            ["hashes", "list"],
        )
        assert within(10, lambda: answers.extend(run(*args).output for args in listings))
    assert "http://held.test/x" in answers[0]
