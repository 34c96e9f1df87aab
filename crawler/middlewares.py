"""Downloader middleware: the SSRF guard's second line, on the address actually connected to.

The resolver already refuses forbidden addresses before any connection; this checks the peer
address Scrapy reports for the response, so even a resolver bypass (a future handler, a proxy
setting turned on by mistake) cannot deliver a response from a forbidden address, nor follow
its redirect.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy import Request
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import CannotResolveHostError, IgnoreRequest
from scrapy.settings import BaseSettings
from twisted.internet.error import DNSLookupError

from crawler.resolver import VERDICTS
from takedown.netpolicy import AddressPolicy

if TYPE_CHECKING:
    from scrapy.crawler import Crawler
    from scrapy.http import Response

log = logging.getLogger(__name__)


class AddressRefused(IgnoreRequest):
    """The response came from an address the policy forbids; it was dropped unread."""


class ConnectedAddressGuard:
    def __init__(self, policy: AddressPolicy) -> None:
        self.policy = policy

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> ConnectedAddressGuard:
        return cls(AddressPolicy.from_strings(crawler.settings.getlist("TAKEDOWN_ALLOW_NETWORKS")))

    def process_response(self, request: Request, response: Response, spider: Any = None) -> Response:
        address = response.ip_address
        if address is None:
            return response
        reason = self.policy.refusal(str(address))
        if reason:
            log.warning("SSRF guard dropped a response from %s for %s", address, request.url)
            raise AddressRefused(f"connected to {reason}")
        return response


FINAL_DNS_STATUSES = frozenset({"nxdomain", "no_address", "refused"})


class NoRetryOnFinalDNSAnswer:
    """Do not retry a name that does not exist or that the SSRF guard refused: the answer is final.

    Sits just outside Scrapy's RetryMiddleware (550), so it sees the exception first and marks the
    request ``dont_retry``; timeouts and other DNS failures are still retried.
    """

    def process_exception(self, request: Request, exception: BaseException, spider: Any = None) -> None:
        if is_dns_failure(exception):
            verdict = VERDICTS.get(urlsplit(request.url).hostname or "")
            if verdict is not None and verdict.status in FINAL_DNS_STATUSES:
                request.meta["dont_retry"] = True
        return None


def is_dns_failure(exception: BaseException) -> bool:
    return isinstance(exception, (CannotResolveHostError, DNSLookupError))


class BackoffRetryMiddleware(RetryMiddleware):
    """Scrapy's retry rules (which failures are transient), with a pause before each retry.

    The pause doubles with each attempt (``TAKEDOWN_RETRY_BACKOFF`` seconds first, at most
    ``TAKEDOWN_RETRY_BACKOFF_MAX``), with jitter so retries to one host do not arrive together, and
    a ``Retry-After`` from the host is honoured up to that maximum. A host in trouble is given
    time, not hammered. Final answers (404, NXDOMAIN, refusals) are never retried.
    """

    def __init__(self, settings: BaseSettings) -> None:
        super().__init__(settings)
        self.backoff = settings.getfloat("TAKEDOWN_RETRY_BACKOFF", 1.0)
        self.backoff_max = settings.getfloat("TAKEDOWN_RETRY_BACKOFF_MAX", 60.0)

    async def process_response(  # type: ignore[override]
        self, request: Request, response: Response, spider: Any = None
    ) -> Request | Response:
        result = super().process_response(request, response)
        if isinstance(result, Request):
            await asyncio.sleep(self.pause(result, retry_after(response)))
        return result

    async def process_exception(  # type: ignore[override]
        self, request: Request, exception: Exception, spider: Any = None
    ) -> Request | Response | None:
        result = super().process_exception(request, exception)
        if isinstance(result, Request):
            await asyncio.sleep(self.pause(result, None))
        return result

    def pause(self, retry: Request, asked: float | None) -> float:
        attempt = max(1, int(retry.meta.get("retry_times", 1)))
        computed = min(self.backoff_max, self.backoff * 2 ** (attempt - 1)) * random.uniform(0.5, 1.0)
        return float(min(self.backoff_max, max(computed, asked or 0.0)))


def retry_after(response: Response) -> float | None:
    """Seconds from a ``Retry-After: <seconds>`` header (the HTTP-date form is ignored)."""
    value = response.headers.get(b"Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value.decode("latin-1").strip()))
    except ValueError:
        return None
