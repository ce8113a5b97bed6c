"""The one clock the SDK reads, so that tests can inject a fake one and take no wall time.

`monotonic()` orders events inside the process (token expiry, bucket refill, backoff);
`time()` is wall-clock Unix seconds, used only to read the server's epoch timestamps
(`X-RateLimit-Reset`, `Retry-After` dates); `sleep()` waits.
"""

from __future__ import annotations

import time as _time
from typing import Protocol

import anyio


class Clock(Protocol):
    """The time source the client reads: `SystemClock` in production,
    `asyncapi_client.testing.FakeClock` in tests."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (deadlines, backoff, buckets)."""

    def time(self) -> float:
        """Unix seconds (token expiry, `Retry-After` dates, rate-limit resets)."""

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` (a cancellation point)."""


class SystemClock:
    """The real clock: `time.monotonic`, `time.time`, `anyio.sleep`."""

    __slots__ = ()

    # The functions themselves, not methods calling them: the client reads the clock four times
    # per call (deadline, retry, limiter), and a Python-level method around a C function
    # doubled what each read cost.
    monotonic = staticmethod(_time.monotonic)
    """`time.monotonic()`."""

    time = staticmethod(_time.time)
    """`time.time()`."""

    async def sleep(self, seconds: float) -> None:
        """`anyio.sleep(seconds)` (a negative wait does not wait)."""
        await anyio.sleep(max(0.0, seconds))

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK = SystemClock()
