"""Virtual time for the limiter's tests, and a simulated rate-limited server.

`virtual_time()` patches the running asyncio loop so that its clock is virtual: when every task
is waiting, the loop jumps straight to the next timer instead of sleeping (the approach of
aiotools' VirtualClock). `anyio.sleep`, cancel-scope deadlines and the `VirtualClock` below all
read that one clock, so tests are exact, deterministic and take no wall time. Only for tests
that do no real I/O.

Not `asyncapi_client.testing.FakeClock`: that one moves only on the SDK's own `clock.sleep()`,
while the limiter's tests also need anyio's timers (waiters parked on events, cancel-scope
deadlines, a simulated server's latency) to run on the same virtual time.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio

from asyncapi_client import Request, Response

WALL_EPOCH = 1_700_000_000.0


class VirtualClock:
    """The SDK's Clock protocol on the loop's virtual time; `time()` is `WALL_EPOCH + monotonic()`."""

    def __init__(self, wall_offset: float = WALL_EPOCH) -> None:
        self.wall_offset = wall_offset
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return asyncio.get_running_loop().time()

    def time(self) -> float:
        return self.wall_offset + self.monotonic()

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        await anyio.sleep(max(0.0, seconds))


@contextmanager
def virtual_time(start: float = 1000.0) -> Iterator[VirtualClock]:
    """Make the running loop's time virtual for the duration (see the module docstring)."""
    loop = asyncio.get_running_loop()
    selector: Any = loop._selector  # type: ignore[attr-defined]
    now = [start]
    original_time = loop.time
    original_select = selector.select

    def time() -> float:
        return now[0]

    def select(timeout: float | None = None) -> Any:
        events = original_select(0)
        if events:
            return events
        if timeout is None:
            raise RuntimeError("virtual time: every task is waiting and no timer is set (deadlock)")
        if timeout > 0:
            now[0] += timeout
        return events

    loop.time = time  # type: ignore[method-assign]
    selector.select = select
    try:
        yield VirtualClock()
    finally:
        loop.time = original_time  # type: ignore[method-assign]
        selector.select = original_select


class SimulatedServer:
    """The API contract's rate limiting, as a MockTransport handler on the virtual clock.

    A token bucket of `burst` refilling at `rate`/s; each response carries X-RateLimit-Limit,
    -Remaining (floor) and -Reset (ceil epoch seconds when full, or delta seconds); past it, 429
    with Retry-After (ceil seconds until one token). `latency` is split around the bucket check.
    """

    def __init__(
        self,
        clock: VirtualClock,
        *,
        rate: float,
        burst: int,
        latency: float = 0.002,
        reset_format: str = "epoch",
        retry_after: bool = True,
    ) -> None:
        self.clock = clock
        self.rate = rate
        self.burst = burst
        self.latency = latency
        self.reset_format = reset_format
        self.retry_after = retry_after
        self.tokens = float(burst)
        self.updated = clock.monotonic()
        self.ok = 0
        self.limited = 0
        self.arrivals: list[float] = []

    async def __call__(self, request: Request) -> Response:
        clock = self.clock
        if self.latency:
            await anyio.sleep(self.latency / 2)
        now = clock.monotonic()
        self.arrivals.append(now)
        self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        allowed = self.tokens >= 1.0
        if allowed:
            self.tokens -= 1.0
        full_in = (self.burst - self.tokens) / self.rate
        if self.reset_format == "epoch":
            reset = str(math.ceil(clock.time() + full_in))
        else:
            reset = str(math.ceil(full_in))
        headers = {
            "x-ratelimit-limit": str(self.burst),
            "x-ratelimit-remaining": str(math.floor(self.tokens)),
            "x-ratelimit-reset": reset,
        }
        if allowed:
            self.ok += 1
            status = 200
        else:
            self.limited += 1
            status = 429
            if self.retry_after:
                headers["retry-after"] = str(max(1, math.ceil((1.0 - self.tokens) / self.rate)))
        if self.latency:
            await anyio.sleep(self.latency / 2)
        return Response.json_response(status, {"ok": allowed}, headers=headers)
