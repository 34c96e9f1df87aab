"""How the console writes a reported URL: as text that no browser, mail client or chat program
turns into a link (``hxxps://host[.]example/path``). The console never links to, fetches, embeds
or previews a reported URL; this is what it shows instead."""

from __future__ import annotations

import re
from datetime import datetime

from takedown.plain import iso

_SCHEME = re.compile(r"(?i)\b(ht|f)tp(s?)://")
_URL_IN_TEXT = re.compile(r"(?i)\b(?:ht|f)tps?://[^\s<>\"'`]+")


def defang(url: str) -> str:
    """Every ``http://``, ``https://`` or ``ftp://`` in the text becomes ``hxxp://``, ``hxxps://``
    or ``fxp://`` (a redirect target in a query string too), and the dots of the URL's host become
    ``[.]``. Nothing that reaches a page or a clipboard from here opens anything."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return _SCHEME.sub(_defanged_scheme, url).replace(".", "[.]")
    host, slash, path = rest.partition("/")
    return _SCHEME.sub(_defanged_scheme, f"{scheme}://{host.replace('.', '[.]')}{slash}{path}")


def defang_text(text: str) -> str:
    """Every URL in a longer text (a notice's body, an X-ARF report) defanged as :func:`defang`
    does, the rest of the text untouched: a notice is shown as sent, but never with a live URL."""
    return _URL_IN_TEXT.sub(lambda match: defang(match.group(0)), text)


def _defanged_scheme(match: re.Match[str]) -> str:
    first = match.group(1)
    secure = match.group(2)
    return ("hxxp" if first.lower() == "ht" else "fxp") + secure.lower() + "://"


def when(value: datetime | None) -> str:
    """A time as ISO 8601 UTC, or a dash."""
    return iso(value) or "-"
