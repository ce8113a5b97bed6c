"""Test utilities for code that uses the SDK.

`FakeClock`, a virtual clock to pass as `clock=` to anything that takes one (`AsyncClient`, the
auth strategies, `WebhookReceiver`, ...), so time-based code is tested exactly and without
waiting. The sandbox's pytest fixtures live in `asyncapi_sandbox.pytest_plugin`.
"""

from __future__ import annotations

import anyio
import anyio.lowlevel

DEFAULT_EPOCH = 1_790_000_000.0
"""What `FakeClock().time()` reads at `monotonic()` 0: 2026-09-21T14:13:20Z."""


class FakeClock:
    """A virtual clock with the SDK's `Clock` protocol (`monotonic()`, `time()`, `sleep()`).

    Time moves only when code sleeps on it or a test calls `advance()`, so a test of backoff,
    token expiry or rate limiting is exact and takes no wall time:

        clock = FakeClock()
        client = AsyncClient(url, clock=clock, ...)
        ...
        assert clock.sleeps == [0.5, 1.0]     # the backoff delays the client asked for

    - `start`: what `monotonic()` reads at first; `now` holds the current reading.
    - `epoch`: wall-clock Unix seconds at `monotonic()` 0; `time()` is `epoch + now`, so server
      timestamps (`Retry-After` dates, `X-RateLimit-Reset`, webhook signatures) can be built
      relative to it.
    - `sleep(seconds)` records `seconds` in `sleeps`, moves `now` forward at once and yields to
      the event loop (a checkpoint, like a real sleep). With `block=True` it records the delay
      and then waits until cancelled instead: for testing what happens to a caller cancelled
      mid-sleep.
    - `sleeping`: an `anyio.Event` set when a `sleep()` starts; `await clock.sleeping.wait()`
      to know that the code under test has reached a sleep (with `block=True`, that it is parked
      there).
    - `advance(seconds)`: move time forward without sleeping (e.g. to expire a token, or to make
      a fake server's reply "take" time).

    Sleeps do not interact with anyio's own timers: code that waits with `anyio.sleep` or a
    `fail_after` deadline still waits in real time.
    """

    def __init__(self, start: float = 0.0, *, epoch: float = DEFAULT_EPOCH, block: bool = False) -> None:
        self.now = start
        self.epoch = epoch
        self.block = block
        self.sleeps: list[float] = []
        self.sleeping = anyio.Event()

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.epoch + self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.sleeping.set()
        if self.block:
            await anyio.sleep_forever()
        self.now += max(0.0, seconds)
        await anyio.lowlevel.checkpoint()

    def __repr__(self) -> str:
        return f"FakeClock(now={self.now!r}, sleeps={len(self.sleeps)})"
