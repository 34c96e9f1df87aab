"""Hash lists: imported with per-row errors, replaced atomically, looked up exactly, never shown.

The digests here are made up (SHA-256 of short labels), standing for entries of a real list."""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from faces.cli import App, cli
from takedown import exitcodes
from takedown.clock import ManualClock
from takedown.direct_writes import DirectTransactions
from takedown.hash_list_import import (
    DIGEST_LENGTHS,
    HashRow,
    ReadHashRow,
    _Refused,
    check_hash_row,
    import_hash_list,
    read_hash_rows,
)
from takedown.hash_list_versions import HashListError, Transaction, remove_hash_list
from takedown.hash_list_views import list_hash_lists
from takedown.hash_matches import HashMatch, match_digests, parse_digest
from takedown.importer import ImportFormat
from takedown.settings import Settings
from takedown.store import Store
from tests.conftest import printed_both_ways


def digest(label: str, algorithm: str = "sha256") -> str:
    return hashlib.new(algorithm, label.encode()).hexdigest()


def csv_rows(text: str) -> Iterator[ReadHashRow]:
    return read_hash_rows(io.BytesIO(text.encode()), ImportFormat.CSV)


@pytest.fixture(params=["session", "driver"])
def loading(request: pytest.FixtureRequest, store: Store) -> Iterator[Transaction]:
    """Both ways an import opens its transactions: sessions of the store (the demo, the console's
    tests) and one connection through the database driver (``takedown hashes import``)."""
    if request.param == "session":
        yield store.session
        return
    transactions = DirectTransactions.open(store.engine.url.render_as_string(False), cache_mib=16)
    assert transactions is not None, "the driver should handle this store"
    try:
        yield transactions.transaction
    finally:
        transactions.close()


def matches(store: Store, **digests: str) -> list[tuple[str, str | None]]:
    with store.session() as session:
        return [(m.list, m.reference) for m in match_digests(session, digests)]


def test_a_list_file_goes_in_with_each_bad_row_named_and_never_echoed(
    store: Store, loading: Transaction, clock: ManualClock
) -> None:
    secret_looking = "f" * 63  # one digit short: its value must not appear in any message
    text = (
        "sha256,md5,category,classification,reference\n"
        f"{digest('one').upper()},,csam,a1,IWF-1\n"
        f"{secret_looking},,csam,,IWF-2\n"
        f",{digest('three', 'md5')},csam,B2,IWF-3\n"
        ",,csam,,IWF-4\n"
        f"{digest('five')},,poetry,,IWF-5\n"
        f"{digest('six')},,csam,Z9,IWF-6\n"
        f"{digest('seven')},,csam\n"
    )
    summary = import_hash_list(loading, csv_rows(text), name="IWF", version="2026-11", actor="t", clock=clock)
    assert (summary.name, summary.entries, summary.rejected) == ("iwf", 2, 5)
    assert [(e.line, e.field) for e in summary.errors] == [
        (3, "sha256"),
        (5, "md5"),
        (6, "category"),
        (7, "classification"),
        (8, "csv"),
    ]
    assert "64 hexadecimal digits" in summary.errors[0].message
    assert all(secret_looking not in e.message for e in summary.errors)
    assert matches(store, sha256=digest("one")) == [("iwf", "IWF-1")]  # stored lowercase
    assert matches(store, md5=digest("three", "md5")) == [("iwf", "IWF-3")]
    with store.session() as session:
        [found] = match_digests(session, {"sha256": digest("one")})
    assert (found.category, found.classification, found.distance) == ("csam", "A1", 0)
    assert matches(store, sha256=digest("nothing")) == []


