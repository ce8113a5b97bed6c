"""Client-side rate limiting (placeholder until the rate-limit issue lands)."""

from __future__ import annotations

import attrs

from .._clock import Clock
from .._pipeline import CallNext
from .._stats import ClientStats
from .._types import Request, Response


@attrs.frozen
class RateLimit:
    rate: float | None = None
    burst: int | None = None


class RateLimitMiddleware:
    def __init__(self, config: RateLimit | None, *, clock: Clock, stats: ClientStats) -> None:
        self.config = config
        self._clock = clock
        self._stats = stats

    def status(self) -> dict[str, object]:
        return {"rate_limited": self._stats.rate_limited}

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        response = await call_next(request)
        if response.status_code == 429:
            self._stats.rate_limited += 1
        return response
