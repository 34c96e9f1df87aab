"""Settings, read from the environment once and passed around as a plain value.

Secrets (SMTP password, API tokens) will only ever come from the environment, never from a file in
the repository, and are never logged.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from takedown.classification import CLASSIFICATIONS, canonical_classification
from takedown.durations import UNITS, parse_duration
from takedown.errors import ConfigurationError

T = TypeVar("T", int, float)

DEFAULT_DB_FILENAME = "takedown.db"
DEFAULT_USER_AGENT = "takedown-revisit/0.1 (hotline takedown verification)"


def data_directory(environ: Mapping[str, str] | None = None) -> Path:
    """Where the SQLite store lives by default: ``$TAKEDOWN_HOME``, else the XDG data directory."""
    env = os.environ if environ is None else environ
    if env.get("TAKEDOWN_HOME"):
        return Path(env["TAKEDOWN_HOME"]).expanduser()
    xdg = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg).expanduser() / "takedown"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable about the core."""

    database_url: str
    actor: str
    dns_server: str | None = None
    """``address[:port]`` of the DNS server to ask instead of the system's (the sandbox runs one)."""
    allowed_networks: tuple[str, ...] = ()
    """Networks the SSRF guard lets through although they are private or loopback. Sandbox only."""
    fetch_timeout: float = 30.0
    """Seconds a revisit may take before it counts as unreachable."""
    max_fetch_bytes: int = 32 * 1024 * 1024
    """Bytes of a body fingerprinted before the download is stopped (and marked truncated)."""
    perceptual_max_bytes: int = 8 * 1024 * 1024
    """Image bodies up to this size are held in memory and PDQ-hashed in a worker process for hash
    list matching (0: no perceptual hashing). A crawl holds at most its concurrency times this;
    photographs are rarely a tenth of it."""
    pdq_distance: int = 31
    """How many of a PDQ hash's 256 bits may differ from a list entry's for a match (Meta's advice)."""
    user_agent: str = DEFAULT_USER_AGENT
    concurrency: int = 200
    """Requests in flight at once over the whole crawl: what hides the servers' latency (200 at
    once against servers that think for 300 ms is about 600 URLs a second)."""
    concurrency_per_host: int = 2
    """Requests at once to one server address."""
    delay_per_host: float = 0.0
    """Seconds between requests to one server address."""
    retry_backoff: float = 1.0
    """Seconds before the first retry of a transient failure; doubles with each retry."""
    rdap_bootstrap: str | None = None
    """Directory or http(s) base URL of RDAP bootstrap files; the shipped IANA files when unset."""
    rdap_timeout: float = 10.0
    rdap_max_per_minute: int = 0
    """Queries to any one registry in a minute; 0 leaves pacing to the registries' own 429s."""
    resolve_concurrency: int = 8
    """Host names a round resolves at once: each waits on a registry or a DNS server far away, so
    they overlap; every registry's pacing still holds."""
    rdap_cache_hours: float = 168.0
    """How long an RDAP network answers for every address inside it before it is asked again."""
    rdap_domain_cache_hours: float = 24.0
    """How long a domain's registration (registrar, abuse contact) is reused before its registry is
    asked again: a transfer shows in the next day's rounds."""
    asn_dns_zone: str = "asn.cymru.com"
    """IP-to-ASN DNS service (Team Cymru's format): origin AS and upstream networks."""
    cdn_catalogue: str | None = None
    """An extra CDN catalogue file, added to the shipped one."""
    notice_from: str = "Hotline <reports@hotline.invalid>"
    """The fixed sender of every notice, ``Name <address>``; abuse desks filter on it."""
    reporter_org: str = "Hotline"
    """The organisation named as reporter in the X-ARF reports."""
    notice_language: str = "en"
    """Language of notices when the contact book names none for the recipient."""
    csam_classification: str = "baseline"
    """X-ARF classification of a case when the analyst recorded none: baseline, A1, A2, B1 or B2."""
    templates_dir: str | None = None
    """Directory of notice templates replacing the shipped ``templates/`` (operators' own wording)."""
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    """From the environment only; never printed, logged or stored."""
    smtp_timeout: float = 60.0
    smtp_connections: int = 4
    """SMTP connections a delivery run sends over at once: the relay's answers overlap instead of
    following one another."""
    chase_policy: str | None = None
    """The chase policy file (TOML, see ``schedules/chase.toml``); the built-in defaults when unset."""
    smtp_ca_file: str | None = None
    """CA certificates to trust for STARTTLS besides the system's (an internal relay's own CA)."""
    frontier_lease: float = 3600.0
    """Seconds a crawler holds the cases it claimed from the shared frontier before they return to
    the queue; renewed while it works on them, so this is how long a dead crawler's cases wait."""
    provider_key: str | None = field(default=None, repr=False)
    """The secret that signs hosting providers' links (:mod:`takedown.provider_access`). From the
    environment only; never printed, logged, stored or given to a crawl."""
    sign_notices: bool = True
    """Sign every notice (S/MIME, :mod:`notices.signing`) with ``signing_key`` and
    ``signing_certificate``. While they are missing, unreadable or expired, no notice is composed:
    an unsigned notice is never sent. Off only by saying so (``TAKEDOWN_SIGN_NOTICES=0``)."""
    signing_key: str | None = None
    """The PEM file of the private key that signs notices."""
    signing_certificate: str | None = None
    """The PEM file of its certificate (for the address notices come from), then any intermediates."""
    signing_key_password: str | None = field(default=None, repr=False)
    """The signing key's passphrase, if it has one. From the environment only."""
    public_url: str | None = None
    """Where the web application is reached from outside (``https://hotline.example``): the base of
    the provider links in notices. Without it (or without ``provider_key``) notices carry no link."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        url = env.get("TAKEDOWN_DATABASE_URL") or sqlite_url(data_directory(env) / DEFAULT_DB_FILENAME)
        return cls(
            database_url=url,
            actor=env.get("TAKEDOWN_ACTOR") or default_actor(env),
            dns_server=env.get("TAKEDOWN_DNS_SERVER") or None,
            allowed_networks=tuple(
                n.strip() for n in env.get("TAKEDOWN_ALLOW_NETWORKS", "").split(",") if n.strip()
            ),
            fetch_timeout=_duration(env, "TAKEDOWN_FETCH_TIMEOUT", DEFAULTS.fetch_timeout, "s"),
            max_fetch_bytes=_number(env, "TAKEDOWN_MAX_FETCH_BYTES", DEFAULTS.max_fetch_bytes, int),
            perceptual_max_bytes=_number(
                env, "TAKEDOWN_PERCEPTUAL_MAX_BYTES", DEFAULTS.perceptual_max_bytes, int, zero_ok=True
            ),
            pdq_distance=_pdq_distance(env),
            user_agent=env.get("TAKEDOWN_USER_AGENT") or DEFAULTS.user_agent,
            concurrency=_number(env, "TAKEDOWN_CONCURRENCY", DEFAULTS.concurrency, int),
            concurrency_per_host=_number(
                env, "TAKEDOWN_CONCURRENCY_PER_HOST", DEFAULTS.concurrency_per_host, int
            ),
            delay_per_host=_duration(
                env, "TAKEDOWN_DELAY_PER_HOST", DEFAULTS.delay_per_host, "s", zero_ok=True
            ),
            retry_backoff=_duration(env, "TAKEDOWN_RETRY_BACKOFF", DEFAULTS.retry_backoff, "s", zero_ok=True),
            rdap_bootstrap=env.get("TAKEDOWN_RDAP_BOOTSTRAP") or None,
            rdap_timeout=_duration(env, "TAKEDOWN_RDAP_TIMEOUT", DEFAULTS.rdap_timeout, "s"),
            rdap_max_per_minute=_number(
                env, "TAKEDOWN_RDAP_MAX_PER_MINUTE", DEFAULTS.rdap_max_per_minute, int, zero_ok=True
            ),
            resolve_concurrency=_number(
                env, "TAKEDOWN_RESOLVE_CONCURRENCY", DEFAULTS.resolve_concurrency, int
            ),
            rdap_cache_hours=_duration(env, "TAKEDOWN_RDAP_CACHE_HOURS", DEFAULTS.rdap_cache_hours, "h"),
            rdap_domain_cache_hours=_duration(
                env, "TAKEDOWN_RDAP_DOMAIN_CACHE_HOURS", DEFAULTS.rdap_domain_cache_hours, "h"
            ),
            asn_dns_zone=(env.get("TAKEDOWN_ASN_DNS_ZONE") or DEFAULTS.asn_dns_zone).strip(".").lower(),
            cdn_catalogue=env.get("TAKEDOWN_CDN_CATALOGUE") or None,
            notice_from=env.get("TAKEDOWN_NOTICE_FROM") or DEFAULTS.notice_from,
            reporter_org=env.get("TAKEDOWN_REPORTER_ORG") or DEFAULTS.reporter_org,
            notice_language=(env.get("TAKEDOWN_NOTICE_LANGUAGE") or DEFAULTS.notice_language).lower(),
            csam_classification=_classification(env),
            templates_dir=env.get("TAKEDOWN_TEMPLATES") or None,
            smtp_host=env.get("TAKEDOWN_SMTP_HOST") or DEFAULTS.smtp_host,
            smtp_port=_number(env, "TAKEDOWN_SMTP_PORT", DEFAULTS.smtp_port, int),
            smtp_starttls=_flag(env, "TAKEDOWN_SMTP_STARTTLS"),
            smtp_username=env.get("TAKEDOWN_SMTP_USERNAME") or None,
            smtp_password=env.get("TAKEDOWN_SMTP_PASSWORD") or None,
            smtp_timeout=_duration(env, "TAKEDOWN_SMTP_TIMEOUT", DEFAULTS.smtp_timeout, "s"),
            smtp_connections=_number(env, "TAKEDOWN_SMTP_CONNECTIONS", DEFAULTS.smtp_connections, int),
            smtp_ca_file=env.get("TAKEDOWN_SMTP_CA_FILE") or None,
            chase_policy=env.get("TAKEDOWN_CHASE_POLICY") or None,
            frontier_lease=_duration(env, "TAKEDOWN_FRONTIER_LEASE", DEFAULTS.frontier_lease, "s"),
            provider_key=env.get("TAKEDOWN_PROVIDER_KEY") or None,
            public_url=_public_url(env),
            sign_notices=_flag(env, "TAKEDOWN_SIGN_NOTICES", default=DEFAULTS.sign_notices),
            signing_key=env.get("TAKEDOWN_SIGNING_KEY") or None,
            signing_certificate=env.get("TAKEDOWN_SIGNING_CERT") or None,
            signing_key_password=env.get("TAKEDOWN_SIGNING_KEY_PASSWORD") or None,
        )

    def environment(self, *, secrets: bool = True) -> dict[str, str]:
        """The environment ``from_env`` reads back as these settings: what a child process (a crawl
        the scheduler starts) is given so it sees exactly what its parent does. Unset options are
        left out; ``secrets=False`` leaves the secrets (:data:`SECRETS`) out too. A test holds every field to
        the round trip, so a new setting cannot be forgotten here."""
        env: dict[str, str] = {}
        for name, variable in ENVIRONMENT.items():
            value = getattr(self, name)
            if value is None or (name in SECRETS and not secrets):
                continue
            if isinstance(value, bool):
                env[variable] = "1" if value else "0"
            elif isinstance(value, tuple):
                env[variable] = ",".join(value)
            else:
                env[variable] = str(value)
        return env


SECRETS = frozenset({"smtp_password", "provider_key", "signing_key_password"})
"""Settings a child process that does not need them is never given."""

ENVIRONMENT = {
    "database_url": "TAKEDOWN_DATABASE_URL",
    "actor": "TAKEDOWN_ACTOR",
    "dns_server": "TAKEDOWN_DNS_SERVER",
    "allowed_networks": "TAKEDOWN_ALLOW_NETWORKS",
    "fetch_timeout": "TAKEDOWN_FETCH_TIMEOUT",
    "max_fetch_bytes": "TAKEDOWN_MAX_FETCH_BYTES",
    "perceptual_max_bytes": "TAKEDOWN_PERCEPTUAL_MAX_BYTES",
    "pdq_distance": "TAKEDOWN_PDQ_DISTANCE",
    "user_agent": "TAKEDOWN_USER_AGENT",
    "concurrency": "TAKEDOWN_CONCURRENCY",
    "concurrency_per_host": "TAKEDOWN_CONCURRENCY_PER_HOST",
    "delay_per_host": "TAKEDOWN_DELAY_PER_HOST",
    "retry_backoff": "TAKEDOWN_RETRY_BACKOFF",
    "rdap_bootstrap": "TAKEDOWN_RDAP_BOOTSTRAP",
    "rdap_timeout": "TAKEDOWN_RDAP_TIMEOUT",
    "rdap_max_per_minute": "TAKEDOWN_RDAP_MAX_PER_MINUTE",
    "resolve_concurrency": "TAKEDOWN_RESOLVE_CONCURRENCY",
    "rdap_cache_hours": "TAKEDOWN_RDAP_CACHE_HOURS",
    "rdap_domain_cache_hours": "TAKEDOWN_RDAP_DOMAIN_CACHE_HOURS",
    "asn_dns_zone": "TAKEDOWN_ASN_DNS_ZONE",
    "cdn_catalogue": "TAKEDOWN_CDN_CATALOGUE",
    "notice_from": "TAKEDOWN_NOTICE_FROM",
    "reporter_org": "TAKEDOWN_REPORTER_ORG",
    "notice_language": "TAKEDOWN_NOTICE_LANGUAGE",
    "csam_classification": "TAKEDOWN_CSAM_CLASSIFICATION",
    "templates_dir": "TAKEDOWN_TEMPLATES",
    "smtp_host": "TAKEDOWN_SMTP_HOST",
    "smtp_port": "TAKEDOWN_SMTP_PORT",
    "smtp_starttls": "TAKEDOWN_SMTP_STARTTLS",
    "smtp_username": "TAKEDOWN_SMTP_USERNAME",
    "smtp_password": "TAKEDOWN_SMTP_PASSWORD",
    "smtp_timeout": "TAKEDOWN_SMTP_TIMEOUT",
    "smtp_connections": "TAKEDOWN_SMTP_CONNECTIONS",
    "chase_policy": "TAKEDOWN_CHASE_POLICY",
    "smtp_ca_file": "TAKEDOWN_SMTP_CA_FILE",
    "frontier_lease": "TAKEDOWN_FRONTIER_LEASE",
    "provider_key": "TAKEDOWN_PROVIDER_KEY",
    "public_url": "TAKEDOWN_PUBLIC_URL",
    "sign_notices": "TAKEDOWN_SIGN_NOTICES",
    "signing_key": "TAKEDOWN_SIGNING_KEY",
    "signing_certificate": "TAKEDOWN_SIGNING_CERT",
    "signing_key_password": "TAKEDOWN_SIGNING_KEY_PASSWORD",
}
"""The environment variable of each setting."""

DEFAULTS = Settings(database_url="", actor="")
"""Every setting's default, declared once (on the class's fields): what ``from_env`` falls back on."""


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def default_actor(environ: Mapping[str, str]) -> str:
    """Who is acting, for the audit log: the login name, as ``analyst:<name>``."""
    name = environ.get("USER") or environ.get("LOGNAME") or environ.get("USERNAME") or "unknown"
    return f"analyst:{name}"


def _pdq_distance(environ: Mapping[str, str]) -> int:
    value = _number(environ, "TAKEDOWN_PDQ_DISTANCE", DEFAULTS.pdq_distance, int, zero_ok=True)
    if value > 64:
        raise ConfigurationError(
            f"TAKEDOWN_PDQ_DISTANCE={value}: past 64 of 256 bits unrelated images match; Meta advises 31"
        )
    return value


def _number(
    environ: Mapping[str, str], name: str, default: T, kind: Callable[[str], T], *, zero_ok: bool = False
) -> T:
    """The number in ``environ[name]``, or ``default`` when unset; a clear error when it is not one
    or is out of range (durations and counts are never negative; counts and timeouts never zero)."""
    text = environ.get(name)
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ConfigurationError(f"{name}={text!r} is not a number") from None
    if value < 0 or (value == 0 and not zero_ok):
        raise ConfigurationError(f"{name}={text!r} must be {'zero or more' if zero_ok else 'more than zero'}")
    return value


def _duration(
    environ: Mapping[str, str], name: str, default: float, unit: str, *, zero_ok: bool = False
) -> float:
    """A duration setting in ``unit`` (what a bare number means), written with any unit: ``90s``,
    ``2h``, ``7d``; the same clear error as any other setting when it is not one."""
    text = environ.get(name)
    if not text:
        return default
    return parse_duration(text, unit=unit, name=name, zero_ok=zero_ok) / timedelta(seconds=UNITS[unit])


def _classification(environ: Mapping[str, str]) -> str:
    text = environ.get("TAKEDOWN_CSAM_CLASSIFICATION") or DEFAULTS.csam_classification
    known = canonical_classification(text)
    if known is None:
        raise ConfigurationError(
            f"TAKEDOWN_CSAM_CLASSIFICATION={text!r}: expected one of {', '.join(CLASSIFICATIONS)}"
        )
    return known.value


def _public_url(environ: Mapping[str, str]) -> str | None:
    text = (environ.get("TAKEDOWN_PUBLIC_URL") or "").strip()
    if not text:
        return None
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigurationError(
            f"TAKEDOWN_PUBLIC_URL={text[:200]!r}: expected the web application's address, "
            "like https://hotline.example or https://hotline.example/takedown"
        )
    return text.rstrip("/")


def _flag(environ: Mapping[str, str], name: str, default: bool = False) -> bool:
    text = (environ.get(name) or "").strip().lower()
    if not text:
        return default
    if text in ("0", "no", "false", "off"):
        return False
    if text in ("1", "yes", "true", "on"):
        return True
    raise ConfigurationError(f"{name}={text!r}: expected 1 or 0 (yes/no, true/false, on/off)")