def test_a_new_version_takes_the_place_of_the_old_in_one_step(
    store: Store, loading: Transaction, clock: ManualClock
) -> None:
    old = "sha256,reference\n" + "".join(f"{digest(f'old{n}')},OLD-{n}\n" for n in range(10))
    import_hash_list(loading, csv_rows(old), name="partner", version="1", actor="t", clock=clock)
    seen_while_loading: list[list[tuple[str, str | None]]] = []

    def new_rows() -> Iterator[ReadHashRow]:
        for n in range(25):
            if n == 20:  # two batches of the new version are in the store: a revisit now...
                seen_while_loading.append(matches(store, sha256=digest("old3")))
                seen_while_loading.append(matches(store, sha256=digest("new3")))
            yield ReadHashRow(n + 2, HashRow(sha256=digest(f"new{n}"), reference=f"NEW-{n}"))

    summary = import_hash_list(
        loading, new_rows(), name="partner", version="2", actor="t", clock=clock, batch_size=10
    )
    assert seen_while_loading == [[("partner", "OLD-3")], []]  # ...sees the old version whole
    assert summary.replaced == "1" and summary.entries == 25
    assert matches(store, sha256=digest("old3")) == [] and matches(store, sha256=digest("new3")) == [
        ("partner", "NEW-3")
    ]
    assert [(v.version, v.state, v.entries) for v in list_hash_lists(store)] == [("2", "active", 25)]


def test_an_import_that_dies_leaves_the_version_in_use(
    store: Store, loading: Transaction, clock: ManualClock
) -> None:
    import_hash_list(
        loading, csv_rows(f"sha256\n{digest('kept')}\n"), name="l", version="1", actor="t", clock=clock
    )

    def dying() -> Iterator[ReadHashRow]:
        for n in range(30):
            yield ReadHashRow(n, HashRow(sha256=digest(f"half{n}")))
        raise OSError("the disk went away")

    with pytest.raises(OSError):
        import_hash_list(loading, dying(), name="l", version="2", actor="t", clock=clock, batch_size=10)
    assert matches(store, sha256=digest("kept")) == [("l", None)]
    assert matches(store, sha256=digest("half1")) == []  # the half-loaded version is read by nobody
    assert [v.state for v in list_hash_lists(store)] == ["active", "loading"]
    with pytest.raises(HashListError, match="the version in use stays"):  # an empty file replaces nothing
        import_hash_list(loading, csv_rows("sha256\n"), name="l", version="3", actor="t", clock=clock)
    assert [(v.version, v.state) for v in list_hash_lists(store)] == [("1", "active")]  # leftovers cleared
    assert remove_hash_list(store.session, "L") == 1 and remove_hash_list(store.session, "l") == 0
    assert matches(store, sha256=digest("kept")) == []


