"""``takedown sandbox run`` as an operator uses it: a port of their choosing, an environment a shell
can source, the notices it received kept where a person can read them, and a scenario's own CDN."""

from __future__ import annotations

import json
import mailbox
import os
import signal
import smtplib
import socket
import subprocess
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import IO

import pytest

from hosting.factory import resolver_from_settings
from sandbox import Sandbox, Scenario
from sandbox.scenario import ScenarioError
from takedown.clock import ManualClock
from takedown.settings import Settings
from tests.closing import closed_after_test

pytestmark = pytest.mark.e2e

SCENARIO = {
    "description": "a site behind a CDN of the scenario's own",
    "hosts": {"site.test": "127.0.0.2", "edge.mycdn.test": "127.0.0.3"},
    "records": {"fronted.test": {"CNAME": ["edge.mycdn.test"]}},
    "paths": {"site.test": {"/a.jpg": {"serve": "a"}}},
    "cdns": [{"name": "MyCDN", "cname_suffixes": ["mycdn.test"], "abuse": "abuse@mycdn.test"}],
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.2", 0))
        return int(probe.getsockname()[1])


def start(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], IO[str]]:
    scenario = tmp_path / "scenario.json"
    scenario.write_text(json.dumps(SCENARIO))
    process = subprocess.Popen(
        [sys.executable, "-m", "faces.cli", "sandbox", "run", "--scenario", str(scenario), *args],
        env={**os.environ, "TAKEDOWN_HOME": str(tmp_path / "home")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, process.stdout


@pytest.fixture
def stopped() -> Iterator[list[subprocess.Popen[str]]]:
    running: list[subprocess.Popen[str]] = []
    yield running
    for process in running:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)  # and its pipes closed


def test_the_sandbox_listens_where_asked_and_keeps_every_notice_in_a_maildir(
    tmp_path: Path, stopped: list[subprocess.Popen[str]]
) -> None:
    port = free_port()
    mail = tmp_path / "mail"
    process, out = start(tmp_path, "--json", "--port", str(port), "--mail-dir", str(mail))
    stopped.append(process)
    described = json.loads(out.readline())
    assert described["port"] == port and described["mail_dir"] == str(mail.resolve())
    env = described["environment"]
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "reports@hotline.test", "abuse@site.test", "[TD-1] x"
    message.set_content("a notice")
    with smtplib.SMTP(env["TAKEDOWN_SMTP_HOST"], int(env["TAKEDOWN_SMTP_PORT"]), timeout=10) as smtp:
        smtp.send_message(message)
    [kept] = list(mailbox.Maildir(mail, create=False))
    assert kept["Subject"] == "[TD-1] x" and kept["X-Sandbox-Rcpt"] == "abuse@site.test"
    assert len(list((mail / "new").iterdir())) == 1  # a file a person can open


def test_the_printed_environment_can_be_sourced_by_a_shell(
    tmp_path: Path, stopped: list[subprocess.Popen[str]]
) -> None:
    process, out = start(tmp_path)
    stopped.append(process)
    lines = []
    for line in out:
        if line.startswith("# Ctrl-C"):
            break
        lines.append(line)
    script = "".join(lines) + 'printf %s "$TAKEDOWN_NOTICE_FROM"'
    sourced = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    assert sourced.stdout == "Sandbox Hotline <reports@hotline.test>"
    assert any(line.startswith("# notices received are kept in the Maildir ") for line in lines)


def test_a_scenario_declares_its_own_cdn(clock: ManualClock) -> None:
    with Sandbox.from_scenario(Scenario.from_dict(SCENARIO)) as sandbox:
        settings = Settings.from_env({**sandbox.environment(), "TAKEDOWN_DATABASE_URL": "sqlite://"})
        result = closed_after_test(resolver_from_settings(settings, clock=clock)).resolve(
            sandbox.url("fronted.test", "/v.mp4")
        )
    assert result.cdn is not None and result.cdn.cdn.name == "MyCDN"
    party = result.party("cdn")
    assert party is not None and party.emails == ("abuse@mycdn.test",)


@pytest.mark.parametrize(
    ("cdn", "message"),
    [({"asns": [1]}, "name"), ({"name": "X"}, "at least one"), ({"name": "X", "asns": 1}, "list")],
)
def test_a_cdn_without_a_name_or_a_way_to_recognise_it_is_refused(
    cdn: dict[str, object], message: str
) -> None:
    with pytest.raises(ScenarioError, match=message):
        Scenario.from_dict({**SCENARIO, "cdns": [cdn]})
