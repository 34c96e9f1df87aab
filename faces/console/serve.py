"""How the web faces are served: uvicorn, with no access log and no Server header.

The console's own log says who did what; an access log would only add a list of the URLs
analysts looked at, with their addresses, in one more place (and the portal keeps no client
address at all). The proxy in front logs requests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

from takedown.errors import TakedownError


def console_server(app: FastAPI, *, host: str, port: int, log_level: str = "info") -> uvicorn.Server:
    return uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            access_log=False,
            server_header=False,
            log_level=log_level,
            proxy_headers=False,
        )
    )


@contextmanager
def serving(
    app: FastAPI, *, host: str = "127.0.0.1", port: int = 0, log_level: str = "warning"
) -> Iterator[str]:
    """``app`` served as above from a thread of this process (the demo, the tests, the benchmarks):
    its URL while the block runs; stopped at its end. A :class:`TakedownError` when it cannot listen."""
    server = console_server(app, host=host, port=port, log_level=log_level)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise TakedownError(f"could not listen on {host}:{port} (is the port in use?)")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
