"""The scheduler's crawl job as an operator meets it: quiet, and when it fails, the cause first."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from schedules.jobs import CrawlFailed, crawl_job, failure_cause
from takedown.settings import Settings, sqlite_url

NOISE = "\n".join(f"2026-03-01 09:00:0{n} INFO scrapy.core.engine: spider noise {n}" for n in range(9))


@pytest.mark.parametrize(
    ("stderr", "cause"),
    [
        (
            NOISE + "\nerror: the store failed: disk full (run with -v for the details)\n",
            "the store failed: disk",
        ),
        (
            NOISE
            + '\nTraceback (most recent call last):\n  File "x.py", line 1\nMemoryError: out of memory\n',
            "MemoryError: out of memory",
        ),
        (NOISE, "spider noise 8"),
        ("", "it wrote nothing"),
    ],
)
def test_the_cause_of_a_failed_child_is_found_in_its_noise(stderr: str, cause: str) -> None:
    assert cause in failure_cause(stderr)
    assert "\n" not in failure_cause(stderr)


@pytest.mark.e2e
def test_a_crawl_that_fails_says_why_first(tmp_path: Path) -> None:
    broken = tmp_path / "takedown.db"
    broken.write_bytes(b"this is not a database" * 100)
    settings = Settings.from_env({"TAKEDOWN_DATABASE_URL": sqlite_url(broken)})
    with pytest.raises(CrawlFailed) as failed:
        crawl_job(settings, datetime(2026, 3, 1, 9, tzinfo=UTC))
    assert str(failed.value).startswith(
        "the revisit crawl exited with 1: the store failed: file is not a database"
    )


@pytest.mark.e2e
def test_a_crawl_is_quiet_unless_asked(tmp_path: Path) -> None:
    env = {**os.environ, "TAKEDOWN_HOME": str(tmp_path)}
    takedown = [sys.executable, "-m", "faces.cli"]
    subprocess.run(
        [*takedown, "queue", "add", "http://nowhere.invalid/x.jpg"], env=env, check=True, capture_output=True
    )
    quiet = subprocess.run([*takedown, "crawl"], env=env, capture_output=True, text=True, timeout=120)
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert quiet.stdout.startswith("revisited 1")
    told = subprocess.run([*takedown, "-v", "crawl", "--case", "1"], env=env, capture_output=True, text=True)
    assert "INFO scrapy" in told.stderr  # -v still tells all
