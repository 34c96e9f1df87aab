"""Reading reported URLs: validation and the key that stops one URL being chased twice.

Reported URLs are hostile input. Validation is strict and every refusal names the field and says
what to do; a refused row never stops the rows around it. The URL is kept exactly as reported
(less surrounding white space): it is what gets fetched and what appears in notices. Its canonical
form, plus a port that is not the default, is the key that stops one URL being chased twice.

Nothing here touches the store: the analysts' import, the reporting portals and ``url canonicalize``
validate with it before (or without) opening a case (:mod:`takedown.intake`).
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import SplitResult, urlsplit

from takedown.canonical import HOSTS_REMEMBERED, CanonicalizationError, CanonicalUrl, canonical_parts
from takedown.classification import CLASSIFICATIONS, canonical_classification
from takedown.errors import InvalidReport
from takedown.hosts import InvalidHost, ends_in_a_number, parse_ipv4

MAX_URL_LENGTH = 8192
"""Longer than common servers accept in a request line (8 KiB), so nothing fetchable is refused."""
MAX_REFERENCE_LENGTH = 200

CATEGORIES: dict[str, str] = {
    "csam": "child sexual abuse material",
    "csam-nonphoto": "non-photographic child sexual abuse imagery (drawn or computer-generated)",
    "other": "other content confirmed illegal by an analyst",
}
DEFAULT_CATEGORY = "csam"

_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")
_CONTROL_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
_HEX = re.compile(r"\A[0-9a-fA-F]+\Z")
_HOST_LABEL = re.compile(r"\A[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\Z")
_DIGEST_LENGTHS = {"sha256": 64, "md5": 32}


@dataclass(frozen=True, slots=True)
class Report:
    """What an analyst hands in for one URL, before validation."""

    url: str
    category: str = DEFAULT_CATEGORY
    reference: str | None = None
    sha256: tuple[str, ...] = ()
    md5: tuple[str, ...] = ()
    classification: str | None = None
    """The analyst's grading for X-ARF: baseline, A1, A2, B1 or B2 (Interpol/ICCAM categories)."""


@dataclass(frozen=True, slots=True)
class ValidReport:
    """A report that passed validation, with its canonical form worked out."""

    url: str
    canonical: CanonicalUrl
    host: str
    category: str
    reference: str | None
    fingerprints: tuple[tuple[str, str], ...]
    dedup_hash: str
    classification: str | None = None


class QueueOutcome(StrEnum):
    QUEUED = "queued"
    """A new case was opened."""
    ALREADY_OPEN = "already_open"
    """An open case has this URL already; nothing was changed."""
    REOPENED = "reopened"
    """A closed case had this URL: the content came back, so a new case links to the old one."""


@dataclass(frozen=True, slots=True)
class QueueResult:
    outcome: QueueOutcome
    case_id: int
    url: str
    previous_case_id: int | None = None

    def describe(self) -> str:
        if self.outcome is QueueOutcome.QUEUED:
            return f"queued as case {self.case_id}"
        if self.outcome is QueueOutcome.ALREADY_OPEN:
            return f"already open as case {self.case_id}; nothing changed"
        return f"reopened as case {self.case_id}: content came back after case {self.previous_case_id} closed"


def dedup_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def validate_report(report: Report) -> ValidReport:
    """Check every field of ``report``; raise :class:`InvalidReport` naming the first bad one."""
    _refuse_surrogates(report)
    url, parts = _checked_url(report.url)
    try:
        canonical = canonical_parts(url)
    except CanonicalizationError as exc:
        raise InvalidReport("url", str(exc)) from None
    return ValidReport(
        url=url,
        canonical=canonical,
        host=_validated_host(parts.hostname or "", canonical.host),
        category=validate_category(report.category),
        reference=validate_reference(report.reference),
        fingerprints=tuple(
            [("sha256", digest) for digest in validate_digests("sha256", report.sha256)]
            + [("md5", digest) for digest in validate_digests("md5", report.md5)]
        ),
        dedup_hash=dedup_hash(canonical.dedup_key),
        classification=validate_classification(report.classification),
    )


_SURROGATE = re.compile("[\ud800-\udfff]")


def _refuse_surrogates(report: Report) -> None:
    """Text that is not Unicode: bytes that were not UTF-8 (a shell argument, a file, decoded with
    ``surrogateescape``) or a ``\\udcff`` escape in JSON. No store or mailbox can hold it. Text in
    ASCII holds none, and is most of what comes in: only the rest is searched (searching every field
    was 6% of the time an import's reading process took)."""
    for name in _TEXT_FIELDS:
        value = getattr(report, name)
        if isinstance(value, tuple | list):
            value = " ".join(value)
        if isinstance(value, str) and not value.isascii() and (found := _SURROGATE.search(value)):
            raise InvalidReport(
                name, f"is not valid text: it holds {found.group()!a} (invalid UTF-8 or a lone surrogate)"
            )


_TEXT_FIELDS = ("url", "category", "reference", "classification", "sha256", "md5")


