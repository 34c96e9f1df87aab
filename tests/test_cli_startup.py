"""A command imports what it uses: ``takedown --help`` and ``url canonicalize`` answer without
loading the store's stack (SQLAlchemy, Alembic), the crawler, the renderer or the progress bars,
which is most of half a second on every invocation. (Timing lives in bench/bench_million.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HEAVY = ("sqlalchemy", "alembic", "scrapy", "twisted", "jinja2", "rich", "dns", "xarf")

PROBE = """
import json, sys
from faces.cli import main
args, watched = json.loads(sys.argv[1]), set(json.loads(sys.argv[2]))
sys.argv = ["takedown", *args]
try:
    main()
except SystemExit as done:
    code = done.code or 0
heavy = sorted({name.split(".")[0] for name in sys.modules} & watched)
groups = sorted(name for name in sys.modules if name.startswith("faces.cli.") and name != "faces.cli.base")
sys.stderr.write(json.dumps({"code": code, "heavy": heavy, "groups": groups}) + "\\n")
"""


def probe(args: list[str], watched: tuple[str, ...], tmp_path: Path) -> tuple[dict[str, Any], str]:
    """Run ``takedown ARGS`` in a fresh interpreter on an empty store: its exit code, which of the
    ``watched`` packages it loaded, which command groups it imported; and what it printed."""
    run = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(args), json.dumps(watched)],
        capture_output=True,
        text=True,
        env={**os.environ, "TAKEDOWN_HOME": str(tmp_path)},
        timeout=60,
    )
    return json.loads(run.stderr.strip().splitlines()[-1]), run.stdout


@pytest.mark.parametrize(
    ("args", "groups"),
    [
        (["--help"], []),  # the list of commands is had without importing one of them
        (["queue", "--help"], ["faces.cli.cases"]),
        (["url", "canonicalize", "HTTP://Example.TEST:80/a/../b"], ["faces.cli.cases"]),
        (["notices", "send", "--help"], ["faces.cli.notices"]),
        (["crawl", "--help"], ["faces.cli.operations"]),
    ],
)
def test_light_commands_do_not_load_the_heavy_stack(
    args: list[str], groups: list[str], tmp_path: Path
) -> None:
    report, stdout = probe(args, HEAVY, tmp_path)
    assert report == {"code": 0, "heavy": [], "groups": groups}, report
    assert stdout


RESOLVER = ("tldextract", "dns", "ipwhois", "scrapy", "twisted")


@pytest.mark.parametrize("args", [["notices", "list"], ["contacts", "list"], ["users", "list"]])
def test_listings_of_the_store_do_not_load_the_resolver(args: list[str], tmp_path: Path) -> None:
    """The outbox and the contact book are listed without the suffix list, DNS or RDAP: they took
    a quarter of a second of ``notices list`` and ``contacts list`` before they were left to what
    resolves."""
    report, _ = probe(args, RESOLVER, tmp_path)
    assert (report["code"], report["heavy"]) == (0, []), report


def test_a_listing_cut_short_by_its_reader_ends_quietly(tmp_path: Path) -> None:
    env = {**os.environ, "TAKEDOWN_HOME": str(tmp_path), "TAKEDOWN_ACTOR": "analyst:t"}
    takedown = [sys.executable, "-m", "faces.cli"]
    urls = "".join(f"http://a.test/{n}\n" for n in range(3000))
    queued = subprocess.run(
        [*takedown, "queue", "import", "-", "--format", "lines", "-q"],
        input=urls,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert queued.returncode == 0, queued.stderr
    listing = subprocess.Popen(
        [*takedown, "queue", "list", "--limit", "3000", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert listing.stdout is not None and listing.stderr is not None
    first = json.loads(listing.stdout.readline())
    listing.stdout.close()  # as `| head -1` does
    # click's convention for a closed pipe: exit 1, quietly (no BrokenPipeError traceback)
    assert listing.wait(timeout=60) == 1
    with listing.stderr:
        assert listing.stderr.read() == b""
    assert first["url"] == "http://a.test/0"
