"""Reading import files: CSV, JSON Lines, or a plain list of URLs, row by row, each row a report
or the reason it cannot be one (line number and field). :func:`takedown.intake.import_rows` queues
them; nothing here touches the store."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import IO, Any

from takedown.errors import ImportFileError, InvalidReport
from takedown.reports import QueueOutcome, Report

CSV_COLUMNS = ("url", "category", "reference", "sha256", "md5", "classification")
_DIGEST_SEPARATORS = re.compile(r"[\s,;]+")
_LONE_SURROGATE = re.compile("[\udc80-\udcff]")


class ImportFormat(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"
    LINES = "lines"

    @classmethod
    def guess(cls, filename: str) -> ImportFormat:
        lowered = filename.lower()
        if lowered.endswith(".csv"):
            return cls.CSV
        if lowered.endswith((".jsonl", ".ndjson", ".json")):
            return cls.JSONL
        if lowered.endswith((".txt", ".lst", ".list")):
            return cls.LINES
        raise ImportFileError(
            f"cannot tell the format of '{filename}' from its name; pass --format csv, jsonl or lines"
        )


@dataclass(frozen=True, slots=True)
class Row:
    """One row of an import file: a report, or the reason it could not be read."""

    line: int
    report: Report | None = None
    error: InvalidReport | None = None


@dataclass(frozen=True, slots=True)
class RowError:
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.message}"


IMPORT_BATCH = 5000
"""Rows an import commits at a time. Each commit waits for the disk (SQLite's is an fsync of its
log, about 50 ms here), so 5,000 rows imported about a third faster than 1,000 when this was chosen
(bench/bench_import.py: 8,865 -> 11,984 rows/s on SQLite, 8,114 -> 10,942 on PostgreSQL), while the
store's write lock is held for only a fraction of a second at a time; 20,000 and 50,000 were no
faster (measured again after the reading moved beside the writes: 15,500-16,400 rows/s for all
three, with the reading still in the writing process)."""


@dataclass(slots=True)
class ImportSummary:
    counts: dict[str, int] = field(default_factory=lambda: {outcome.value: 0 for outcome in QueueOutcome})
    errors: list[RowError] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return sum(self.counts.values())

    @property
    def rejected(self) -> int:
        return len(self.errors)

    def __plain__(self) -> dict[str, Any]:
        return {
            **self.counts,
            "rejected": self.rejected,
            "errors": [{"line": e.line, "field": e.field, "message": e.message} for e in self.errors],
        }


def read_rows(
    stream: IO[bytes], file_format: ImportFormat, *, default_category: str | None = None
) -> Iterator[Row]:
    """Yield the rows of ``stream``; a row that cannot be read becomes a row with an error."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
    try:
        if file_format is ImportFormat.CSV:
            yield from _read_csv(text, default_category)
        elif file_format is ImportFormat.JSONL:
            yield from _read_jsonl(text, default_category)
        else:
            yield from _read_lines(text, default_category)
    finally:
        let_go(text)


def let_go(text: io.TextIOWrapper) -> None:
    """Hand the stream under ``text`` back to whoever opened it (the command line closes its
    files): a wrapper left to the garbage collector closed it there, with a ResourceWarning."""
    with contextlib.suppress(ValueError):  # the stream was closed already
        text.detach()


def _undecodable(value: str) -> bool:
    """Bytes that were not UTF-8 come through ``surrogateescape`` as lone surrogates; text in ASCII,
    most of what is imported, holds none and is not searched."""
    return not value.isascii() and _LONE_SURROGATE.search(value) is not None


def _read_lines(text: IO[str], default_category: str | None) -> Iterator[Row]:
    for number, line in enumerate(text, start=1):
        value = line.strip()
        if not value or value.startswith("#"):
            continue
        if _undecodable(value):
            yield Row(number, error=InvalidReport("url", "is not valid UTF-8 text"))
            continue
        yield Row(number, Report(url=value, category=default_category or "csam"))


