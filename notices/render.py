"""Rendering notices from the Jinja2 templates in ``templates/notices/<language>/``.

The environment is Jinja2's sandbox (operators edit these templates), with ``StrictUndefined`` so a
misspelt variable fails loudly instead of leaving a gap in a legal notice, and autoescaping for the
HTML part. Reported URLs are data passed to the templates, never template source: a URL containing
``{{ ... }}`` is printed as written.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    TemplateNotFound,
    TemplateSyntaxError,
    UndefinedError,
    select_autoescape,
)
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from takedown.errors import ConfigurationError
from takedown.vocabulary import NoticeLevel, Role

_MARKER = ("notices", "en", "initial.txt.j2")


def _shipped_templates() -> Path:
    """The templates/ directory: beside the packages in a checkout (and an editable install), or
    where an installed wheel put it as data (``share/takedown/templates`` under its prefix)."""
    checkout = Path(__file__).resolve().parent.parent / "templates"
    if checkout.joinpath(*_MARKER).is_file():
        return checkout
    try:
        files = importlib.metadata.distribution("takedown").files or []
    except importlib.metadata.PackageNotFoundError:
        return checkout
    for file in files:
        if file.parts[-3:] == _MARKER and "templates" in file.parts:
            return Path(str(file.locate())).resolve().parents[2]
    return checkout


SHIPPED_TEMPLATES = _shipped_templates()
LEVELS = tuple(NoticeLevel)
DEFAULT_LANGUAGE = "en"

VOCABULARY: dict[str, dict[str, dict[str, str]]] = {  # keyed by Role and NoticeLevel (StrEnums)
    "en": {
        "role_phrase": {
            Role.HOSTING: "the hosting provider",
            Role.CDN: "the content delivery network (CDN) serving it",
            Role.SITE: "the operator of the site",
            Role.REGISTRAR: "the domain's registrar",
            Role.UPSTREAM: "an upstream network provider of the host",
            Role.REDIRECTOR: "the host of a redirect that sends visitors to it",
        },
        "role_name": {
            Role.HOSTING: "hosting provider",
            Role.CDN: "CDN",
            Role.SITE: "site operator",
            Role.REGISTRAR: "registrar",
            Role.UPSTREAM: "upstream provider",
            Role.REDIRECTOR: "host of the redirect",
        },
        "level": {
            NoticeLevel.INITIAL: "notice",
            NoticeLevel.REMINDER: "reminder",
            NoticeLevel.ESCALATION: "escalation",
        },
    },
    "de": {
        "role_phrase": {
            Role.HOSTING: "Hosting-Anbieter",
            Role.CDN: "Content-Delivery-Netzwerk (CDN)",
            Role.SITE: "Betreiber der Website",
            Role.REGISTRAR: "Registrar der Domain",
            Role.UPSTREAM: "vorgelagerter Netzbetreiber (Upstream) des Hosters",
            Role.REDIRECTOR: "Hoster einer Weiterleitung, die Besucher dorthin führt",
        },
        "role_name": {
            Role.HOSTING: "Hosting-Anbieter",
            Role.CDN: "CDN",
            Role.SITE: "Website-Betreiber",
            Role.REGISTRAR: "Registrar",
            Role.UPSTREAM: "Upstream-Anbieter",
            Role.REDIRECTOR: "Hoster der Weiterleitung",
        },
        "level": {
            NoticeLevel.INITIAL: "Meldung",
            NoticeLevel.REMINDER: "Erinnerung",
            NoticeLevel.ESCALATION: "Eskalation",
        },
    },
}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    language: str


class NoticeRenderer:
    def __init__(self, directory: str | Path | None = None) -> None:
        root = Path(directory).expanduser() if directory else SHIPPED_TEMPLATES
        if not (root / "notices").is_dir():
            raise ConfigurationError(f"TAKEDOWN_TEMPLATES: {root} has no notices/ directory of templates")
        self.root = root
        self.env = SandboxedEnvironment(
            loader=FileSystemLoader(str(root)),
            undefined=StrictUndefined,
            autoescape=select_autoescape(
                enabled_extensions=("html.j2", "html"), default_for_string=False, default=False
            ),
            keep_trailing_newline=False,
            trim_blocks=False,
        )

    def languages(self) -> list[str]:
        return sorted(p.name for p in (self.root / "notices").iterdir() if p.is_dir())

    def render(self, *, level: str, language: str | None, context: dict[str, Any]) -> Rendered:
        """Subject, text and HTML for ``level`` in ``language`` (English when that is not shipped)."""
        if level not in LEVELS:
            raise ValueError(f"notice level must be one of {', '.join(LEVELS)}, not {level!r}")
        chosen = _language(language, self.languages())
        words = VOCABULARY.get(chosen, VOCABULARY[DEFAULT_LANGUAGE])
        role = str(context.get("role", "hosting"))
        full = {
            **context,
            "level": level,
            "language": chosen,
            "role_phrase": words["role_phrase"].get(role, role),
            "role_name": words["role_name"].get(role, role),
            "cases": [_localised_case(case, words) for case in context.get("cases", [])],
        }
        try:
            subject = " ".join(self._get(chosen, "subject.txt.j2").render(full).split())
            text = self._get(chosen, f"{level}.txt.j2").render(full).strip() + "\n"
            html = self._get(chosen, f"{level}.html.j2").render({**full, "subject": subject})
        except TemplateNotFound as exc:
            raise ConfigurationError(f"notice template missing: {exc.name} (in {self.root})") from None
        except SecurityError as exc:
            raise ConfigurationError(
                f"a notice template in {self.root} tried something unsafe: {exc}"
            ) from None
        except UndefinedError as exc:
            raise ConfigurationError(
                f"a notice template in {self.root} uses a variable notices do not have: {exc} "
                "(see templates/README.md for the variables)"
            ) from None
        except TemplateSyntaxError as exc:
            raise ConfigurationError(
                f"notice template {exc.name or exc.filename}, line {exc.lineno}: {exc.message}"
            ) from None
        return Rendered(subject, text, html, chosen)

    def _get(self, language: str, name: str) -> Any:
        return self.env.get_template(f"notices/{language}/{name}")


def _language(wanted: str | None, available: list[str]) -> str:
    for candidate in (wanted, (wanted or "").split("-")[0], DEFAULT_LANGUAGE):
        if candidate and candidate.lower() in available:
            return candidate.lower()
    raise ConfigurationError(f"no notice templates for {wanted!r} nor for {DEFAULT_LANGUAGE!r}")


def _localised_case(case: dict[str, Any], words: dict[str, dict[str, str]]) -> dict[str, Any]:
    history = [
        {
            **sent,
            "level": words["level"].get(str(sent.get("level")), sent.get("level")),
            "role": words["role_name"].get(str(sent.get("role")), sent.get("role")),
        }
        for sent in case.get("history", [])
    ]
    return {**case, "history": history}
