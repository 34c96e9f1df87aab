"""Scrapy's downloader with per-slot concurrency that actually holds under the asyncio reactor.

In Scrapy 2.19, ``Downloader._process_queue`` takes requests off a slot's queue while
``slot.free_transfer_slots() > 0``, but a request only joins ``slot.transferring`` once its
download coroutine starts, and with the asyncio reactor that coroutine is scheduled as a task, so
it starts *after* the loop has drained the whole queue. CONCURRENT_REQUESTS_PER_DOMAIN is then not
enforced at all (measured against the sandbox: 6 requests at once to one server with a limit of 2).

The fix counts the request as transferring the moment it is taken off the queue. The test
``test_politeness_holds_per_server...`` measures it from the server's side.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from scrapy import Request
from scrapy.core.downloader import Downloader, Slot
from twisted.internet.defer import Deferred


class PoliteDownloader(Downloader):
    def _wait_for_download(
        self, slot: Slot, request: Request, queue_dfd: Deferred[Any]
    ) -> Coroutine[Any, Any, None]:
        slot.transferring.add(request)  # counted now; the download itself removes it when done
        return super()._wait_for_download(slot, request, queue_dfd)
