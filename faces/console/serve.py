"""How the console is served: uvicorn, with no access log and no Server header.

The console's own log says who did what; an access log would only add a list of the URLs
analysts looked at, with their addresses, in one more place. The proxy in front logs requests.
"""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI


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
