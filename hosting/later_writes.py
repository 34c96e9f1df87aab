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
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from takedown.store import Store

log = logging.getLogger(__name__)

Write = Callable[[Session], None]


class LaterWrites:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._held: list[tuple[str, Write]] | None = None

    def write(self, what: str, write: Write) -> None:
        """Run ``write`` in a transaction now, or at the end of the open :meth:`holding`.

        ``what`` names the kind of answer (``network``, ``registration``) for the operator's
        warning when a held round cannot be written."""
        with self._lock:
            if self._held is not None:
                self._held.append((what, write))
                return
        self._commit([(what, write)])

    @contextmanager
    def holding(self) -> Iterator[None]:
        """Writes made meanwhile, from any thread, are committed together at the end. Nested: the
        outermost holder writes."""
        with self._lock:
            nested = self._held is not None
            if not nested:
                self._held = []
        try:
            yield
        finally:
            if not nested:
                with self._lock:
                    held, self._held = self._held or [], None
                if held:
                    self._commit(held)

    def _commit(self, held: list[tuple[str, Write]]) -> None:
        try:
            with self.store.session() as session:
                for _what, write in held:
                    write(session)
                    session.flush()  # the next write may replace this one's row
        except SQLAlchemyError as exc:  # only a cache: the round it sped up goes on
            kinds = Counter(what for what, _write in held)
            counted = ", ".join(f"{count} {_plural(what, count)}" for what, count in sorted(kinds.items()))
            log.warning("not kept in the store: %s (%s)", counted, exc)


def _plural(what: str, count: int) -> str:
    return what if count == 1 else f"{what}s"