def test_a_list_leaves_every_match_first_and_its_entries_a_step_at_a_time(
    store: Store, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A million entries deleted in one statement held SQLite's write lock for 45 s. Removal now
    takes the list out of every match in its first commit, then deletes its entries in steps, each
    a transaction; one that dies part way is finished by removing the list again."""
    monkeypatch.setattr("takedown.hash_list_versions.DELETE_STEP", 7)
    rows = "".join(f"{digest(f'row{n}')}\n" for n in range(30))
    import_hash_list(
        store.session, csv_rows("sha256\n" + rows), name="big", version="1", actor="t", clock=clock
    )
    opened: list[int] = []

    def dies_at_the_third() -> Any:
        opened.append(1)
        if len(opened) == 3:  # the list retired, its versions read; the first step dies
            raise OSError("killed")
        return store.session()

    with pytest.raises(OSError):
        remove_hash_list(dies_at_the_third, "big")
    assert matches(store, sha256=digest("row29")) == []  # no entry deleted yet, none matched
    assert [(v.version, v.state) for v in list_hash_lists(store)] == [("1", "retired")]
    steps: list[int] = []

    def counted() -> Any:
        steps.append(1)
        return store.session()

    assert remove_hash_list(counted, "BIG") == 30
    assert len(steps) == 2 + 5  # retire, read the versions, then 7 + 7 + 7 + 7 + 2 entries
    assert list_hash_lists(store) == []
    with store.reading() as session:
        assert session.scalar(text("SELECT count(*) FROM hash_entry")) == 0


def test_hash_commands_never_print_a_list(store: Store, clock: ManualClock, tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    known = tmp_path / "known.bin"
    known.write_bytes(b"stand-in for a known file")
    listed = tmp_path / "list.jsonl"
    rows = [
        {"sha256": hashlib.sha256(known.read_bytes()).hexdigest(), "reference": "IWF-9", "category": "csam"},
        {"sha1": digest("other", "sha1"), "reference": "IWF-10"},
        {"sha256": "not hex", "reference": "IWF-11"},
    ]
    listed.write_text("".join(json.dumps(row) + "\n" for row in rows))
    app = App(settings=Settings(database_url="unused", actor="analyst:t"), clock=clock, _store=store)
    runner = CliRunner()

    imported = runner.invoke(cli, ["hashes", "import", str(listed), "--list", "iwf", "--json"], obj=app)
    assert imported.exit_code == exitcodes.PARTIAL, imported.output
    assert json.loads(imported.stdout)["errors"] == [
        {"line": 3, "field": "sha256", "message": "is not 64 hexadecimal digits"}
    ]
    shown = runner.invoke(cli, ["hashes", "list"], obj=app)
    assert "iwf" in shown.output and "2 entries" in shown.output
    file_match = runner.invoke(cli, ["hashes", "match", str(known)], obj=app)
    assert (
        file_match.exit_code == 0
        and "sha256 on list iwf" in file_match.output
        and "IWF-9 [csam]" in file_match.output
    )
    by_digest = runner.invoke(cli, ["hashes", "match", f"sha1:{digest('other', 'sha1')}", "--json"], obj=app)
    assert json.loads(by_digest.output)["matches"][0]["reference"] == "IWF-10"
    missed = runner.invoke(cli, ["hashes", "match", digest("unknown")], obj=app)
    assert missed.exit_code == 1 and "no match" in missed.output
    assert runner.invoke(cli, ["hashes", "match", "nonsense"], obj=app).exit_code == exitcodes.DATA_ERROR
    every_digest = [row["sha256"] for row in rows[:1]] + [rows[1]["sha1"]]
    for output in (imported.output, shown.output):
        assert not any(d in output for d in every_digest)
    assert not any(d in record.getMessage() for record in caplog.records for d in every_digest)
    assert runner.invoke(cli, ["hashes", "remove", "iwf"], obj=app).exit_code == 0
    assert runner.invoke(cli, ["hashes", "remove", "iwf"], obj=app).exit_code == exitcodes.NOT_FOUND


def test_the_file_as_a_whole_must_name_its_columns() -> None:
    from takedown.errors import ImportFileError

    with pytest.raises(ImportFileError, match="no digest column"):
        list(csv_rows("reference,category\nx,csam\n"))
    with pytest.raises(ImportFileError, match="unknown column"):
        list(csv_rows("sha256,url\n"))


ROW_FIELDS = st.sampled_from(["md5", "sha1", "sha256", "pdq", "category", "classification", "reference"])
HEXISH = st.text(alphabet="0123456789abcdefABCDEF", min_size=32, max_size=64)


@given(st.dictionaries(ROW_FIELDS, st.none() | st.text(max_size=70) | st.integers() | HEXISH))
def test_a_row_is_an_entry_with_well_formed_digests_or_refused_by_field(values: dict[str, object]) -> None:
    try:
        row = check_hash_row(values)
    except _Refused as refused:
        assert refused.field in values or refused.field == "md5"
        return
    for algorithm, length in DIGEST_LENGTHS.items():
        value = getattr(row, algorithm)
        assert value is None or (len(value) == length and value == value.lower() and int(value, 16) >= 0)
    assert any(getattr(row, algorithm) for algorithm in DIGEST_LENGTHS)


def test_digests_are_told_apart_by_their_prefix_or_length() -> None:
    assert parse_digest(digest("x", "md5").upper()) == ("md5", digest("x", "md5"))
    assert parse_digest(" sha1:" + digest("x", "sha1")) == ("sha1", digest("x", "sha1"))
    assert parse_digest(digest("x")) == ("sha256", digest("x"))
    assert parse_digest("PDQ:" + digest("x")) == ("pdq", digest("x"))
    with pytest.raises(HashListError):
        parse_digest("sha256:" + digest("x", "md5"))


def test_a_pdq_hash_matches_entries_a_few_bits_away(store: Store, clock: ManualClock) -> None:
    entry = digest("image")  # 64 hex digits, as a PDQ hash is
    near = f"{int(entry, 16) ^ ((1 << 20) - 1):064x}"  # 20 bits flipped: a re-encoded copy
    far = f"{int(entry, 16) ^ ((1 << 40) - 1):064x}"
    rows = [ReadHashRow(2, HashRow(pdq=entry, category="csam", reference="P-1"))]
    import_hash_list(store.session, iter(rows), name="perceptual", version="1", actor="t", clock=clock)
    app = App(settings=Settings(database_url="unused", actor="t"), clock=clock, _store=store)
    found = CliRunner().invoke(cli, ["hashes", "match", f"pdq:{near}", "--json"], obj=app)
    assert found.exit_code == 0, found.output
    [match] = json.loads(found.output)["matches"]
    assert (match["list"], match["reference"], match["distance"]) == ("perceptual", "P-1", 20)
    assert CliRunner().invoke(cli, ["hashes", "match", f"pdq:{far}"], obj=app).exit_code == 1
    wider = CliRunner().invoke(cli, ["hashes", "match", f"pdq:{far}", "--distance", "40"], obj=app)
    assert wider.exit_code == 0 and "40 bits apart" in wider.output


def test_an_image_file_is_matched_by_its_pdq_hash(store: Store, clock: ManualClock, tmp_path: Path) -> None:
    from crawler.perceptual import PerceptualHasher
    from sandbox.web import picture_bytes

    original, _ = picture_bytes(41)
    hasher = PerceptualHasher()
    try:
        known = hasher.hash(original).pdq
    finally:
        hasher.close()
    assert known is not None
    rows = [ReadHashRow(2, HashRow(pdq=known, category="csam", reference="P-41"))]
    import_hash_list(store.session, iter(rows), name="perceptual", version="1", actor="t", clock=clock)
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(picture_bytes(41, True)[0])  # resized and recompressed: every digest differs
    app = App(settings=Settings(database_url="unused", actor="t"), clock=clock, _store=store)
    found = CliRunner().invoke(cli, ["hashes", "match", str(copy), "--json"], obj=app)
    assert found.exit_code == 0, found.output
    [match] = json.loads(found.stdout)["matches"]
    assert (match["algorithm"], match["reference"]) == ("pdq", "P-41") and match["distance"] <= 31


def test_the_lists_read_the_same_through_the_driver_alone(store: Store, clock: ManualClock) -> None:
    """``hashes list`` at the terminal reads through sqlite3 or psycopg alone (no SQLAlchemy to
    import): every version as the mapped models hold it (times in UTC, a version still loading
    without an activation time), and the command prints what it prints through the store."""
    from dataclasses import astuple

    from sqlalchemy import select, update

    from takedown.direct_reads import DirectReader
    from takedown.models import HashList

    import_hash_list(store.session, csv_rows(f"sha256\n{digest('a')}\n{digest('b')}\n"), name="partner",
                     version="1", actor="analyst:t", clock=clock)  # fmt: skip
    import_hash_list(store.session, csv_rows(f"md5\n{digest('c', 'md5')}\n"), name="ncmec", version="2026-12",
                     actor="analyst:u", clock=clock)  # fmt: skip
    with store.session() as session:  # an import still loading (or one that died)
        session.execute(
            update(HashList).where(HashList.name == "ncmec").values(state="loading", activated_at=None)
        )
    with store.reading() as session:
        held = [
            (h.name, h.version, h.state, h.entries, h.imported_at, h.imported_by, h.activated_at)
            for h in session.scalars(select(HashList).order_by(HashList.name, HashList.id))
        ]
    url = store.engine.url.render_as_string(hide_password=False)
    with DirectReader.open(url) as direct:  # type: ignore[union-attr]
        directly = list_hash_lists(direct)
    assert [astuple(view) for view in directly] == held and directly == list_hash_lists(store)
    assert [(view.name, view.entries, view.activated_at is None) for view in directly] == [
        ("ncmec", 1, True),
        ("partner", 2, False),
    ]
    for printed in printed_both_ways(store, clock, ["hashes", "list"], ["hashes", "list", "--json"]):
        assert "partner" in printed and "ncmec" in printed
    # A digest asked about (``hashes match``): only a list in use answers, the same either way.
    asked = {"sha256": digest("b").upper(), "md5": digest("c", "md5")}  # ncmec is loading: not read
    with DirectReader.open(url) as direct:  # type: ignore[union-attr]
        assert (
            match_digests(direct, asked)
            == match_digests(store, asked)
            == [HashMatch("partner", "1", "sha256", None, None, None)]
        )
    matched, *_ = printed_both_ways(store, clock, ["hashes", "match", f"sha256:{digest('b')}"])
    assert matched == f"sha256:{digest('b')}: sha256 on list partner (1), entry -\n"
