"""Downloader middleware: the SSRF guard's second line, on the address actually connected to.

The resolver already refuses forbidden addresses before any connection; this checks the peer
address Scrapy reports for the response, so even a resolver bypass (a future handler, a proxy
setting turned on by mistake) cannot deliver a response from a forbidden address, nor follow
its redirect.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from scrapy.exceptions import CannotResolveHostError, IgnoreRequest
from twisted.internet.error import DNSLookupError

from crawler.resolver import VERDICTS
from takedown.netpolicy import AddressPolicy

if TYPE_CHECKING:
    from scrapy import Request
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
