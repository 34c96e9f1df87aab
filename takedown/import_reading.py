"""An import file read and validated in batches, in a process of its own beside the writes when the
file is large.

Why a second process: reading a row and validating its URL (canonical form, host, digests) costs
about as much as writing it, and both are Python, so one process does one after the other. With the
reading and validating in a child, the store's writes go on in the parent at the same time, on the
machine's second core. A file too small to be worth starting a process for (:data:`BESIDE_FROM`) is
read in the parent, as before.

The child never touches the store and never opens the file: the parent hands it the file's bytes,
in order, so standard input works as a file does, and the child sends back batches of validated
reports with the errors found in their rows. Nothing about the rows changes: the same reader and
the same validation run, in the same order, with the same line numbers. What crosses between the
processes is plain tuples (:func:`_flatten`) in :mod:`marshal`: the reports' dataclasses, pickled
as they are, took the parent 13 µs a row to unpickle, against 2 µs for tuples, when writing a row
takes about 40.
"""

from __future__ import annotations

import contextlib
import gc
import io
import marshal
import os
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from takedown.canonical import CanonicalUrl
from takedown.errors import ImportFileError, InvalidReport, ReaderFailed
from takedown.gc_tuning import BULK_THRESHOLDS
from takedown.importer import IMPORT_BATCH, ImportFormat, Row, RowError, read_rows
from takedown.reports import ValidReport, validate_report

BESIDE_FROM = 1 << 20
"""Bytes of input (about 10,000 rows) from which the reading is done in a child process. Starting
one takes about 0.04 s; below this size, the time it saves is of the same order."""
CHUNK = 1 << 20
"""Bytes of input handed to the child at a time."""
_STOP_WAIT = 5.0
"""Seconds given to a child to end on its own before it is killed."""


@dataclass(slots=True)
class ValidatedBatch:
    """Up to a batch of valid reports (with their line numbers), the rows refused on the way, and
    how many rows were read for them (for a progress bar)."""

    reports: list[tuple[int, ValidReport]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    rows: int = 0


def validate_batches(rows: Iterable[Row], batch_size: int = IMPORT_BATCH) -> Iterator[ValidatedBatch]:
    """``rows`` validated, in batches of ``batch_size`` rows (the last may be smaller): the valid
    reports, and the rows refused. A row that cannot be read, or whose report is refused, becomes
    an error naming its line and field; it never stops the rows after it. Counted in rows, not in
    valid reports, so that a file of refused rows still moves a progress bar and never makes one
    batch of all its errors."""
    batch = ValidatedBatch()
    for row in rows:
        batch.rows += 1
        if row.error is not None:
            batch.errors.append(RowError(row.line, row.error.field, row.error.message))
        elif row.report is not None:
            try:
                batch.reports.append((row.line, validate_report(row.report)))
            except InvalidReport as exc:
                batch.errors.append(RowError(row.line, exc.field, exc.message))
        if batch.rows >= batch_size:
            yield batch
            batch = ValidatedBatch()
    if batch.rows:
        yield batch


@contextmanager
def validated_batches(
    stream: IO[bytes],
    file_format: ImportFormat,
    *,
    default_category: str | None = None,
    batch_size: int = IMPORT_BATCH,
    beside_from: int | None = BESIDE_FROM,
) -> Iterator[Iterator[ValidatedBatch]]:
    """The batches of ``stream`` (see :func:`validate_batches`), read in a child process when the
    stream holds at least ``beside_from`` bytes, in this one otherwise (always, if ``None``).

    The block must be left for the child to be stopped: leaving it early (an error in the writes,
    Ctrl-C) stops the child at once. An error the reading raises (a CSV header that cannot be read)
    is raised here, as the same exception."""
    if beside_from is not None:
        head = _read_up_to(stream, beside_from)
        if len(head) >= beside_from:
            reader = _ChildReader(head, stream, file_format, default_category, batch_size)
            try:
                yield reader.batches()
            finally:
                reader.stop()
            return
        stream = io.BytesIO(head)  # the whole input: read here
    yield validate_batches(read_rows(stream, file_format, default_category=default_category), batch_size)


def _read_up_to(stream: IO[bytes], size: int) -> bytes:
    """The first ``size`` bytes of ``stream``, or all of it if it is shorter."""
    chunks = []
    left = size
    while left > 0 and (chunk := stream.read(min(left, CHUNK))):
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


class _ChildReader:
    """A child process (``python -m takedown.import_reading``) that reads the bytes the parent
    feeds to its standard input and writes validated batches to its standard output."""

    def __init__(
        self,
        head: bytes,
        rest: IO[bytes],
        file_format: ImportFormat,
        default_category: str | None,
        batch_size: int,
    ) -> None:
        # The child looks for modules where this process found them: its path is this one's (a
        # checkout run without installing it, a path set at run time), and -P keeps its own
        # working directory from going first, where a directory named like one of our packages
        # would be imported in place of it.
        path = os.pathsep.join(entry for entry in sys.path if entry)
        command = [
            sys.executable,
            "-P",
            "-m",
            __name__,
            file_format.value,
            str(batch_size),
            default_category or "",
        ]
        # Its errors (none are expected: a failure is sent as a message) go to our standard error.
        self._process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": path}
        )
        self._feed_error: BaseException | None = None
        self._feeder = threading.Thread(
            target=self._feed, args=(head, rest), name="takedown-import-feeder", daemon=True
        )
        self._feeder.start()

    def _feed(self, head: bytes, rest: IO[bytes]) -> None:
        """Hand the child every byte of the input, then close its standard input. A full pipe makes
        this wait, so the child is never more than a pipe and a batch ahead."""
        sending = self._process.stdin
        assert sending is not None
        try:
            sending.write(head)
            while chunk := rest.read(CHUNK):
                sending.write(chunk)
        except (BrokenPipeError, ValueError):
            pass  # the child is gone or was stopped: the parent says why
        except BaseException as exc:
            # Reading the input failed. The child must not take the bytes so far for the whole
            # file (its last row may be cut short): it is killed before its input is closed.
            self._feed_error = exc
            self._process.kill()
        finally:
            with contextlib.suppress(BrokenPipeError, ValueError):
                sending.close()

    def batches(self) -> Iterator[ValidatedBatch]:
        receiving = self._process.stdout
        assert receiving is not None
        while True:
            message = _receive(receiving)
            if message is None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._process.wait(_STOP_WAIT)
                self._feeder.join(_STOP_WAIT)
                if self._feed_error is not None:
                    raise self._feed_error
                raise ReaderFailed(
                    "the process reading the file stopped unexpectedly "
                    f"(exit status {self._process.returncode}); the batches before it are in the "
                    "store, and importing the file again is safe"
                )
            kind, payload = message
            if kind == "batch":
                yield _unflatten_batch(payload)
            elif kind == "failed":
                raise _failure(*payload)
            else:
                return

    def stop(self) -> None:
        """End the child (at once, if it is still reading) and the feeder, and close the pipes."""
        if self._process.poll() is None:
            self._process.terminate()
        try:
            self._process.wait(_STOP_WAIT)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._feeder.join(_STOP_WAIT)
        for pipe in (self._process.stdin, self._process.stdout):
            if pipe is not None:
                with contextlib.suppress(BrokenPipeError):
                    pipe.close()


