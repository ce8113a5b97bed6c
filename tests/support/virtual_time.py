"""Virtual time for the limiter's tests, and a simulated rate-limited server.

`virtual_time()` patches the running asyncio loop so that its clock is virtual: when every task
is waiting, the loop jumps straight to the next timer instead of sleeping (the approach of
aiotools' VirtualClock). `anyio.sleep`, cancel-scope deadlines and the `VirtualClock` below all
read that one clock, so tests are exact, deterministic and take no wall time. Only for tests
that do no real I/O. (A client's retries draw their jitter from `random.random` unless its
`random=` is given: runs through retries differ by that draw, a seeded one replays a run.)

Virtual time can stand still where real time cannot: a positive sleep too short for the clock
to represent at its reading (under 1e-13 s near 1000 s) is due at once, so code that sleeps
until time has moved would spin forever, as would a loop that only yields; a real clock moves on
by the next turn of the loop. Either is reported as a `RuntimeError` (past `STILL_LIMIT` or
`STUCK_LIMIT`), not left to spin: a spin used to hang the process, growing by the `sleeps` that
`VirtualClock` records.

Not `asyncapi_client.testing.FakeClock`: that one moves only on the SDK's own `clock.sleep()`,
while the limiter's tests also need anyio's timers (waiters parked on events, cancel-scope
deadlines, a simulated server's latency) to run on the same virtual time.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import anyio

from asyncapi_client import Request, Response

WALL_EPOCH = 1_700_000_000.0
# Sleeps too short for the clock to represent, at one instant, before a run is declared spinning
# (a spin makes tens of thousands a second; a run of 2,000 limited calls makes none).
STILL_LIMIT = 1000
# Turns of the loop at one instant, whatever they run, before the same verdict: a burst of calls
# at one instant takes a few turns each (at most 4 in a row in the limiter's runs), a spin on
# `sleep(0)` never ends.
STUCK_LIMIT = 1_000_000


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
    original_select = selector.select
    original_call_later = loop.call_later
    # Turns of the loop since time last moved, and sleeps since then that it could not represent.
    still = [0, 0]

    def time() -> float:
        return now[0]

    def spinning() -> RuntimeError:
        message = (
            f"virtual time: time cannot move at {now[0]!r} (the loop turned {still[0]} times there, "
            f"{still[1]} sleeps too short for the clock to represent): a task is spinning, "
            "waiting for time to pass with sleeps that take none"
        )
        still[0] = still[1] = 0  # so that the loop can still cancel and close its tasks
        return RuntimeError(message)

    def call_later(delay: float, callback: Any, *args: Any, context: Any = None) -> asyncio.TimerHandle:
        if delay > 0 and now[0] + delay == now[0]:
            still[1] += 1
            if still[1] > STILL_LIMIT:
                raise spinning()  # in the sleeping task: its traceback shows who sleeps
        return original_call_later(delay, callback, *args, context=context)

    def select(timeout: float | None = None) -> Any:
        events = original_select(0)
        if events:
            still[0] = still[1] = 0
            return events
        if timeout is None:
            raise RuntimeError("virtual time: every task is waiting and no timer is set (deadlock)")
        before = now[0]
        if timeout > 0:
            now[0] += timeout
        if now[0] != before:
            still[0] = still[1] = 0
            return events
        still[0] += 1
        if still[0] > STUCK_LIMIT:
            raise spinning()
        return events

    patched = [(loop, "time", time), (loop, "call_later", call_later), (selector, "select", select)]
    # What the loop had set on itself (usually nothing: its class's methods), to put back as it was.
    kept = [(owner, name, vars(owner).get(name)) for owner, name, _ in patched]
    for owner, name, replacement in patched:
        setattr(owner, name, replacement)
    try:
        yield VirtualClock()
    finally:
        for owner, name, value in kept:
            if value is None:
                delattr(owner, name)
            else:
                setattr(owner, name, value)


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


NGINX_429_PAGE = (
    b"<html>\r\n<head><title>429 Too Many Requests</title></head>\r\n<body>\r\n"
    b"<center><h1>429 Too Many Requests</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)
ENVELOPE_429 = b'{"error":{"code":"RATE_LIMITED","message":"Too many requests","details":{}}}'


class LimitReqServer:
    """nginx's `limit_req` (rate, `burst=`, `nodelay`), as a MockTransport handler on the
    virtual clock, with no rate-limit headers: the excess counter of
    `ngx_http_limit_req_lookup` (it drains at `rate` per second from the last accepted
    request; a request is accepted while the excess it leaves is at most `burst`).

    `style`: `"html"` answers 429 with nginx's own HTML page and nothing else; `"json"` with the
    JSON error envelope and `Retry-After: 1`. `ok` / `limited` count the answers, `sent` the
    arrival times.
    """

    def __init__(
        self,
        clock: VirtualClock,
        *,
        rate: float,
        burst: int,
        latency: float = 0.002,
        style: str = "html",
        jitter: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.clock = clock
        self.jitter = jitter
        self.random = random.Random(seed)
        self.rate = rate
        self.burst = burst
        self.latency = latency
        self.style = style
        self.excess = 0.0
        self.last: float | None = None
        self.ok = 0
        self.limited = 0
        self.arrivals: list[float] = []
        self.limited_at: list[float] = []
        self.body = b'{"id":1,"name":"Ada","email":"ada@example.com","created_at":"2024-01-01T00:00:00Z"}'

    def admit(self, now: float) -> bool:
        last = self.last
        excess = 0.0 if last is None else max(0.0, self.excess - self.rate * (now - last)) + 1.0
        if excess > self.burst:
            return False
        self.excess = excess
        self.last = now
        return True

    async def __call__(self, request: Request) -> Response:
        if self.latency or self.jitter:
            await anyio.sleep(self.latency / 2 + self.jitter * self.random.random())
        now = self.clock.monotonic()
        self.arrivals.append(now)
        allowed = self.admit(now)
        if self.latency or self.jitter:
            await anyio.sleep(self.latency / 2 + self.jitter * self.random.random())
        if allowed:
            self.ok += 1
            return Response(200, {"content-type": "application/json"}, self.body)
        self.limited += 1
        self.limited_at.append(now)
        if self.style == "json":
            return Response(429, {"content-type": "application/json", "retry-after": "1"}, ENVELOPE_429)
        return Response(429, {"content-type": "text/html"}, NGINX_429_PAGE)
