"""Bulk import: formats, row errors with line numbers, idempotence, crashes and concurrent importers."""

from __future__ import annotations

import io
import json
import re
import threading

import pytest
from sqlalchemy import func, select

from takedown.clock import ManualClock
from takedown.errors import ImportFileError
from takedown.importer import ImportFormat, Row, read_rows
from takedown.intake import import_rows
from takedown.models import Case, Event, Fingerprint
from takedown.reports import Report
from takedown.store import Store

SHA_A, SHA_B = "a" * 64, "b" * 64


def rows_of(text: str | bytes, file_format: ImportFormat) -> list[Row]:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return list(read_rows(io.BytesIO(data), file_format))


def test_csv_rows_become_reports_with_line_numbers() -> None:
    rows = rows_of(
        "\ufeffURL,Reference,sha256\n"
        "http://a.test/1,HL-1,\n"
        "\n"
        '"http://a.test/2","HL-2","' + SHA_A + ";" + SHA_B + '"\n',
        ImportFormat.CSV,
    )
    assert [(row.line, row.report) for row in rows] == [
        (2, Report("http://a.test/1", reference="HL-1")),
        (4, Report("http://a.test/2", reference="HL-2", sha256=(SHA_A, SHA_B))),
    ]


def test_the_classification_column_is_read_in_both_formats() -> None:
    [csv_row] = rows_of("url,classification\nhttp://a.test/1,A2\n", ImportFormat.CSV)
    assert csv_row.report == Report("http://a.test/1", classification="A2")
    [json_row] = rows_of('{"url": "http://a.test/1", "classification": "B1"}\n', ImportFormat.JSONL)
    assert json_row.report == Report("http://a.test/1", classification="B1")


@pytest.mark.parametrize(
    ("header", "message"),
    [("link,reference\n", "unknown column(s) 'link'"), ("reference\n", "no 'url' column")],
)
def test_a_csv_header_that_cannot_be_right_stops_the_import_before_anything_is_queued(
    header: str, message: str
) -> None:
    with pytest.raises(ImportFileError, match=re.escape(message)):
        rows_of(header + "http://a.test/\n", ImportFormat.CSV)


def test_csv_rows_with_the_wrong_number_of_cells_are_refused_alone() -> None:
    rows = rows_of("url,reference\nhttp://a.test/1,HL-1,extra\nhttp://a.test/2,HL-2\n", ImportFormat.CSV)
    assert rows[0].error is not None and "3 cells where the header names 2" in rows[0].error.message
    assert rows[1].report == Report("http://a.test/2", reference="HL-2")


def test_jsonl_accepts_digest_lists_and_refuses_bad_lines_alone() -> None:
    lines = [
        json.dumps({"url": "http://a.test/1", "sha256": [SHA_A], "md5": "c" * 32}),
        "{not json",
        json.dumps(["http://a.test/2"]),
        json.dumps({"url": "http://a.test/3", "colour": "red"}),
        json.dumps({"url": 42}),
        json.dumps({"reference": "HL-9"}),
        "",
        json.dumps({"url": "http://a.test/4", "category": "csam-nonphoto"}),
    ]
    rows = rows_of("\n".join(lines), ImportFormat.JSONL)
    assert rows[0].report == Report("http://a.test/1", sha256=(SHA_A,), md5=("c" * 32,))
    assert [(row.line, row.error.field) for row in rows[1:6] if row.error] == [
        (2, "json"),
        (3, "json"),
        (4, "colour"),
        (5, "url"),
        (6, "url"),
    ]
    assert (rows[6].line, rows[6].report) == (8, Report("http://a.test/4", category="csam-nonphoto"))


def test_plain_lists_skip_blanks_and_comments() -> None:
    rows = rows_of("# from partner hotline\nhttp://a.test/1\n\n  http://a.test/2  \n", ImportFormat.LINES)
    assert [(row.line, row.report.url if row.report else None) for row in rows] == [
        (2, "http://a.test/1"),
        (4, "http://a.test/2"),
    ]


def test_a_row_that_is_not_utf8_is_refused_and_the_next_one_still_read() -> None:
    rows = rows_of(b"http://a.test/\xff\xfe\nhttp://a.test/ok\n", ImportFormat.LINES)
    assert rows[0].error is not None
    assert (rows[0].line, rows[0].error.field, rows[0].error.message) == (1, "url", "is not valid UTF-8 text")
    assert rows[1].report is not None and rows[1].report.url == "http://a.test/ok"


def test_format_is_guessed_from_the_name_or_asked_for() -> None:
    assert ImportFormat.guess("Reports.CSV") is ImportFormat.CSV
    assert ImportFormat.guess("r.ndjson") is ImportFormat.JSONL
    assert ImportFormat.guess("urls.txt") is ImportFormat.LINES
    with pytest.raises(ImportFileError, match="--format"):
        ImportFormat.guess("reports.xlsx")


MIXED_CSV = (
    "url,reference,sha256\n"
    "http://a.test/1,HL-1," + SHA_A + "\n"
    "ftp://a.test/2,HL-2,\n"
    "http://A.TEST/1#again,HL-3,\n"
    "http://a.test/4,HL-4,not-a-digest\n"
    "http://a.test/5,HL-5,\n"
)


