"""No client address reaches the store, the logs or any file: ``takedown portal`` run as it is in
production (its own process, verbose logging), reports sent from a distinctive loopback address,
and every byte it could have left behind searched for that address afterwards."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from takedown.settings import sqlite_url

pytestmark = pytest.mark.e2e

CLIENT = "127.77.66.55"  # any 127/8 address reaches the loopback server; this one is nobody else's


def test_no_client_address_is_kept_anywhere(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "TAKEDOWN_DATABASE_URL": sqlite_url(tmp_path / "takedown.db"),
        "TAKEDOWN_HOME": str(tmp_path / "home"),
        "HOME": str(tmp_path / "home"),
        "TMPDIR": str(tmp_path),
        "TAKEDOWN_PORTAL_REPORTS_PER_HOUR": "3",
    }
    cli = [sys.executable, "-m", "faces.cli", "-v"]
    subprocess.run(
        [
            *cli,
            "portals",
            "add",
            "ke",
            "--country",
            "KE",
            "--languages",
            "sw,en",
            "--partner",
            "P",
            "--acknowledgements",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    server = subprocess.Popen(
        [*cli, "portal", "--port", "0"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert server.stderr is not None
        started, deadline = "", time.monotonic() + 30
        while not (found := re.search(r"running on http://127\.0\.0\.1:(\d+)", started)):
            assert time.monotonic() < deadline and server.poll() is None, started
            started += server.stderr.readline()
        transport = httpx.HTTPTransport(local_address=CLIENT)
        with httpx.Client(base_url=f"http://127.0.0.1:{found.group(1)}", transport=transport) as visitor:
            assert visitor.get("/ke/").status_code == 200
            for n in range(3):
                sent = visitor.post(
                    "/ke/",
                    data={
                        "urls": f"http://a.example/{n}",
                        "content": "videos",
                        "address": "someone@example.org",
                    },
                )
                assert sent.status_code == 200
            assert visitor.post("/ke/", data={"urls": "ftp://x", "content": "other"}).status_code == 429
            assert (
                visitor.post(
                    "/ke/",
                    data={"urls": "http://a.example/9"},
                    headers={"Origin": "http://elsewhere.example"},
                ).status_code
                == 403
            )
            assert visitor.get("/nowhere/").status_code == 404
            assert (
                visitor.post(
                    "/ke/", content=b"\xff\xfe", headers={"Content-Type": "application/x-www-form-urlencoded"}
                ).status_code
                == 400
            )
    finally:
        server.terminate()
        stdout, stderr = server.communicate(timeout=30)
    logged = started + stdout + stderr
    assert "Application startup complete" in logged  # the log was there to be searched
    probes = [CLIENT.encode(), socket.inet_aton(CLIENT), CLIENT.replace(".", "-").encode()]
    assert not any(probe in logged.encode() for probe in probes), "a client address in the log"
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert any(path.name == "takedown.db" for path in files)
    for path in files:
        data = path.read_bytes()
        assert not any(probe in data for probe in probes), f"a client address in {path}"
