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
    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock: `time.monotonic`, `time.time`, `anyio.sleep`."""

    __slots__ = ()

    def monotonic(self) -> float:
        return _time.monotonic()

    def time(self) -> float:
        return _time.time()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(max(0.0, seconds))

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK = SystemClock()
