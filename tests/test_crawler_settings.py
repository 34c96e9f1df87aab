"""The crawler's safety settings, as Scrapy itself reads them from scrapy.cfg."""

from __future__ import annotations

from pathlib import Path

import pytest
from scrapy.utils.project import get_project_settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("SCRAPY_SETTINGS_MODULE", raising=False)  # restored (unset) after the test
    return get_project_settings()


def test_nothing_fetched_is_kept_and_nothing_can_steer_the_crawler(settings) -> None:  # type: ignore[no-untyped-def]
    assert settings.getbool("HTTPCACHE_ENABLED") is False
    assert settings.getbool("TELNETCONSOLE_ENABLED") is False
    assert settings.getbool("REMOTE_CONTROL_ENABLED") is False
    assert settings.getbool("HTTPPROXY_ENABLED") is False


def test_only_http_and_https_can_be_fetched_and_every_download_is_capped(settings) -> None:  # type: ignore[no-untyped-def]
    handlers = settings.getwithbase("DOWNLOAD_HANDLERS")
    assert {scheme for scheme, handler in handlers.items() if handler} == {"http", "https"}
    assert 0 < settings.getint("DOWNLOAD_MAXSIZE") <= 64 * 1024 * 1024
    assert settings.getbool("ROBOTSTXT_OBEY") is False
    assert "takedown" in settings.get("USER_AGENT")
