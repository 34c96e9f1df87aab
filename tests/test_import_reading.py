"""An import file read and validated in a child process beside the writes: the same rows, errors and
line numbers as reading it in one process; a failure or an early stop leaves no child behind and
nothing cut short in the store."""

from __future__ import annotations

import csv
import gc
import io
import itertools
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from takedown.clock import ManualClock
from takedown.errors import ImportFileError, ReaderFailed
from takedown.gc_tuning import BULK_THRESHOLDS, bulk_collections
from takedown.import_reading import ValidatedBatch, validated_batches
from takedown.importer import ImportFormat
from takedown.intake import import_batches
from takedown.models import Case
from takedown.store import Store

SHA = "ab" * 32
MD5 = "cd" * 16

MIXED_CSV = (
    "\ufeffURL,category,reference,sha256,md5,classification\n"
    f"http://a.test/1,csam,HL-1,{SHA},,A1\n"
    "\n"
    '"http://a.test/2?q=1","csam-nonphoto","HL-2\nsecond line","","' + MD5 + '",\n'
    "not a url,csam,HL-3,,,\n"
    "http://a.test/4,csam,HL-4,not-a-digest,,\n"
    "http://a.test/5,csam\n"
    "http://b\xfccher.test:8080/6,other,,,,B2\n"
    "http://a.test/1,csam,HL-7,,,\n"
    "http://user:pw@a.test/8,csam,,,,\n"
    "HTTP://A.TEST/9#fragment,csam,,,,baseline\n"
).encode() + b"http://a.test/\xff,csam,,,,\nhttp://a.test/11,nonsense,,,,\n"


def reader_children() -> list[int]:
    """The import readers this process has started and not yet waited for (running, or ended and
    not yet reaped)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        # A child that is ending, or has ended and is not yet reaped, has no command line left;
        # these tests start no other child.
        if parent == os.getpid() and (b"takedown.import_reading" in command or not command):
            found.append(int(entry.name))
    return found


def batches_of(
    data: bytes, file_format: ImportFormat, *, beside: bool, batch_size: int = 3
) -> list[ValidatedBatch]:
    with validated_batches(
        io.BytesIO(data), file_format, batch_size=batch_size, beside_from=1 if beside else None
    ) as batches:
        listed = []
        for batch in batches:
            if beside:
                assert reader_children(), "the file was to be read in a child process"
            listed.append(batch)
    assert not reader_children()
    return listed


def test_a_file_read_beside_the_writes_gives_the_rows_and_errors_read_in_one_process() -> None:
    in_one = batches_of(MIXED_CSV, ImportFormat.CSV, beside=False)
    beside = batches_of(MIXED_CSV, ImportFormat.CSV, beside=True)
    assert beside == in_one
    assert [line for batch in beside for line, _report in batch.reports] == [2, 9, 10, 12]
    assert [(error.line, error.field) for batch in beside for error in batch.errors] == [
        (5, "reference"),  # a record over two lines is numbered by its last
        (6, "url"),
        (7, "sha256"),
        (8, "csv"),
        (11, "url"),
        (13, "url"),
        (14, "category"),
    ]
    assert sum(batch.rows for batch in beside) == 11
    reports = [report for batch in beside for _line, report in batch.reports]
    assert reports[0].fingerprints == (("sha256", SHA),) and reports[0].classification == "A1"
    assert reports[1].canonical.port == 8080 and reports[1].host == "xn--bcher-kva.test"
    assert reports[1].category == "other" and reports[1].classification == "B2"
    assert reports[3].canonical.url == "http://a.test/9" and reports[3].classification == "baseline"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.builds(
                "{}://{}{}/{}{}".format,
                st.sampled_from(["http", "https", "HTTP", "ftp"]),
                st.sampled_from(["a.test", "B\u00fccher.test", "127.0.0.1", "0x7f.1", "[::1]", "a..test"]),
                st.sampled_from(["", ":8080", ":0", ":99999"]),
                st.text(alphabet="ab%/.,;\"' \u00e9", max_size=12),
                st.sampled_from(["", "?x=1", "#frag", "?a=%2F"]),
            ),
            st.sampled_from(["csam", "other", "", "bogus"]),
            st.text(alphabet='HL-0123"\n,', max_size=8),
            st.sampled_from(["", SHA, SHA.upper() + ";" + SHA, "zz"]),
            st.sampled_from(["", MD5]),
            st.sampled_from(["", "A1", "b2", "grade"]),
        ),
        max_size=12,
    )
)
def test_any_csv_reads_alike_in_a_child_and_in_one_process(
    rows: list[tuple[str, str, str, str, str, str]],
) -> None:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["url", "category", "reference", "sha256", "md5", "classification"])
    writer.writerows(rows)
    data = text.getvalue().encode()
    assert batches_of(data, ImportFormat.CSV, beside=True, batch_size=2) == batches_of(
        data, ImportFormat.CSV, beside=False, batch_size=2
    )


@pytest.mark.parametrize("file_format", [ImportFormat.JSONL, ImportFormat.LINES])
def test_the_other_formats_read_alike_in_a_child(file_format: ImportFormat) -> None:
    data = (
        b'{"url": "http://a.test/1", "sha256": ["' + SHA.encode() + b'"]}\n{"url": 3}\nnot json\n\n'
        if file_format is ImportFormat.JSONL
        else b"# a comment\nhttp://a.test/1\n\nftp://a.test/\nhttp://a.test/\xfe\n"
    )
    beside = batches_of(data, file_format, beside=True)
    assert beside == batches_of(data, file_format, beside=False)
    assert len(beside[0].reports) == 1 and len(beside[0].errors) == 2


def test_a_header_that_cannot_be_read_stops_the_import_with_the_same_error() -> None:
    data = b"link,reference\nhttp://a.test/\n"
    with pytest.raises(ImportFileError) as in_one:
        batches_of(data, ImportFormat.CSV, beside=False)
    with pytest.raises(ImportFileError) as beside:
        batches_of(data, ImportFormat.CSV, beside=True)
    assert str(beside.value) == str(in_one.value)
    assert "unknown column(s) 'link'" in str(beside.value)


class FailsAfter(io.RawIOBase):
    """A file whose reading fails after ``data``, as a disk or a network share can."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        count = self._data.readinto(buffer)
        if not count:
            raise OSError("input/output error")
        return count


