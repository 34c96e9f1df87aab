"""The shared crawl frontier for several crawler machines: due cases in Redis, leased to workers.

One machine (the scheduler) *feeds* the frontier with the ids of the cases due for a revisit; any
number of crawler workers *claim* batches, revisit them, and *acknowledge* each case once its check
is recorded in the store. A claim is a lease, renewed while the worker is still busy with the case:
a worker that dies leaves its cases to come back to the queue when the lease runs out, so no case
is lost (at worst revisited twice, which only adds a check); a worker that is stopped gracefully
*releases* what it had not checked, at once. A case already queued or leased is not queued again,
so feeding is idempotent.

Three keys per frontier: ``<key>:pending`` (a sorted set, score: when it was fed, so the oldest
goes first; released cases go to the front), ``<key>:leased`` (a sorted set, score: when the lease
ends) and ``<key>:holders`` (a hash: case id -> ``<holder> <claimed at>``). Each operation runs as
one Lua script, so two workers never get the same case, and a worker only renews or releases its
own leases. Times are the Redis server's, so workers' clocks do not matter.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from takedown.errors import ConfigurationError, TakedownError

DEFAULT_KEY = "takedown:frontier"

_NOW = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
"""

_CLAIM = (
    _NOW
    + """
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', t)
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
  redis.call('ZADD', KEYS[1], 'NX', 0, id)
end
local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZADD', KEYS[2], t + tonumber(ARGV[2]), id)
  redis.call('HSET', KEYS[3], id, ARGV[3] .. ' ' .. t)
end
return ids
"""
)

_FEED = (
    _NOW
    + """
local added = 0
for i, id in ipairs(ARGV) do
  if not redis.call('ZSCORE', KEYS[2], id) then
    added = added + redis.call('ZADD', KEYS[1], 'NX', t + (i - 1) * 0.000001, id)
  end
end
return added
"""
)

# ARGV[1]: the holder; ARGV[2]: the new lease (renew) ; ARGV[3..]: case ids. Only the holder's own
# leases are touched: a lease that expired and went to another worker is that worker's now.
_RENEW = (
    _NOW
    + """
local renewed = 0
for i = 3, #ARGV do
  local held = redis.call('HGET', KEYS[2], ARGV[i])
  if held and string.sub(held, 1, #ARGV[1] + 1) == ARGV[1] .. ' ' then
    renewed = renewed + redis.call('ZADD', KEYS[1], 'XX', 'CH', t + tonumber(ARGV[2]), ARGV[i])
  end
end
return renewed
"""
)

_RELEASE = """
local released = 0
for i = 2, #ARGV do
  local held = redis.call('HGET', KEYS[3], ARGV[i])
  if held and string.sub(held, 1, #ARGV[1] + 1) == ARGV[1] .. ' ' then
    redis.call('ZREM', KEYS[2], ARGV[i])
    redis.call('HDEL', KEYS[3], ARGV[i])
    released = released + redis.call('ZADD', KEYS[1], 'NX', 0, ARGV[i])
  end
end
return released
"""

_ACKNOWLEDGE = """
for i = 1, #ARGV do
  redis.call('ZREM', KEYS[1], ARGV[i])
  redis.call('HDEL', KEYS[2], ARGV[i])
end
return #ARGV
"""

Result = TypeVar("Result")


class FrontierUnavailable(TakedownError):
    """The frontier's Redis cannot be reached or refused the command."""


@dataclass(frozen=True)
class HolderLeases:
    """What one crawler holds: how many cases, since when, and how many of its leases ran out."""

    holder: str
    leased: int
    oldest_seconds: float
    """Age of its oldest claim, in seconds."""
    expired: int
    """Leases past their end, not yet taken back (the next claim by anyone takes them back)."""


@dataclass(frozen=True)
class FrontierStatus:
    pending: int
    leased: int
    holders: tuple[HolderLeases, ...]