def validate_url(raw: str) -> str:
    """Return the URL as reported (trimmed) if it can be fetched and notified safely."""
    return _checked_url(raw)[0]


def _checked_url(raw: str) -> tuple[str, SplitResult]:
    if not isinstance(raw, str):
        raise InvalidReport("url", f"expected text, got {type(raw).__name__}")
    url = raw.strip()
    if not url:
        raise InvalidReport("url", "is empty")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidReport("url", f"is {len(url)} characters long; the limit is {MAX_URL_LENGTH}")
    _refuse_control_characters(url)
    scheme, sep, _ = url.partition("://")
    if not sep or not _SCHEME.fullmatch(scheme):
        raise InvalidReport("url", "has no scheme; write it in full, like https://example.com/path")
    if scheme.lower() not in ("http", "https"):
        raise InvalidReport("url", f"scheme '{scheme}' is not allowed; only http and https are revisited")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidReport("url", f"cannot be parsed ({exc})") from None
    if "@" in parts.netloc:
        raise InvalidReport(
            "url", "contains credentials (user:password@); remove them, they must never reach a notice"
        )
    if port == 0:
        raise InvalidReport("url", "port 0 cannot be connected to")
    if not parts.hostname:
        raise InvalidReport("url", "has no host")
    return url, parts


def _refuse_control_characters(url: str) -> None:
    """Refuse C0/C1 controls, DEL, and invisible format characters (bidi overrides, zero widths).

    They have no place in a URL, and in a notice they could forge headers or hide what a URL is.
    """
    position = _first_control_character(url)
    if position >= 0:
        raise InvalidReport(
            "url", f"contains the control character U+{ord(url[position]):04X} at position {position + 1}"
        )


def _first_control_character(text: str) -> int:
    """Index of the first control or invisible format character in ``text``, or -1."""
    if text.isascii():
        match = _ASCII_CONTROL.search(text)
        return match.start() if match else -1
    return next(
        (index for index, char in enumerate(text) if unicodedata.category(char) in _CONTROL_CATEGORIES), -1
    )


@functools.lru_cache(maxsize=HOSTS_REMEMBERED)
def _validated_host(hostname: str, host: str) -> str:
    """The host in ASCII: punycode for a name, dotted decimal for an IPv4 address in any notation.

    Checked on the host as written, so a name DNS cannot hold is refused here rather than failing
    at every revisit; the value returned is ``host``, the canonical host, the one that will be
    resolved. Remembered, like the canonical host: many URLs share a host.
    """
    if "%" in hostname:
        raise InvalidReport("url", f"host '{hostname}' is percent-escaped; write the host itself")
    if ":" in hostname:
        try:
            return str(ipaddress.IPv6Address(hostname))
        except ValueError:
            raise InvalidReport("url", f"host '{hostname}' is not a valid IPv6 address") from None
    if ".." in hostname or hostname.startswith("."):
        raise InvalidReport("url", f"host '{hostname}' has an empty label (two dots in a row)")
    if ends_in_a_number(hostname):
        try:
            return parse_ipv4(hostname)  # what a browser connects to (WHATWG), never a DNS name
        except InvalidHost as exc:
            raise InvalidReport("url", f"{exc}: no browser can open it") from None
    if len(host) > 253:
        raise InvalidReport("url", f"host is {len(host)} characters long; DNS allows 253")
    for label in host.split("."):
        if not _HOST_LABEL.match(label):
            raise InvalidReport("url", f"host '{hostname}' is not a valid host name (label '{label}')")
    return host


def validate_category(category: str | None) -> str:
    value = (category or DEFAULT_CATEGORY).strip().lower()
    if value not in CATEGORIES:
        raise InvalidReport("category", f"'{category}' is not one of: {', '.join(CATEGORIES)}")
    return value


def validate_classification(classification: str | None) -> str | None:
    if classification is None or not classification.strip():
        return None
    known = canonical_classification(classification)
    if known is None:
        raise InvalidReport(
            "classification", f"{classification.strip()!r} is not one of {', '.join(CLASSIFICATIONS)}"
        )
    return known.value


def validate_reference(reference: str | None) -> str | None:
    if reference is None:
        return None
    value = reference.strip()
    if not value:
        return None
    if len(value) > MAX_REFERENCE_LENGTH:
        raise InvalidReport(
            "reference", f"is {len(value)} characters long; the limit is {MAX_REFERENCE_LENGTH}"
        )
    if _first_control_character(value) >= 0:
        raise InvalidReport("reference", "contains a control character")
    return value


def validate_digests(algorithm: str, digests: Iterable[str]) -> list[str]:
    length = _DIGEST_LENGTHS[algorithm]
    seen: list[str] = []
    for digest in digests:
        value = digest.strip().lower()
        if len(value) != length or not _HEX.match(value):
            raise InvalidReport(
                algorithm, f"'{digest}' is not a {algorithm} digest ({length} hexadecimal digits)"
            )
        if value not in seen:
            seen.append(value)
    return seen