def test_bad_rows_are_listed_and_the_good_ones_go_in(store: Store, clock: ManualClock) -> None:
    summary = import_rows(store, rows_of(MIXED_CSV, ImportFormat.CSV), actor="a", clock=clock)
    assert summary.counts == {"queued": 2, "already_open": 1, "reopened": 0}
    assert [str(error) for error in summary.errors] == [
        "line 3: url: scheme 'ftp' is not allowed; only http and https are revisited",
        "line 5: sha256: 'not-a-digest' is not a sha256 digest (64 hexadecimal digits)",
    ]
    with store.session() as session:
        assert session.scalars(select(Case.url).order_by(Case.id)).all() == [
            "http://a.test/1",
            "http://a.test/5",
        ]
        assert session.scalars(select(Fingerprint.digest)).all() == [SHA_A]


def test_importing_the_same_file_again_opens_nothing_twice(store: Store, clock: ManualClock) -> None:
    import_rows(store, rows_of(MIXED_CSV, ImportFormat.CSV), actor="a", clock=clock)
    again = import_rows(store, rows_of(MIXED_CSV, ImportFormat.CSV), actor="a", clock=clock)
    assert again.counts == {"queued": 0, "already_open": 3, "reopened": 0}
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 2
        assert session.scalar(select(func.count()).select_from(Event)) == 2


def _numbered(count: int) -> str:
    return "".join(f"http://host{n % 50}.test/item/{n}\n" for n in range(count))


def test_a_crash_mid_import_keeps_committed_batches_and_a_rerun_completes_without_duplicates(
    store: Store, clock: ManualClock
) -> None:
    text = _numbered(250)

    def crashing_rows():  # type: ignore[no-untyped-def]
        for index, row in enumerate(rows_of(text, ImportFormat.LINES)):
            if index == 130:
                raise KeyboardInterrupt("operator pressed Ctrl-C")
            yield row

    with pytest.raises(KeyboardInterrupt):
        import_rows(store, crashing_rows(), actor="a", clock=clock, batch_size=50)
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 100, "two whole batches survived"

    rerun = import_rows(store, rows_of(text, ImportFormat.LINES), actor="a", clock=clock, batch_size=50)
    assert rerun.counts == {"queued": 150, "already_open": 100, "reopened": 0}
    with store.session() as session:
        urls = session.scalars(select(Case.url)).all()
        assert sorted(urls) == sorted(set(text.split()))


def test_concurrent_imports_of_overlapping_files_open_each_url_once(store: Store) -> None:
    text = _numbered(400)
    lines = text.splitlines(keepends=True)
    halves = ["".join(lines[:300]), "".join(lines[100:])]
    failures: list[BaseException] = []

    def run(part: str) -> None:
        try:
            import_rows(
                store, rows_of(part, ImportFormat.LINES), actor="a", clock=ManualClock(), batch_size=25
            )
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(half,)) for half in halves]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with store.session() as session:
        assert session.scalar(select(func.count()).select_from(Case)) == 400
        assert session.scalar(select(func.count(func.distinct(Case.dedup_hash)))) == 400


def test_lone_surrogates_escaped_in_json_are_refused_with_line_and_field_and_the_rest_goes_in(
    store: Store, clock: ManualClock
) -> None:
    jsonl = "\n".join(
        [
            '{"url": "http://a.test/before"}',
            '{"url": "http://a.test/\\udcff"}',
            '{"url": "http://a.test/ok", "reference": "HL-\\ud800"}',
            '{"url": "http://a.test/after", "classification": "\\udfff"}',
            '{"url": "http://a.test/last"}',
        ]
    )
    summary = import_rows(store, rows_of(jsonl, ImportFormat.JSONL), actor="a", clock=clock)
    assert summary.counts["queued"] == 2
    assert [(e.line, e.field) for e in summary.errors] == [
        (2, "url"),
        (3, "reference"),
        (4, "classification"),
    ]
    assert all("'\\udcff'" in e.message or "surrogate" in e.message for e in summary.errors)
    with store.session() as session:
        assert session.scalars(select(Case.url).order_by(Case.id)).all() == [
            "http://a.test/before",
            "http://a.test/last",
        ]


def test_a_csv_header_of_a_million_columns_gives_a_short_error() -> None:
    header = "url," + ",".join(f"column{n}" for n in range(1_000_000)) + "\n"
    with pytest.raises(ImportFileError) as refused:
        rows_of(header + "http://a.test/x\n", ImportFormat.CSV)
    message = str(refused.value)
    assert len(message) < 500
    assert "'column0'" in message and "and 999995 more" in message


@pytest.mark.parametrize("read", ["cases", "hash list"])
def test_reading_rows_leaves_the_callers_file_open_for_the_caller_to_close(read: str) -> None:
    """The command line opened the file and closes it; the reader's text wrapper, left to the
    garbage collector, used to close it there instead (a ResourceWarning in every import)."""
    import gc

    from takedown.hash_list_import import read_hash_rows

    stream = io.BytesIO(b"url\nhttp://a.test/x\n" if read == "cases" else b"sha256\n" + b"ab" * 32 + b"\n")
    rows = list(
        read_rows(stream, ImportFormat.CSV) if read == "cases" else read_hash_rows(stream, ImportFormat.CSV)
    )
    gc.collect()
    assert len(rows) == 1 and not stream.closed
    stream.close()
