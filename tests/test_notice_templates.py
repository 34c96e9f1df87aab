"""Notice templates: every level and language renders; operators' templates are sandboxed and strict."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from notices.render import LEVELS, SHIPPED_TEMPLATES, VOCABULARY, NoticeRenderer
from takedown.errors import ConfigurationError
from takedown.vocabulary import Role


def context(**extra: Any) -> dict[str, Any]:
    case = {
        "url": "http://host.test/a.jpg",
        "reference": "HL-1",
        "confirmed_at": "2026-03-02T09:00:00Z",
        "last_seen_live_at": "2026-03-03T09:00:00Z",
        "address": "127.0.0.2",
        "http_status": 200,
        "history": [{"level": "initial", "role": "hosting", "sent_at": "2026-03-02T10:00:00Z"}],
        "served_at": "http://files.test/a.jpg",
        "redirects": [{"from": "http://host.test/a.jpg", "to": "http://files.test/a.jpg"}],
        "known_to_lists": False,
    }
    return {
        "party": "Alpha Hosting",
        "role": "hosting",
        "reference": "TD-1",
        "hosts": ["host.test"],
        "identification": "address 127.0.0.2",
        "sender_org": "Hotline",
        "sender_email": "reports@hotline.test",
        "cases": [case],
        "provider_link": None,
        "provider_link_expires": None,
        **extra,
    }


@pytest.mark.parametrize("language", sorted(VOCABULARY))
@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("role", list(Role))
def test_every_level_language_and_role_renders(level: str, language: str, role: str) -> None:
    rendered = NoticeRenderer().render(level=level, language=language, context=context(role=role))
    assert rendered.language == language
    # the recipient is told, in its language, what it was identified as (a word for every role)
    assert VOCABULARY[language]["role_name"][role] in rendered.text
    assert rendered.subject.startswith("[TD-1] ") and "\n" not in rendered.subject
    assert "http://host.test/a.jpg" in rendered.text and "http://host.test/a.jpg" in rendered.html
    assert "TD-1" in rendered.text
    # the redirect that led to the content is named, in text and HTML
    assert "http://host.test/a.jpg -> http://files.test/a.jpg" in rendered.text
    assert "<code>http://files.test/a.jpg</code>" in rendered.html


def test_an_unknown_language_falls_back_to_english() -> None:
    assert NoticeRenderer().render(level="initial", language="pt-BR", context=context()).language == "en"


def operator_templates(tmp_path: Path, initial_text: str) -> Path:
    root = tmp_path / "mine"
    shutil.copytree(SHIPPED_TEMPLATES, root)
    (root / "notices" / "en" / "initial.txt.j2").write_text(initial_text, encoding="utf-8")
    return root


def test_operators_own_templates_are_used(tmp_path: Path) -> None:
    root = operator_templates(tmp_path, "Please remove {{ cases|length }} item(s). Ref {{ reference }}")
    rendered = NoticeRenderer(root).render(level="initial", language="en", context=context())
    assert rendered.text == "Please remove 1 item(s). Ref TD-1\n"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ cases[0].body }}", "uses a variable notices do not have"),
        ("{{ ''.__class__.__mro__[1].__subclasses__() }}", "tried something unsafe"),
        ("{% if %}", "line 1"),
    ],
)
def test_operator_template_mistakes_are_clear_errors(tmp_path: Path, source: str, message: str) -> None:
    renderer = NoticeRenderer(operator_templates(tmp_path, source))
    with pytest.raises(ConfigurationError, match=message):
        renderer.render(level="initial", language="en", context=context())


def test_a_directory_without_notice_templates_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="has no notices/ directory"):
        NoticeRenderer(tmp_path)
