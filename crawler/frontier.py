"""The shared crawl frontier for several crawler machines: due cases in Redis, leased to workers.

One machine (the scheduler) *feeds* the frontier with the ids of the cases due for a revisit; any
number of crawler workers *claim* batches, revisit them, and *acknowledge* them once their checks
are recorded in the store. A claim is a lease: a worker that dies leaves its batch to come back
to the queue when the lease runs out, so no case is lost (at worst revisited twice, which only
adds a check). A case already queued or leased is not queued again, so feeding is idempotent.

Two sorted sets per frontier: ``<key>:pending`` (score: when it was fed, in the order fed, so the
oldest goes first)
and ``<key>:leased`` (score: when the lease ends). Claiming runs as one Lua script, so two workers
never get the same case. Times are the Redis server's, so workers' clocks do not matter.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from takedown.errors import ConfigurationError

_CLAIM = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', t)
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZADD', KEYS[1], 'NX', 0, id)
end
local ids = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZADD', KEYS[2], t + tonumber(ARGV[2]), id)
end
return ids
"""

_FEED = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
local added = 0
for i, id in ipairs(ARGV) do
  if not redis.call('ZSCORE', KEYS[2], id) then
    added = added + redis.call('ZADD', KEYS[1], 'NX', t + (i - 1) * 0.000001, id)
  end
end
return added
"""


class RedisFrontier:
    def __init__(self, url: str, *, key: str = "takedown:frontier", lease_seconds: float = 3600.0) -> None:
        try:
            import redis
        except ImportError:
            raise ConfigurationError(
                "a Redis frontier needs the redis package: pip install 'takedown[redis]'"
            ) from None
        self.client: Any = redis.Redis.from_url(url)
        self.pending = f"{key}:pending"
        self.leased = f"{key}:leased"
        self.lease_seconds = lease_seconds
        self._claim = self.client.register_script(_CLAIM)
        self._feed = self.client.register_script(_FEED)

    def feed(self, case_ids: Iterable[int], *, batch: int = 5000) -> int:
        """Queue ``case_ids`` unless already queued or leased; how many were new."""
        added = 0
        chunk: list[str] = []
        for case_id in case_ids:
            chunk.append(str(case_id))
            if len(chunk) == batch:
                added += int(self._feed(keys=[self.pending, self.leased], args=chunk))
                chunk = []
        if chunk:
            added += int(self._feed(keys=[self.pending, self.leased], args=chunk))
        return added

    def claim(self, count: int) -> list[int]:
        """Up to ``count`` cases, oldest first, leased to the caller for ``lease_seconds``."""
        ids = self._claim(keys=[self.pending, self.leased], args=[count, self.lease_seconds])
        return [int(i) for i in ids]

    def acknowledge(self, case_ids: Iterable[int]) -> None:
        """These cases' checks are recorded: they leave the frontier."""
        ids = [str(i) for i in case_ids]
        if ids:
            self.client.zrem(self.leased, *ids)

    def sizes(self) -> dict[str, int]:
        return {
            "pending": int(self.client.zcard(self.pending)),
            "leased": int(self.client.zcard(self.leased)),
        }

    def clear(self) -> None:
        self.client.delete(self.pending, self.leased)