_LENGTH = struct.Struct(">I")


def _send(stream: IO[bytes], message: tuple[str, Any]) -> None:
    """One message: its length, then the message in :mod:`marshal`, which carries the plain values
    sent here and reads faster than pickle. Only our own child writes these, to us alone."""
    data = marshal.dumps(message)
    stream.write(_LENGTH.pack(len(data)) + data)
    stream.flush()


def _receive(stream: IO[bytes]) -> tuple[str, Any] | None:
    """The next message, or ``None`` if the stream ended (the child is gone)."""
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(header)
    data = stream.read(length)
    if len(data) < length:
        return None
    message: tuple[str, Any] = marshal.loads(data)
    return message


def _failure(kind: str, message: str) -> Exception:
    """The exception the child's reading raised, made again: a file that cannot be read as it
    was, anything else as :class:`ReaderFailed`."""
    if kind == ImportFileError.__name__:
        return ImportFileError(message)
    return ReaderFailed(f"reading the file failed: {kind}: {message}")


def _read_in_child(
    source: IO[bytes],
    sink: IO[bytes],
    file_format: ImportFormat,
    default_category: str | None,
    batch_size: int,
) -> None:
    """The child's work: read ``source`` as an import file and send its batches to ``sink``, then
    ``done``; or ``failed`` with what stopped it."""
    try:
        rows = read_rows(source, file_format, default_category=default_category)
        for batch in validate_batches(rows, batch_size):
            _send(sink, ("batch", _flatten_batch(batch)))
    except Exception as exc:
        _send(sink, ("failed", (type(exc).__name__, str(exc))))
    else:
        _send(sink, ("done", None))


Flat = tuple[Any, ...]


def _flatten(line: int, report: ValidReport) -> Flat:
    """A report and its line as a tuple of plain values (see the module's docstring)."""
    canonical = report.canonical
    return (
        line,
        report.url,
        canonical.scheme,
        canonical.host,
        canonical.port,
        canonical.path,
        canonical.query,
        report.host,
        report.category,
        report.reference,
        report.fingerprints,
        report.dedup_hash,
        report.classification,
    )


def _unflatten(flat: Flat) -> tuple[int, ValidReport]:
    (line, url, scheme, host, port, path, query, valid_host, category, reference, fingerprints,
     dedup_hash, classification) = flat  # fmt: skip
    return line, ValidReport(
        url=url,
        canonical=CanonicalUrl(scheme=scheme, host=host, port=port, path=path, query=query),
        host=valid_host,
        category=category,
        reference=reference,
        fingerprints=fingerprints,
        dedup_hash=dedup_hash,
        classification=classification,
    )


def _flatten_batch(batch: ValidatedBatch) -> tuple[list[Flat], list[tuple[int, str, str]], int]:
    return (
        [_flatten(line, report) for line, report in batch.reports],
        [(error.line, error.field, error.message) for error in batch.errors],
        batch.rows,
    )


def _unflatten_batch(payload: tuple[list[Flat], list[tuple[int, str, str]], int]) -> ValidatedBatch:
    reports, errors, rows = payload
    return ValidatedBatch(
        reports=[_unflatten(flat) for flat in reports],
        errors=[RowError(line, name, message) for line, name, message in errors],
        rows=rows,
    )


def main(arguments: list[str]) -> int:
    """``python -m takedown.import_reading FORMAT BATCH_SIZE CATEGORY``: the child's side."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent too, which stops us
    gc.set_threshold(*BULK_THRESHOLDS)
    file_format, batch_size, category = arguments
    _read_in_child(
        sys.stdin.buffer, sys.stdout.buffer, ImportFormat(file_format), category or None, int(batch_size)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
