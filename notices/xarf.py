"""X-ARF v4 ``content``/``csam`` reports: one per URL, attached to every notice.

Abuse desks feed these to their ticketing systems, so each is checked with the ``xarf`` package's
strict validation before it is attached; a report that fails is a bug here, and the notice is not
composed rather than sent with a broken report.

Strict validation demands every field the schema *recommends*, including two that do not apply to
most hotline reports: ``target_brand`` (an impersonated brand) and ``ncmec_report_id`` (a US
CyberTipline number). They are sent as the empty string, which consumers read as "none", instead
of leaving the report invalid or inventing a value.

The evidence item is the revisit check that found the content live (time, status, address, the
body's digests), as JSON: never the content.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import xarf

from takedown.classification import CLASSIFICATIONS
from takedown.errors import TakedownError
from takedown.plain import iso

MEDIA_TYPES = {"image": "image", "video": "video", "audio": "audio", "text": "text"}
"""X-ARF's csam ``media_type`` for a MIME top-level type; anything else (an HTML gallery page, an
archive, no type at all) is ``mixed``."""


def media_type_for(content_type: str | None) -> str:
    """``image/png; q=1`` -> ``image``: what the check that found the URL live was served as."""
    top = (content_type or "").split(";", 1)[0].strip().lower().partition("/")[0]
    return MEDIA_TYPES.get(top, "mixed")


class InvalidXarfReport(TakedownError):
    """A report failed the X-ARF schema; the message lists every error."""


@dataclass(frozen=True)
class ReportFacts:
    """What a report says about one case; filled from the store, validated here."""

    case_id: int
    url: str
    address: str | None
    verified_at: datetime
    classification: str
    sha256: str | None = None
    md5: str | None = None
    media_type: str | None = None
    registrar: str | None = None
    hosting_provider: str | None = None
    asn: int | None = None
    country: str | None = None
    check: dict[str, Any] | None = None
    """The revisit check that found it live: its JSON is the report's evidence."""
    known_to_lists: bool = False
    """The content matches a recognised hash list (the report says so, never which list or entry)."""


XARF_MEDIA_TYPES = frozenset({*MEDIA_TYPES.values(), "mixed"})
_HEX = re.compile(r"[0-9a-fA-F]+")


def build_report(
    facts: ReportFacts, *, reporter_org: str, reporter_email: str, now: datetime
) -> dict[str, Any]:
    """The case's X-ARF report. Valid by construction: a fact outside what the schema takes (a
    classification from before intake checked them, a malformed digest) is refused here with
    :class:`InvalidXarfReport`, and ``tests/test_xarf_validation.py`` holds every report this
    returns, from any facts, to the strict schema."""
    _check_facts(facts)
    parts = urlsplit(facts.url)
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    domain = reporter_email.rpartition("@")[2].lower()
    contact = {"org": reporter_org[:200], "contact": reporter_email, "domain": domain}
    evidence = json.dumps(facts.check or {}, sort_keys=True, default=str).encode()
    report: dict[str, Any] = {
        "xarf_version": xarf.SPEC_VERSION,
        "report_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"takedown:{facts.case_id}:{now.isoformat()}")),
        "timestamp": iso(now),
        "reporter": contact,
        "sender": contact,
        "source_identifier": facts.address or host,
        "source_port": port,
        "category": "content",
        "type": "csam",
        "url": facts.url,
        "classification": facts.classification,
        "detection_method": "manual_review",
        "media_type": facts.media_type or media_type_for(None),
        "hash_values": {k: v for k, v in (("sha256", facts.sha256), ("md5", facts.md5)) if v},
        "ncmec_report_id": "",
        "content_removed": False,
        "target_brand": "",
        "verified_at": iso(facts.verified_at),
        "verification_method": "automated_crawler",
        "evidence_source": "crawler",
        "confidence": 1.0,
        "description": "Confirmed by a hotline analyst as child sexual abuse material; live when revisited"
        + ("; it matches a recognised hash list of known imagery." if facts.known_to_lists else "."),
        "evidence": [
            {
                "content_type": "application/json",
                "description": "The revisit that found the URL live: status, address, digests; no content",
                "payload": base64.b64encode(evidence).decode("ascii"),
                "hash": "sha256:" + hashlib.sha256(evidence).hexdigest(),
                "size": len(evidence),
            }
        ],
    }
    if _expressible_domain(host):
        report["domain"] = host
    if facts.registrar:
        report["registrar"] = facts.registrar[:200]
    if facts.hosting_provider:
        report["hosting_provider"] = facts.hosting_provider[:200]
    if facts.asn:
        report["asn"] = facts.asn
    if facts.country and len(facts.country) == 2 and facts.country.isascii() and facts.country.isalpha():
        report["country_code"] = facts.country.upper()
    return report


