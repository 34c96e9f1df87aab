"""Hash lists: ``hashes import|list|remove|match``. A list's contents are never printed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from faces.cli.base import App, cli, errors_as_exit_codes, fail, json_option, print_json, write_lines
from faces.cli.cases import _count_lines, _progress
from takedown import exitcodes
from takedown.importer import ImportFormat
from takedown.plain import iso, plain


@cli.group()
def hashes() -> None:
    """Lists of fingerprints of confirmed imagery (MD5, SHA-1, SHA-256, PDQ) that revisits match.

    Lists are confidential: no command prints one, and a match names the list and the entry's
    reference, never the list's other contents."""


@hashes.command("import")
@click.argument("file", type=click.File("rb"))
@click.option(
    "--list", "name", required=True, help="The list's name (a new version replaces the one in use)."
)
@click.option("--version", help="The version's label [default: the time of import].")
@click.option(
    "--format",
    "file_format",
    type=click.Choice([ImportFormat.CSV.value, ImportFormat.JSONL.value]),
    help="csv (header naming any of md5,sha1,sha256,pdq,category,classification,reference) or jsonl "
    "[default: from the file name].",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@json_option
@click.pass_obj
def hashes_import(
    app: App, file: Any, name: str, version: str | None, file_format: str | None, quiet: bool, as_json: bool
) -> None:
    """Import FILE ('-' for stdin) as a new version of list NAME, which takes the place of the
    version in use in one step: a revisit sees the old list whole or the new one whole.

    A refused row is named by its line and field (never its value); the others go in.

    Exit status: 0 every row imported; 3 some refused; 65 none could be read (the version in use
    stays); 2 the file cannot be read."""
    from takedown.hash_list_import import import_hash_list, read_hash_rows
    from takedown.hash_list_versions import HashListError

    with errors_as_exit_codes():
        source = getattr(file, "name", "<stdin>")
        chosen = ImportFormat(file_format) if file_format else ImportFormat.guess(source)
        if chosen is ImportFormat.LINES:
            fail(
                "a hash list is CSV (with a header) or JSON Lines: pass --format csv or jsonl",
                exitcodes.USAGE,
            )
        total = _count_lines(source) if source != "<stdin>" else None
        show_progress = not quiet and sys.stderr.isatty()
        with app.bulk_transactions() as transaction, _progress(total, enabled=show_progress) as advance:
            try:
                summary = import_hash_list(
                    transaction,
                    read_hash_rows(file, chosen),
                    name=name,
                    version=version,
                    actor=app.settings.actor,
                    clock=app.clock,
                    on_progress=advance,
                )
            except HashListError as exc:
                fail(str(exc), exitcodes.DATA_ERROR)
    if as_json:
        print_json(plain(summary))
    else:
        replaced = f", replacing version {summary.replaced}" if summary.replaced else ""
        click.echo(
            f"list {summary.name} version {summary.version}: {summary.entries} entries{replaced}; "
            f"refused {summary.rejected}"
        )
        for error in summary.errors:
            click.echo(f"refused: {error}", err=True)
        if summary.rejected > len(summary.errors):
            click.echo(f"refused: ... and {summary.rejected - len(summary.errors)} more", err=True)
    if summary.rejected:
        sys.exit(exitcodes.PARTIAL)


@hashes.command("list")
@json_option
@click.pass_obj
def hashes_list(app: App, as_json: bool) -> None:
    """The lists kept: name, version, state and size (never their contents)."""
    from takedown.hash_list_views import list_hash_lists

    with errors_as_exit_codes(), app.sql_reads() as reads:
        lists = list_hash_lists(reads)
    if as_json:
        for view in lists:
            print_json(plain(view))
        return
    if not lists:
        click.echo("no hash lists; `takedown hashes import FILE --list NAME` adds one")
    for view in lists:
        state = "in use" if view.state == "active" else view.state
        click.echo(
            f"{view.name:<24} {view.version:<26} {state:<8} {view.entries:>10} entries"
            f"  imported {iso(view.imported_at)} by {view.imported_by}"
        )


@hashes.command("remove")
@click.argument("name")
@json_option
@click.pass_obj
def hashes_remove(app: App, name: str, as_json: bool) -> None:
    """Remove list NAME, every version of it. Exit status 4 when there is no such list."""
    from takedown.hash_list_versions import HashListError, remove_hash_list

    with errors_as_exit_codes():
        try:  # a step at a time, each through the database driver where it can
            removed = remove_hash_list(app.writing, name)
        except HashListError as exc:
            fail(str(exc), exitcodes.DATA_ERROR)
    if not removed:
        fail(f"there is no hash list {name!r}; `takedown hashes list` shows them", exitcodes.NOT_FOUND)
    if as_json:
        print_json({"removed": name.strip().lower(), "entries": removed})
    else:
        click.echo(f"removed list {name.strip().lower()} ({removed} entries)")


@hashes.command("match")
@click.argument("targets", nargs=-1, required=True)
@click.option(
    "--distance",
    type=click.IntRange(0, 256),
    default=31,
    show_default=True,
    help="For a PDQ hash: how many of its 256 bits may differ.",
)
@json_option
@click.pass_obj
def hashes_match(app: App, targets: tuple[str, ...], distance: int, as_json: bool) -> None:
    """What the lists in use hold for each TARGET: a file (its MD5, SHA-1 and SHA-256 are computed
    as it is read, and an image's PDQ hash in a worker process; nothing kept) or a digest (md5:,
    sha1:, sha256: or pdq:, or bare hexadecimal).

    Exit status: 0 every target matched; 1 some did not; 65 a target is neither a file nor a digest."""
    from takedown.hash_list_versions import HashListError
    from takedown.hash_matches import file_digests, match_digests, parse_digest

    with errors_as_exit_codes():
        asked: list[tuple[str, dict[str, str]]] = []
        for target in targets:
            path = Path(target)
            try:
                digests = (
                    {**file_digests(path), **_image_pdq(path)}
                    if path.is_file()
                    else dict([parse_digest(target)])
                )
            except HashListError as exc:
                fail(str(exc), exitcodes.DATA_ERROR)
            asked.append((target, digests))
        if any("pdq" in digests for _, digests in asked):  # by distance: the index of the lists in use
            from takedown.hash_lists import match_pdq

            with app.store.reading() as session:
                results = []
                for target, digests in asked:
                    found = match_digests(session, digests)
                    if "pdq" in digests:
                        found += match_pdq(session, digests["pdq"], max_distance=distance)
                    results.append((target, found))
        else:  # exact digests only: through the database driver where it can
            with app.sql_reads() as reads:
                results = [(target, match_digests(reads, digests)) for target, digests in asked]
    for target, found in results:
        if as_json:
            print_json({"target": target, "matches": plain(found)})
            continue
        if not found:
            click.echo(f"{target}: no match")
        for match in found:
            what = ", ".join(part for part in (match.category, match.classification) if part)
            apart = f", {match.distance} bits apart" if match.algorithm == "pdq" else ""
            click.echo(
                f"{target}: {match.algorithm} on list {match.list} ({match.version}),"
                f" entry {match.reference or '-'}{f' [{what}]' if what else ''}{apart}"
            )
    if any(not found for _, found in results):
        sys.exit(1)


@hashes.command("export")
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%SZ"]),
    help="A delta: what was confirmed since then (UTC), and what was withdrawn since then.",
)
@json_option
@click.pass_obj
def hashes_export(app: App, since: Any, as_json: bool) -> None:
    """The hotline's own feed for partners: digests (SHA-256, MD5, SHA-1) of the content its revisits
    found live at confirmed URLs, with category, classification and when first seen; CSV, or JSON
    Lines with --json. Withdrawn cases drop out (a delta lists them as `remove`)."""
    import csv
    from datetime import UTC

    from takedown.hash_export import EXPORT_COLUMNS, confirmed_fingerprints
    from takedown.plain import json_line

    with errors_as_exit_codes(), app.sql_reads() as reads:
        rows = confirmed_fingerprints(reads, since=since.replace(tzinfo=UTC) if since else None)
        if as_json:
            write_lines(json_line(plain(row)) for row in rows)
            return
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(EXPORT_COLUMNS)
        for row in rows:
            values = plain(row)
            writer.writerow(["" if values[c] is None else values[c] for c in EXPORT_COLUMNS])


def _image_pdq(path: Path) -> dict[str, str]:
    """The file's PDQ hash when it is an image whose hash is good enough to match."""
    from crawler.perceptual import PerceptualHasher, sniff_image

    with path.open("rb") as handle:
        if sniff_image(handle.read(16)) is None:
            return {}
    hasher = PerceptualHasher()
    try:
        hashed = hasher.hash(path.read_bytes())
    finally:
        hasher.close()
    if hashed.error:
        click.echo(f"{path}: no perceptual hash: {hashed.error}", err=True)
    return {"pdq": hashed.pdq} if hashed.matchable and hashed.pdq else {}
