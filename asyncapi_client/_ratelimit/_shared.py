"""The wait for a shared bucket (`RateLimit(backend=...)`): one reservation per attempt.

The backend reserves a token and says how long to wait before using it; the wait is a sleep on
the client's clock. A reservation that would pass the call's deadline (or `max_wait`) is refused
by the backend and nothing is taken; a waiter cancelled while it sleeps gives its reserved token
back, so the other processes do not lose it. A pause the server set (Retry-After) is pushed to
the backend, capped, so that every process sharing the bucket pauses.
"""

from __future__ import annotations

import anyio

from .._clock import Clock
from ._config import RateLimitBackend


class SharedBucket:
    """One backend, with the rate and burst of its buckets."""

    __slots__ = ("backend", "rate", "burst", "_clock")

    def __init__(self, backend: RateLimitBackend, *, rate: float, burst: int, clock: Clock) -> None:
        self.backend = backend
        self.rate = rate
        self.burst = burst
        self._clock = clock

    async def wait(self, key: str, max_wait: float | None) -> float | None:
        """Reserve a token of bucket `key` and sleep until it is due; the seconds waited, or
        None when the backend refused (the wait would pass `max_wait`; nothing was taken)."""
        backend = self.backend
        wait = await backend.acquire(key, rate=self.rate, burst=self.burst, max_wait=max_wait)
        if wait is None:
            return None
        if wait > 0:
            try:
                await self._clock.sleep(wait)
            except BaseException:
                # Cancelled while waiting: give the reserved token back to everyone.
                with anyio.CancelScope(shield=True):
                    await backend.release(key, rate=self.rate, burst=self.burst)
                raise
        return wait

    async def pause(self, key: str, seconds: float) -> None:
        await self.backend.pause(key, seconds, rate=self.rate, burst=self.burst)

    async def aclose(self) -> None:
        await self.backend.aclose()
