"""Why a resolution step failed, as types a caller can act on.

Resolution is best effort: one failed lookup (a registry rate-limiting us, a TLD without RDAP) must
not lose what the other lookups found. These errors are therefore mostly *recorded* on a partial
result, and raised only by the single-lookup functions underneath.
"""

from __future__ import annotations

from datetime import datetime

from takedown.errors import TakedownError
from takedown.plain import iso


class ResolutionError(TakedownError):
    """A lookup that could not give an answer."""


class NotFound(ResolutionError):
    """The registry has no object for what was asked (RDAP 404)."""


class Unsupported(ResolutionError):
    """Nothing serves this question: no RDAP service for the TLD or range in the bootstrap."""


class RateLimited(ResolutionError):
    """A registry asked us to slow down (HTTP 429), or is still cooling down from having asked.

    ``retry_at`` is when it may be asked again: callers re-queue the lookup for then, they never
    sleep, so one slow registry never holds up the others.
    """

    def __init__(self, registry: str, retry_at: datetime) -> None:
        super().__init__(f"{registry} is rate limiting RDAP queries; retry after {iso(retry_at)}")
        self.registry = registry
        self.retry_at = retry_at


class RegistryUnavailable(ResolutionError):
    """The registry did not answer usefully (timeout, refused, 5xx, a body too large)."""


class MalformedResponse(ResolutionError):
    """The registry answered with something that is not the RDAP object asked for."""
