"""A server a benchmark starts as a child process (an SMTP sink, nginx): a free port for it, the
server run until the block ends, once it accepts connections, and the CPU time a process used."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

START_WAIT = 10.0
"""Seconds a server is given to accept its first connection."""


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far (Linux: /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A TCP port nothing listens on now (on any loopback address: it is asked on all of them)."""
    with socket.socket() as probe:
        probe.bind(("", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(
    command: list[str], address: tuple[str, int], *, why_not: Callable[[], str] = lambda: ""
) -> Iterator[None]:
    """``command`` running until the block ends, entered once ``address`` accepts a connection;
    ``RuntimeError`` with ``why_not()`` (its log, say) if it exits or is not there in time."""
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL)  # its errors, if any, to ours
    try:
        deadline = time.monotonic() + START_WAIT
        while True:
            try:
                socket.create_connection(address, timeout=1).close()
                break
            except OSError:
                if child.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{command[0]} did not start: {why_not()[-2000:]}") from None
                time.sleep(0.05)
        yield
    finally:
        child.terminate()
        child.wait()
