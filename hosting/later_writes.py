"""Cache writes held back and committed together: one transaction per round, not one per answer.

A round of resolution learns hundreds of networks and registrations. Written one by one, each took
the store's write lock and, on SQLite, a commit that every crawler and the portal waited for. The
registry caches (:mod:`hosting.cache`, :mod:`hosting.domain_cache`) hand their writes to one
:class:`LaterWrites`; while :meth:`LaterWrites.holding` is open they are kept, and at its end they
are written in a single transaction. They are only caches: a write lost with a crash or refused by
the store means the registry is asked again, so a failure is logged, never raised into the round.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from takedown.clock import Clock, SystemClock
from takedown.store import Store

log = logging.getLogger(__name__)

Writer = Callable[[Session, Sequence[Any]], None]
"""Writes a list of one cache's answers in the session given (in bulk: a round holds hundreds)."""


class LaterWrites:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._held: dict[tuple[str, Writer], list[Any]] | None = None

    def write(self, what: str, writer: Writer, item: Any) -> None:
        """Have ``writer`` store ``item`` now, or with the others it gets, at the end of the open
        :meth:`holding`.

        ``what`` names the kind of answer (``network``, ``registration``) for the operator's
        warning when the store refuses them."""
        with self._lock:
            if self._held is not None:
                self._held.setdefault((what, writer), []).append(item)
                return
        self._commit({(what, writer): [item]})

    @contextmanager
    def holding(self) -> Iterator[None]:
        """Writes made meanwhile, from any thread, are committed together at the end: each writer
        called once with its items, all in one transaction. Nested: the outermost holder writes."""
        with self._lock:
            nested = self._held is not None
            if not nested:
                self._held = {}
        try:
            yield
        finally:
            if not nested:
                with self._lock:
                    held, self._held = self._held or {}, None
                if held:
                    self._commit(held)

    def _commit(self, held: dict[tuple[str, Writer], list[Any]]) -> None:
        try:
            with self.store.session() as session:
                for (_what, writer), items in held.items():
                    writer(session, items)
        except SQLAlchemyError as exc:  # only a cache: the round it sped up goes on
            counted = ", ".join(
                f"{len(items)} {_plural(what, len(items))}" for (what, _), items in held.items()
            )
            log.warning("not kept in the store: %s (%s)", counted, exc)


class StoredCache:
    """What the two registry caches share: answers kept for ``ttl``, in memory and, when a store
    is given, in the store through ``writes``, which a round shares between them so that it
    commits both in one transaction; and the hits and misses a benchmark prints."""

    def __init__(
        self, store: Store | None, *, clock: Clock | None, ttl: timedelta, writes: LaterWrites | None
    ) -> None:
        self.store = store
        self.clock = clock or SystemClock()
        self.ttl = ttl
        self.writes = writes or (LaterWrites(store) if store is not None else None)
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def _counted(self, found: bool) -> None:
        with self._lock:
            if found:
                self.hits += 1
            else:
                self.misses += 1


def _plural(what: str, count: int) -> str:
    return what if count == 1 else f"{what}s"