def csv_records(
    text: IO[str], allowed: Sequence[str], missing: Callable[[list[str]], str | None], hint: str
) -> Iterator[tuple[int, dict[str, str] | str]]:
    """The rows of a CSV file with a header, each as its columns' values or, when the row cannot be
    read, why; blank rows are skipped. The header must name only ``allowed`` columns, and
    ``missing`` says what it lacks (``None``: nothing); otherwise :class:`ImportFileError`, with
    ``hint`` after the list of columns."""
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise ImportFileError(f"line 1: the CSV header cannot be read ({exc})") from None
    columns = [name.strip().lower() for name in header]
    unknown = [name for name in columns if name not in allowed]
    lacking = missing(columns)
    if unknown or lacking:
        problem = f"unknown column(s) {_some(unknown)}" if unknown else lacking
        raise ImportFileError(
            f"line 1: the CSV header has {problem}; the columns are {', '.join(allowed)}{hint}"
        )
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield reader.line_num, str(exc)[:200]
            continue
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(columns):
            yield reader.line_num, f"has {len(cells)} cells where the header names {len(columns)}"
            continue
        yield reader.line_num, dict(zip(columns, cells, strict=True))


def _read_csv(text: IO[str], default_category: str | None) -> Iterator[Row]:
    records = csv_records(
        text,
        CSV_COLUMNS,
        lambda columns: None if "url" in columns else "no 'url' column",
        " (only url is required)",
    )
    for line, values in records:
        if isinstance(values, str):
            yield Row(line, error=InvalidReport("csv", values))
            continue
        bad = next((name for name, value in values.items() if _undecodable(value)), None)
        if bad:
            yield Row(line, error=InvalidReport(bad, "is not valid UTF-8 text"))
            continue
        yield Row(
            line,
            Report(
                url=values["url"],
                category=values.get("category") or default_category or "csam",
                reference=values.get("reference") or None,
                sha256=_digests(values.get("sha256")),
                md5=_digests(values.get("md5")),
                classification=values.get("classification") or None,
            ),
        )


def _digests(cell: str | None) -> tuple[str, ...]:
    """The digests in a cell, however they are separated; none for an empty cell (most rows of an
    import have no MD5, and many no SHA-256), which is not split."""
    if not cell:
        return ()
    return tuple(digest for digest in _DIGEST_SEPARATORS.split(cell) if digest)


def _some(names: list[str], shown: int = 5) -> str:
    """A few names, quoted and cut short, and how many more: an error message stays readable
    (a header of a million columns once made one of 11 MB)."""
    listed = ", ".join(repr(name[:40]) for name in names[:shown])
    return listed + (f" and {len(names) - shown} more" if len(names) > shown else "")


def _read_jsonl(text: IO[str], default_category: str | None) -> Iterator[Row]:
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        if _undecodable(line):
            yield Row(number, error=InvalidReport("line", "is not valid UTF-8 text"))
            continue
        try:
            yield Row(number, _report_from_json(json.loads(line), default_category))
        except json.JSONDecodeError as exc:
            yield Row(
                number, error=InvalidReport("json", f"not valid JSON ({exc.msg} at column {exc.colno})")
            )
        except InvalidReport as exc:
            yield Row(number, error=exc)


def _report_from_json(data: Any, default_category: str | None) -> Report:
    if not isinstance(data, dict):
        raise InvalidReport(
            "json", f'each line must be an object like {{"url": ...}}, not {type(data).__name__}'
        )
    unknown = sorted(set(data) - set(CSV_COLUMNS))
    if unknown:
        raise InvalidReport(unknown[0], f"is not a known field; the fields are {', '.join(CSV_COLUMNS)}")
    if "url" not in data:
        raise InvalidReport("url", "is missing")
    for name in ("url", "category", "reference", "classification"):
        if data.get(name) is not None and not isinstance(data[name], str):
            raise InvalidReport(name, f"must be a string, not {type(data[name]).__name__}")
    return Report(
        url=data["url"],
        category=data.get("category") or default_category or "csam",
        reference=data.get("reference"),
        sha256=_json_digests(data, "sha256"),
        md5=_json_digests(data, "md5"),
        classification=data.get("classification"),
    )


def _json_digests(data: dict[str, Any], name: str) -> tuple[str, ...]:
    value = data.get(name)
    if value is None:
        return ()
    if isinstance(value, str):
        return _digests(value)
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise InvalidReport(name, "must be a string or a list of strings")
