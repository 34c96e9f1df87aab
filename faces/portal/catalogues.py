"""``python -m faces.portal.catalogues``: the portal's messages, and whether every language has them.

The messages are found where they are written: the ``_()`` calls of the portal's templates and
the ``N_()`` marks of :mod:`faces.portal.messages`. ``check`` (the default) lists, per language,
any message without a translation (or a fuzzy one) and any translation of a message no longer
used, and exits 1 if there is one; ``template`` writes ``locales/portal.pot``, for ``pybabel
update`` or a translator's tool.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.pofile import read_po, write_po

from faces.portal.app import PORTAL_TEMPLATES
from faces.portal.i18n import DOMAIN, LOCALES, catalogue_path
from takedown.portals import LANGUAGES

MESSAGES_MODULE = Path(__file__).resolve().parent / "messages.py"


def used_messages() -> dict[str, list[str]]:
    """Every message id the portal shows, with where it is written."""
    found: dict[str, list[str]] = {}
    for filename, _line, message, _comments, _context in extract_from_dir(
        str(PORTAL_TEMPLATES),
        method_map=[("*.html", "jinja2")],
        options_map={"*.html": {"extensions": "jinja2.ext.i18n", "trimmed": "false"}},
    ):
        if isinstance(message, str):
            found.setdefault(message, []).append(f"templates/portal/{filename}")
    for _line, message, _comments, _context in extract_from_file(
        "python", str(MESSAGES_MODULE), keywords={"N_": None}
    ):
        if isinstance(message, str):
            found.setdefault(message, []).append("faces/portal/messages.py")
    return found


def problems(language: str, used: dict[str, list[str]], path: Path | None = None) -> list[str]:
    """What is wrong with ``language``'s catalogue (or the one at ``path``): missing, fuzzy or
    stale translations, or placeholders lost."""
    with (path or catalogue_path(language)).open("rb") as po:
        catalogue = read_po(po, locale=language, domain=DOMAIN)
    found = []
    for message_id in used:
        entry = catalogue.get(message_id)
        if entry is None or not entry.string:
            found.append(f"{language}: no translation of {message_id!r}")
        elif entry.fuzzy:
            found.append(f"{language}: the translation of {message_id!r} is marked fuzzy")
        elif message_id.count("%(") != str(entry.string).count("%("):
            found.append(f"{language}: the translation of {message_id!r} does not keep its %(...)s")
    for entry in catalogue:
        if entry.id and entry.id not in used:
            found.append(f"{language}: {entry.id!r} is translated but no longer used")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m faces.portal.catalogues", description=__doc__.splitlines()[0]
    )
    parser.add_argument("action", nargs="?", choices=["check", "template"], default="check")
    args = parser.parse_args(argv)
    used = used_messages()
    if args.action == "template":
        template = Catalog(domain=DOMAIN, project="takedown portal")
        for message_id, where in sorted(used.items()):
            template.add(message_id, locations=[(path, 0) for path in where])
        with (LOCALES / f"{DOMAIN}.pot").open("wb") as out:
            write_po(out, template, omit_header=False, sort_output=True, include_lineno=False)
        print(f"{len(used)} messages written to {LOCALES / (DOMAIN + '.pot')}")
        return 0
    found = [problem for language in LANGUAGES if language != "en" for problem in problems(language, used)]
    for problem in found:
        print(problem)
    if not found:
        print(f"{len(used)} messages, translated in {', '.join(LANGUAGES)}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
