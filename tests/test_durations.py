"""Durations with units everywhere a length of time is set: policy, run options, environment."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from faces.cli import cli
from takedown.durations import describe, parse_duration
from takedown.errors import ConfigurationError
from takedown.policy import ChasePolicy
from takedown.settings import Settings


@pytest.mark.parametrize(
    ("text", "unit", "expected"),
    [
        ("90s", "m", timedelta(seconds=90)),
        ("15m", "h", timedelta(minutes=15)),
        ("2h", "s", timedelta(hours=2)),
        ("7d", "h", timedelta(days=7)),
        ("1h30m", "s", timedelta(minutes=90)),
        ("1.5h", "s", timedelta(minutes=90)),
        ("2 H", "s", timedelta(hours=2)),
        ("12", "h", timedelta(hours=12)),  # a bare number keeps the setting's own unit
        (0.5, "h", timedelta(minutes=30)),
        (3, "m", timedelta(minutes=3)),
    ],
)
def test_durations_are_read_with_or_without_a_unit(text: object, unit: str, expected: timedelta) -> None:
    assert parse_duration(text, unit=unit, name="x") == expected


@pytest.mark.parametrize("text", ["", "soon", "5x", "h", "1h2", "-5m", True, None, [1]])
def test_what_is_not_a_duration_is_refused_naming_the_setting(text: object) -> None:
    with pytest.raises(ConfigurationError, match="THE_SETTING"):
        parse_duration(text, unit="s", name="THE_SETTING")


@given(st.integers(min_value=0, max_value=10**8))
def test_a_duration_written_back_reads_as_itself(seconds: int) -> None:
    assert parse_duration(describe(timedelta(seconds=seconds)), unit="h", name="x") == timedelta(
        seconds=seconds
    )


def test_the_policy_file_takes_units_and_bare_hours_alike() -> None:
    policy = ChasePolicy.from_dict(
        {
            "revisit_hours": {"live": "90m", "unreachable": 0.25},
            "removal": {"confirm_after_hours": "1d"},
            "notices": {"reminder_after_hours": "3d"},
        }
    )
    assert policy.revisit_after["live"] == timedelta(minutes=90)
    assert policy.revisit_after["unreachable"] == timedelta(minutes=15)
    assert policy.confirm_removal_after == timedelta(days=1)
    assert policy.reminder_after == timedelta(days=3)
    with pytest.raises(ConfigurationError, match=r"\[notices\] reminder_after_hours"):
        ChasePolicy.from_dict({"notices": {"reminder_after_hours": "every so often"}})


def test_timeouts_in_the_environment_take_units() -> None:
    settings = Settings.from_env(
        {"TAKEDOWN_FETCH_TIMEOUT": "2m", "TAKEDOWN_RDAP_CACHE_HOURS": "7d", "TAKEDOWN_SMTP_TIMEOUT": "45"}
    )
    assert (settings.fetch_timeout, settings.rdap_cache_hours, settings.smtp_timeout) == (120.0, 168.0, 45.0)
    with pytest.raises(ConfigurationError, match="TAKEDOWN_FETCH_TIMEOUT"):
        Settings.from_env({"TAKEDOWN_FETCH_TIMEOUT": "0s"})


def test_run_takes_durations_and_names_a_bad_one() -> None:
    refused = CliRunner().invoke(cli, ["run", "--crawl-every", "whenever"])
    assert refused.exit_code == 2
    assert "--crawl-every" in refused.output and "15m" in refused.output
