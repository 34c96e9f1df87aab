"""The scheduler's side of the crawl server (:mod:`crawler.warm`): each crawl is a fork of a process
that imported the crawl stack once, instead of a new ``python -m crawler`` that imports it again.

A crawl of a few URLs spent 1.5 of its 2.1 s importing; the demo runs sixteen crawls, and they were
42 of its 50 s. What a crawl is does not change: the same entry point and arguments, the
environment :func:`schedules.jobs.crawl_environment` gives it, a session of its own (a signal to
the scheduler's process group does not reach it), its output kept apart; stopping it is SIGTERM to
its pid, as before. The server is started on first use, in a session of its own as well, and ends
when this process does (its stdin closes). One crawl at a time goes through a server; a crawl
asked for while another runs gets a server of its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any


class ServerGone(Exception):
    """The crawl server ended without answering (killed, or it failed to start)."""


@dataclass
class Finished:
    """A crawl's exit status (negative: the signal that ended it) and what it wrote."""

    exit: int
    stdout: str
    stderr: str


class Crawl:
    """One crawl running in a fork of the server: wait for it, or signal it."""

    def __init__(self, server: CrawlServer, pid: int, directory: tempfile.TemporaryDirectory[str]) -> None:
        self._server = server
        self.pid = pid
        self._directory = directory

    def wait(self, timeout: float) -> Finished | None:
        """Its status once it has ended, or ``None`` if it is still running after ``timeout``."""
        try:
            answer = self._server.read(timeout)
        except ServerGone:  # the crawl must not run on unwatched beside the next one
            self.signal(signal.SIGKILL)
            self._let_go()
            raise
        if answer is None:
            return None
        folder = Path(self._directory.name)
        try:
            stdout = (folder / "stdout").read_text(encoding="utf-8", errors="replace")
            stderr = (folder / "stderr").read_text(encoding="utf-8", errors="replace")
        finally:
            self._let_go()
        return Finished(int(answer["exit"]), stdout, stderr)

    def abandon(self) -> None:
        """Leave it to run on alone, and the server with it (the next crawl starts another)."""
        self._server.stop()
        self._let_go()

    def _let_go(self) -> None:
        """The server is free for the next crawl, and this one's output files are gone."""
        self._server.release()
        self._directory.cleanup()

    def signal(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
            os.kill(self.pid, signum)


class CrawlServer:
    """A ``python -m crawler.warm`` process; see the module's docstring."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._pending = b""
        self._busy = threading.Lock()

    def start(self, argv: Sequence[str], env: Mapping[str, str]) -> Crawl | None:
        """Start ``python -m crawler ARGV`` with ``env``; ``None`` when a crawl is already running
        through this server (the caller starts one another way)."""
        if not self._busy.acquire(blocking=False):
            return None
        try:
            process = self._running()
            directory = tempfile.TemporaryDirectory(prefix="takedown-crawl-")
            folder = Path(directory.name)
            request = {
                "argv": list(argv),
                "env": dict(env),
                "stdout": str(folder / "stdout"),
                "stderr": str(folder / "stderr"),
            }
            assert process.stdin is not None
            try:
                process.stdin.write(json.dumps(request).encode() + b"\n")
                process.stdin.flush()
            except OSError as exc:
                raise ServerGone(f"the crawl server is gone ({exc})") from exc
            answer = self.read(60.0)
            if answer is None:
                raise ServerGone("the crawl server did not start the crawl within a minute")
            return Crawl(self, int(answer["pid"]), directory)
        except BaseException:
            self.stop()
            self._busy.release()
            raise

    def read(self, timeout: float) -> dict[str, Any] | None:
        """The server's next answer, or ``None`` after ``timeout`` seconds without one. Read from
        the pipe itself, a line at a time, so that an answer already read is never left waiting in
        a buffer that ``select`` cannot see."""
        process = self._process
        if process is None or process.stdout is None:
            raise ServerGone("the crawl server is not running")
        deadline = time.monotonic() + max(0.0, timeout)
        while b"\n" not in self._pending:
            ready, _, _ = select.select([process.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                return None
            chunk = os.read(process.stdout.fileno(), 65536)
            if not chunk:
                self.stop()
                raise ServerGone(f"the crawl server ended (exit {process.poll()})")
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def release(self) -> None:
        self._busy.release()

    def stop(self) -> None:
        """End the server (a crawl it forked runs on, in its own session)."""
        process, self._process, self._pending = self._process, None, b""
        if process is None:
            return
        for stream in (process.stdin, process.stdout):
            _close(stream)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def _running(self) -> subprocess.Popen[bytes]:
        if self._process is not None and self._process.poll() is None:
            return self._process
        self.stop()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "crawler.warm"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
        return self._process


def _close(stream: IO[bytes] | None) -> None:
    if stream is not None:
        with contextlib.suppress(OSError):
            stream.close()