def urls_file(count: int) -> bytes:
    return "".join(f"http://a.test/report/{n:06d}\n" for n in range(count)).encode()


def cases_in(store: Store) -> int:
    with store.session() as session:
        return int(session.scalar(select(func.count()).select_from(Case)) or 0)


def test_a_file_whose_reading_fails_midway_imports_no_row_cut_short(store: Store, clock: ManualClock) -> None:
    data = urls_file(200)
    cut = data.index(b"\n", 3000) - 4  # within a URL: "http://a.test/report/0001" of "...00010"
    with (
        pytest.raises(OSError, match="input/output error"),
        validated_batches(
            io.BufferedReader(FailsAfter(data[:cut])), ImportFormat.LINES, batch_size=10, beside_from=1000
        ) as batches,
    ):
        import_batches(store, batches, actor="analyst:t", clock=clock)
    assert not reader_children()
    with store.session() as session:
        imported = set(session.scalars(select(Case.url)))
    complete = {line.decode() for line in data[:cut].split(b"\n")[:-1]}
    assert imported <= complete
    assert data[:cut].rsplit(b"\n", 1)[1].decode() not in imported

    with validated_batches(io.BytesIO(data), ImportFormat.LINES, beside_from=1000) as batches:
        again = import_batches(store, batches, actor="analyst:t", clock=clock)
    assert again.counts["queued"] == 200 - len(imported) and cases_in(store) == 200


def test_a_reader_that_dies_is_said_and_what_was_imported_stays(store: Store, clock: ManualClock) -> None:
    with validated_batches(
        io.BytesIO(urls_file(20_000)), ImportFormat.LINES, batch_size=100, beside_from=1
    ) as batches:
        first = next(iter(batches))
        [child] = reader_children()
        os.kill(child, signal.SIGKILL)
        with pytest.raises(ReaderFailed, match=r"stopped unexpectedly .* importing the file again is safe"):
            import_batches(store, itertools.chain([first], batches), actor="analyst:t", clock=clock)
    assert 100 <= cases_in(store) < 20_000
    assert not reader_children()


def test_leaving_early_stops_the_reader_at_once(store: Store, clock: ManualClock) -> None:
    def stop_after_one_batch(batches: Iterator[ValidatedBatch]) -> Iterator[ValidatedBatch]:
        yield next(batches)
        raise KeyboardInterrupt

    with (
        pytest.raises(KeyboardInterrupt),
        validated_batches(
            io.BytesIO(urls_file(50_000)), ImportFormat.LINES, batch_size=100, beside_from=1
        ) as batches,
    ):
        assert reader_children()
        import_batches(store, stop_after_one_batch(batches), actor="analyst:t", clock=clock)
    assert not reader_children()
    assert cases_in(store) == 100


def test_an_import_paces_the_collector_for_bulk_work_and_gives_the_pace_back_after(
    store: Store, clock: ManualClock
) -> None:
    before = gc.get_threshold()
    seen = []

    def batches(fail: bool) -> Iterator[ValidatedBatch]:
        with validated_batches(io.BytesIO(urls_file(10)), ImportFormat.LINES, beside_from=None) as read:
            for batch in read:
                seen.append(gc.get_threshold())
                yield batch
        if fail:
            raise OSError("the file went away")

    import_batches(store, batches(fail=False), actor="analyst:t", clock=clock)
    assert gc.get_threshold() == before
    with pytest.raises(OSError, match="went away"):
        import_batches(store, batches(fail=True), actor="analyst:t", clock=clock)
    assert gc.get_threshold() == before
    assert seen == [BULK_THRESHOLDS, BULK_THRESHOLDS] and before != BULK_THRESHOLDS


def test_imports_side_by_side_give_the_pace_back_when_the_last_one_ends() -> None:
    before = gc.get_threshold()
    first, second = bulk_collections(), bulk_collections()
    first.__enter__()
    second.__enter__()
    first.__exit__(None, None, None)
    assert gc.get_threshold() == BULK_THRESHOLDS
    second.__exit__(None, None, None)
    assert gc.get_threshold() == before


def test_a_file_of_refused_rows_still_comes_in_batches_that_move_a_progress_bar() -> None:
    data = b"".join(b"ftp://a.test/%d\n" % n for n in range(10)) + b"http://a.test/ok\n"
    for beside in (False, True):
        batches = batches_of(data, ImportFormat.LINES, beside=beside, batch_size=3)
        assert [(batch.rows, len(batch.errors), len(batch.reports)) for batch in batches] == [
            (3, 3, 0),
            (3, 3, 0),
            (3, 3, 0),
            (2, 1, 1),
        ]
