"""A crawl server: the crawl stack imported once, each crawl a fork of it.

``python -m crawler`` spends most of its time importing (Scrapy, Twisted, SQLAlchemy, the store):
1.5 s of a 2.1 s crawl of five URLs, measured with py-spy. The scheduler and the demo start one
every time they revisit, so :func:`schedules.jobs.crawl_job` keeps this server beside it instead:
it imports what ``python -m crawler`` imports, then for each request (one JSON object a line on
stdin: ``argv``, ``env``, ``stdout``, ``stderr``) forks a child that runs the crawler's own entry
point exactly as ``python -m crawler ARGV`` would, with that environment, in a session of its own
and with its output in those files. It answers with the child's pid at once (so that it can be
asked to stop) and with its exit status when it ends, one JSON object a line on stdout.

Nothing is shared between crawls but imported code: the server opens no store, starts no thread and
no reactor before forking (Twisted's reactor cannot be restarted, which is why each crawl is a
process), and each child ends with ``os._exit``. The server ends when its stdin closes, that is
when the process that started it goes away.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
import traceback
from typing import Any

# What a crawl imports once it has started, imported here once for every crawl to come.
import crawler.__main__ as entry
import crawler.processes
import crawler.run
import crawler.spiders.revisit  # noqa: F401


def serve() -> int:
    """Answer requests until stdin closes."""
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        if threading.active_count() != 1:  # forking beside a thread could copy a lock held
            raise RuntimeError("the crawl server must not run threads")
        pid = os.fork()
        if pid == 0:
            _crawl(request)  # never returns
        _answer({"pid": pid})
        _, status = os.waitpid(pid, 0)
        _answer({"pid": pid, "exit": os.waitstatus_to_exitcode(status)})
    return 0


def _answer(message: dict[str, Any]) -> None:
    try:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # whoever started the server has gone: so does the server
        os._exit(0)


def _crawl(request: dict[str, Any]) -> None:
    """In the child: ``python -m crawler ARGV``, as its own session, with the request's environment
    and output files; then exit with its status."""
    code = 1
    try:
        os.setsid()  # a signal to the scheduler's process group does not reach the crawl
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            opened = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(opened, fd)
            os.close(opened)
        os.environ.clear()
        os.environ.update(request["env"])
        code = entry.main(list(request["argv"]))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        traceback.print_exc()
    finally:
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # a broken stream: the status still goes back
                stream.flush()
        os._exit(code)


if __name__ == "__main__":
    sys.exit(serve())