def default_holder() -> str:
    """This crawler, as ``frontier status`` names it: host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


class RedisFrontier:
    def __init__(
        self,
        url: str,
        *,
        key: str = DEFAULT_KEY,
        lease_seconds: float = 3600.0,
        holder: str | None = None,
    ) -> None:
        try:
            import redis
        except ImportError:
            raise ConfigurationError(
                "a Redis frontier needs the redis package: pip install 'takedown[redis]'"
            ) from None
        self.url = url
        self._errors: tuple[type[Exception], ...] = (redis.exceptions.RedisError,)
        self.client: Any = redis.Redis.from_url(url, socket_connect_timeout=10, socket_timeout=30)
        self.pending = f"{key}:pending"
        self.leased = f"{key}:leased"
        self.holders = f"{key}:holders"
        self.lease_seconds = lease_seconds
        self.holder = holder or default_holder()
        self.held: set[int] = set()
        """Cases this worker claimed and has not yet acknowledged or released."""
        self._held_lock = threading.Lock()
        self._claim = self.client.register_script(_CLAIM)
        self._feed = self.client.register_script(_FEED)
        self._renew = self.client.register_script(_RENEW)
        self._release = self.client.register_script(_RELEASE)
        self._acknowledge = self.client.register_script(_ACKNOWLEDGE)

    def _call(self, operation: Callable[[], Result]) -> Result:
        """Run one Redis operation; a failure is one typed error naming the frontier, not a
        traceback from the Redis client."""
        try:
            return operation()
        except self._errors as exc:
            where = self.client.connection_pool.connection_kwargs
            place = f"{where.get('host', '?')}:{where.get('port', '?')}"
            raise FrontierUnavailable(f"the frontier's Redis at {place} failed: {exc}") from None

    def feed(self, case_ids: Iterable[int], *, batch: int = 5000) -> int:
        """Queue ``case_ids`` unless already queued or leased; how many were new."""
        added = 0
        chunk: list[str] = []
        for case_id in case_ids:
            chunk.append(str(case_id))
            if len(chunk) == batch:
                added += self._feed_chunk(chunk)
                chunk = []
        if chunk:
            added += self._feed_chunk(chunk)
        return added

    def _feed_chunk(self, chunk: list[str]) -> int:
        return int(self._call(lambda: self._feed(keys=[self.pending, self.leased], args=chunk)))

    def claim(self, count: int) -> list[int]:
        """Up to ``count`` cases, oldest first, leased to this holder for ``lease_seconds``."""
        ids = self._call(
            lambda: self._claim(
                keys=[self.pending, self.leased, self.holders], args=[count, self.lease_seconds, self.holder]
            )
        )
        claimed = [int(i) for i in ids]
        with self._held_lock:
            self.held.update(claimed)
        return claimed

    def acknowledge(self, case_ids: Iterable[int]) -> None:
        """These cases' checks are recorded: they leave the frontier."""
        ids = [int(i) for i in case_ids]
        if ids:
            self._call(lambda: self._acknowledge(keys=[self.leased, self.holders], args=ids))
        with self._held_lock:
            self.held.difference_update(ids)

    def renew(self) -> int:
        """Extend the leases of every case this worker still holds; how many were extended."""
        with self._held_lock:
            ids = sorted(self.held)
        if not ids:
            return 0
        return int(
            self._call(
                lambda: self._renew(
                    keys=[self.leased, self.holders], args=[self.holder, self.lease_seconds, *ids]
                )
            )
        )

    def release(self, case_ids: Iterable[int] | None = None) -> int:
        """Give back, at once, the cases this worker holds and has not checked (all of them: a
        graceful stop; ``case_ids``: checks that could not be recorded): they go to the front of
        the queue for the other crawlers. How many were given back."""
        with self._held_lock:
            chosen = self.held if case_ids is None else self.held & {int(i) for i in case_ids}
            ids = sorted(chosen)
            self.held -= set(ids)
        if not ids:
            return 0
        return int(
            self._call(
                lambda: self._release(
                    keys=[self.pending, self.leased, self.holders], args=[self.holder, *ids]
                )
            )
        )

    def sizes(self) -> dict[str, int]:
        return {
            "pending": int(self._call(lambda: self.client.zcard(self.pending))),
            "leased": int(self._call(lambda: self.client.zcard(self.leased))),
        }

    def status(self) -> FrontierStatus:
        """Queue sizes, and the leases by holder: how many, how old, how many expired."""
        leases = self._call(lambda: self.client.zrange(self.leased, 0, -1, withscores=True))
        holders = self._call(lambda: self.client.hgetall(self.holders))
        seconds, micros = self._call(lambda: self.client.time())
        now = seconds + micros / 1_000_000
        by_holder: dict[str, list[tuple[float, bool]]] = {}
        for raw_id, ends in leases:
            entry = holders.get(raw_id, b"? 0").decode()
            name, _, claimed = entry.rpartition(" ")
            by_holder.setdefault(name or "?", []).append((float(claimed or 0), ends <= now))
        summary = tuple(
            HolderLeases(
                holder=name,
                leased=len(entries),
                oldest_seconds=round(now - min(claimed for claimed, _ in entries), 1),
                expired=sum(expired for _, expired in entries),
            )
            for name, entries in sorted(by_holder.items())
        )
        return FrontierStatus(pending=self.sizes()["pending"], leased=len(leases), holders=summary)

    def clear(self) -> None:
        self._call(lambda: self.client.delete(self.pending, self.leased, self.holders))