def _check_facts(facts: ReportFacts) -> None:
    problems = []
    if facts.classification not in CLASSIFICATIONS:
        problems.append(f"classification {facts.classification!r} is not one of {', '.join(CLASSIFICATIONS)}")
    for name, digest, length in (("sha256", facts.sha256, 64), ("md5", facts.md5, 32)):
        if digest is not None and (len(digest) != length or not _HEX.fullmatch(digest)):
            problems.append(f"{name} {digest[:80]!r} is not {length} hexadecimal digits")
    if facts.media_type is not None and facts.media_type not in XARF_MEDIA_TYPES:
        problems.append(
            f"media type {facts.media_type[:40]!r} is not one of {', '.join(sorted(XARF_MEDIA_TYPES))}"
        )
    parts = urlsplit(facts.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problems.append("the URL is not an http(s) URL with a host")
    if problems:
        raise InvalidXarfReport(
            f"X-ARF report for {facts.url[:300]!r} cannot be built: {'; '.join(problems)}"
        )


def validate(report: dict[str, Any]) -> None:
    """Raise :class:`InvalidXarfReport` unless ``report`` passes the X-ARF v4 schema, strictly.

    One exception: a URL whose host is an IP address, or a name X-ARF's ``domain`` pattern cannot
    express (an internationalised name in punycode, ``xn--``), has no ``domain`` to give, which strict
    validation requires; such a report must pass everything else.
    """
    problems = _csam_problems(report)
    host = urlsplit(str(report.get("url", ""))).hostname or ""
    if problems and "domain" not in report and not _expressible_domain(host):
        problems = [p for p in problems if "'domain' is a required property" not in p]
    if problems:
        raise InvalidXarfReport(
            f"X-ARF report for {report.get('url')!r} is invalid: {'; '.join(problems)}"[:2000]
        )


def _csam_problems(report: dict[str, Any]) -> list[str]:
    """The strict master schema's verdict on a ``content``/``csam`` report, at a third of its cost.

    The master schema is the core schema, the list of known category/type pairs, and one
    ``if category/type then <type schema>`` branch per type: every report is tried against all
    32 branches. This checks the same schema with only the branches whose condition a csam report
    meets (and the report held to that category and type), through the ``xarf`` package's own strict
    registry. ``tests/test_xarf_validation.py`` holds it to :func:`_problems` (the package's strict
    parse) on generated valid and broken reports; anything else is validated the long way."""
    if report.get("category") != "content" or report.get("type") != "csam":
        return _problems(report, strict=True)
    validator = _csam_validator()
    if validator is None:
        return _problems(report, strict=True)
    seen: list[str] = []
    for error in validator.iter_errors(report):
        text = f"{'.'.join(str(part) for part in error.absolute_path) or '(report)'}: {error.message}"
        if text not in seen:
            seen.append(text)
    return seen or _model_problems(report)


def _model_problems(report: dict[str, Any]) -> list[str]:
    """What the package's csam model refuses of a report its schema accepts. Its strict parse
    builds the model after the schema and answers "not an X-ARF report" when that fails (the
    schema lets ``hash_values`` map a name to anything; the model wants text), so a report a
    receiver using the package could not read is refused here too, saying why."""
    from pydantic import ValidationError
    from xarf.types_content import CsamReport

    try:
        CsamReport.model_validate(report)
    except ValidationError as exc:
        return [
            f"{'.'.join(str(part) for part in error['loc']) or '(report)'}: {error['msg']}"
            for error in exc.errors()
        ]
    return []


@functools.cache
def _csam_validator() -> Any:
    """The strict master schema with only the branches that apply to a csam report; ``None`` when
    the ``xarf`` package no longer exposes what this is built from (then validate the long way)."""
    from xarf.schema_validator import schema_validator

    try:
        schema_validator._ensure_schemas_loaded()
        strict: Any = schema_validator._strict_validator
        master = strict.schema
        probe = {"category": "content", "type": "csam"}
        kept = [
            branch
            for branch in master["allOf"]
            if "if" not in branch or strict.evolve(schema=branch["if"]).is_valid(probe)
        ]
        narrow = {
            **master,
            "allOf": [*kept, {"properties": {"category": {"const": "content"}, "type": {"const": "csam"}}}],
        }
        return strict.evolve(schema=narrow)
    except (AttributeError, KeyError, TypeError):
        return None


def _problems(report: dict[str, Any], *, strict: bool) -> list[str]:
    result = xarf.parse(report, strict=strict)
    problems = [f"{e.field or '(report)'}: {e.message}" for e in result.errors]
    if result.report is None and not problems:
        problems.append("(report): not an X-ARF report")
    return problems


_XARF_DOMAIN = re.compile(r"([a-z0-9]+(-[a-z0-9]+)*\.)+[a-z]{2,}")
"""X-ARF's ``domain`` pattern: ASCII labels with single hyphens, so no punycode (``xn--``) name,
whether the label or the top-level domain is internationalised. ``tests/test_xarf_validation.py``
holds it to the schema's own verdict."""


def _expressible_domain(host: str) -> bool:
    """Whether X-ARF's ``domain`` can carry ``host`` (not an IP address; a name its pattern allows)."""
    return bool(host) and not _is_ip(host) and _XARF_DOMAIN.fullmatch(host) is not None


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
