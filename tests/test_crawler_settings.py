"""The crawler's safety settings, as Scrapy itself reads them from scrapy.cfg."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from scrapy.utils.project import get_project_settings

from crawler.handler import HeadOfBody
from crawler.run import scrapy_settings
from crawler.safety import UnsafeSettings, check, violations
from faces.cli.operations import _overrides
from takedown.errors import ConfigurationError
from takedown.settings import Settings

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


UNLOADED = {
    "scrapy.extensions.telnet.TelnetConsole",
    "scrapy.extensions.remote_control.RemoteControl",
    "scrapy.extensions.feedexport.FeedExporter",
}


def test_the_consoles_and_the_feed_exports_are_not_even_loaded(settings) -> None:  # type: ignore[no-untyped-def]
    """Scrapy imports every extension it lists, even one turned off (the remote control brings
    aiohttp's web server with it): a crawl lists none of them, whatever -s says."""
    built = scrapy_settings(
        Settings.from_env({}), EXTENSIONS_BASE='{"scrapy.extensions.telnet.TelnetConsole": 0}'
    )
    for listed in (settings.getwithbase("EXTENSIONS"), built.getwithbase("EXTENSIONS")):
        assert not UNLOADED & set(listed)
        assert "crawler.fingerprint.StreamingFingerprint" in listed
        assert "scrapy.extensions.corestats.CoreStats" in listed  # what the summary is made of


def test_only_http_and_https_can_be_fetched_and_every_download_is_capped(settings) -> None:  # type: ignore[no-untyped-def]
    handlers = settings.getwithbase("DOWNLOAD_HANDLERS")
    assert {scheme for scheme, handler in handlers.items() if handler} == {"http", "https"}
    assert 0 < settings.getint("DOWNLOAD_MAXSIZE") <= 64 * 1024 * 1024
    assert settings.getbool("ROBOTSTXT_OBEY") is False
    assert "takedown" in settings.get("USER_AGENT")


def test_the_project_settings_pass_the_safety_check(settings) -> None:  # type: ignore[no-untyped-def]
    assert violations(settings) == []


HOSTILE_OVERRIDES = (
    "HTTPCACHE_ENABLED=True",
    "TELNETCONSOLE_ENABLED=True",
    "REMOTE_CONTROL_ENABLED=True",
    "HTTPPROXY_ENABLED=True",
    'FEEDS={"bodies.jsonl": {"format": "jsonlines"}}',
    'DOWNLOAD_HANDLERS={"file": "scrapy.core.downloader.handlers.file.FileDownloadHandler"}',
    'DOWNLOAD_HANDLERS_BASE={"ftp": "scrapy.core.downloader.handlers.ftp.FTPDownloadHandler"}',
    'DOWNLOADER_MIDDLEWARES={"crawler.middlewares.ConnectedAddressGuard": null}',
    "TWISTED_DNS_RESOLVER=scrapy.resolver.CachingThreadedResolver",
    "DOWNLOAD_MAXSIZE=0",
    "TAKEDOWN_ALLOW_NETWORKS=0.0.0.0/0",
)


def test_takedown_crawl_dash_s_cannot_turn_a_safety_setting_back_on() -> None:
    core = Settings.from_env({"TAKEDOWN_ALLOW_NETWORKS": "127.0.0.2/32"})
    built = scrapy_settings(core, **_overrides(HOSTILE_OVERRIDES))
    assert violations(built) == []
    assert built.getlist("TAKEDOWN_ALLOW_NETWORKS") == ["127.0.0.2/32"]
    assert built.getint("DOWNLOAD_MAXSIZE") == core.max_fetch_bytes + 1024 * 1024
    # and an ordinary override still works
    assert scrapy_settings(core, CONCURRENT_REQUESTS="7").getint("CONCURRENT_REQUESTS") == 7


@pytest.mark.parametrize("override", HOSTILE_OVERRIDES[:-1])
def test_a_crawl_started_with_unsafe_settings_refuses_before_fetching(settings, override: str) -> None:  # type: ignore[no-untyped-def]
    project = settings
    name, _, value = override.partition("=")
    project.set(name, value, priority="cmdline")
    wrong = violations(project)
    assert wrong, override
    with pytest.raises(UnsafeSettings, match="refusing to crawl"):
        check(project)


def test_the_crawl_downloads_with_the_handler_that_keeps_only_the_head_of_a_body() -> None:
    built = scrapy_settings(Settings.from_env({}), **_overrides(HOSTILE_OVERRIDES))
    handlers = built.getwithbase("DOWNLOAD_HANDLERS")
    assert handlers["http"] == handlers["https"] == "crawler.handler.HeadOnlyDownloadHandler"


def test_a_body_buffer_keeps_its_head_and_drops_the_rest() -> None:
    buffer = HeadOfBody(limit=10)
    for chunk in (b"0123", b"456789abc", b"d" * 1000):
        assert buffer.write(chunk) == len(chunk)  # Scrapy is told all was taken
    assert buffer.getvalue() == b"0123456789" and buffer.dropped == 1003


def test_the_settings_module_reads_no_environment_and_one_function_maps_the_configuration() -> None:
    env = {**os.environ, "TAKEDOWN_USER_AGENT": "FromTheEnvironment/1.0", "TAKEDOWN_FETCH_TIMEOUT": "7"}
    imported = subprocess.run(
        [sys.executable, "-c", "import crawler.settings as s; print(s.USER_AGENT, s.DOWNLOAD_TIMEOUT)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "FromTheEnvironment" not in imported.stdout and imported.stdout.split()[-1] == "30.0"
    mapped = scrapy_settings(Settings.from_env(env))
    assert mapped.get("USER_AGENT") == "FromTheEnvironment/1.0" and mapped.getfloat("DOWNLOAD_TIMEOUT") == 7.0


def test_without_environment_every_setting_is_its_declared_default(tmp_path: Path) -> None:
    """One declaration per default: the class's field. An empty environment gives exactly those."""
    from dataclasses import fields

    from takedown.settings import DEFAULTS

    read = Settings.from_env({"TAKEDOWN_HOME": str(tmp_path), "USER": "someone"})
    differing = {
        f.name: (getattr(read, f.name), getattr(DEFAULTS, f.name))
        for f in fields(Settings)
        if f.name not in ("database_url", "actor") and getattr(read, f.name) != getattr(DEFAULTS, f.name)
    }
    assert differing == {}


def test_a_child_process_given_the_settings_environment_reads_back_every_setting() -> None:
    """The scheduler starts crawls with ``Settings.environment()``: a setting missing from it would
    silently be its default in the crawl. Every field, set to something other than its default,
    survives the trip; the crawl's copy leaves the SMTP password out."""
    import dataclasses

    from schedules.jobs import crawl_environment
    from takedown.settings import DEFAULTS

    unusual = {
        "database_url": "postgresql://crawler@db.internal/takedown",
        "actor": "scheduler:night",
        "dns_server": "10.0.0.53:5353",
        "allowed_networks": ("127.0.0.0/8", "10.1.0.0/16"),
        "fetch_timeout": 12.5,
        "max_fetch_bytes": 1234567,
        "perceptual_max_bytes": 0,
        "pdq_distance": 24,
        "user_agent": "Hotline-Revisit/2.0 (+https://hotline.example/revisit)",
        "concurrency": 77,
        "concurrency_per_host": 5,
        "delay_per_host": 0.25,
        "retry_backoff": 0.0,
        "rdap_bootstrap": "/etc/takedown/bootstrap",
        "rdap_timeout": 3.0,
        "rdap_max_per_minute": 30,
        "resolve_concurrency": 3,
        "rdap_cache_hours": 1.5,
        "rdap_domain_cache_hours": 6.0,
        "asn_dns_zone": "origin.asn.example",
        "cdn_catalogue": "/etc/takedown/cdns.json",
        "notice_from": "Night Desk <night@hotline.example>",
        "reporter_org": "Hotline Night Desk",
        "notice_language": "fr",
        "csam_classification": "A1",
        "templates_dir": "/etc/takedown/templates",
        "smtp_host": "relay.internal",
        "smtp_port": 2525,
        "smtp_starttls": True,
        "smtp_username": "notifier",
        "smtp_password": "s3cret",
        "smtp_timeout": 9.0,
        "smtp_connections": 9,
        "chase_policy": "/etc/takedown/chase.toml",
        "smtp_ca_file": "/etc/takedown/relay-ca.pem",
        "frontier_lease": 900.0,
        "provider_key": "k" * 40,
        "public_url": "https://hotline.example/takedown",
        "sign_notices": False,
        "signing_key": "/etc/takedown/signing.key",
        "signing_certificate": "/etc/takedown/signing.pem",
        "signing_key_password": "p4ss",
    }
    names = [f.name for f in dataclasses.fields(Settings)]
    assert sorted(unusual) == sorted(names)  # a new setting needs a line here, and in environment()
    assert all(unusual[name] != getattr(DEFAULTS, name) for name in names)
    settings = Settings(**unusual)  # type: ignore[arg-type]
    assert Settings.from_env(settings.environment()) == settings
    assert Settings.from_env(crawl_environment(settings)) == dataclasses.replace(
        settings, smtp_password=None, provider_key=None, signing_key_password=None
    )
    assert "s3cret" not in crawl_environment(settings).values()
    assert "k" * 40 not in crawl_environment(settings).values()


@pytest.mark.parametrize(
    "given", ["hotline.example", "ftp://hotline.example", "https://", "https://h.example/?a=1"]
)
def test_a_public_address_that_is_not_a_web_address_is_refused(given: str) -> None:
    with pytest.raises(ConfigurationError, match="TAKEDOWN_PUBLIC_URL"):
        Settings.from_env({"TAKEDOWN_PUBLIC_URL": given})
    assert (
        Settings.from_env({"TAKEDOWN_PUBLIC_URL": "https://h.example/td/"}).public_url
        == "https://h.example/td"
    )
