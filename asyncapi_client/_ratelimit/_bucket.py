"""An in-process token bucket on anyio: FIFO-fair, cancellation-safe, no busy loop.

Waiters queue in arrival order. Only the head of the queue sleeps, and exactly until the next
token is due (or the pause ends); the others wait on their own event until they become the head.
A token is taken only at the moment it is granted, so a cancelled waiter takes nothing and simply
leaves the queue (handing the head's role on); no token is lost. When the rate rises or tokens
come back, the head's sleep is cut short so that it recomputes.

The clock is injected (`monotonic()` and `sleep()`), so tests run in virtual time.
"""

from __future__ import annotations

import contextlib
import math
from collections import deque
from typing import Final

import anyio

from .._clock import Clock

_EPSILON: Final = 1e-9


class WaitTooLong(Exception):
    """Raised by `acquire` (before queueing) when the wait would pass the caller's limit."""

    def __init__(self, wait: float, *, deadline_hit: bool) -> None:
        super().__init__(wait)
        self.wait = wait
        self.deadline_hit = deadline_hit


class _Waiter:
    __slots__ = ("promoted",)

    def __init__(self) -> None:
        self.promoted = anyio.Event()


class TokenBucket:
    """`capacity` tokens, refilled at `rate` per second (math.inf: never binding).

    `tokens` may go negative: a debt (the server said it is emptier than we thought) that the
    refill pays back before the next grant. `paused_until` (monotonic) blocks every grant.
    """

    __slots__ = (
        "rate",
        "capacity",
        "tokens",
        "updated",
        "paused_until",
        "_clock",
        "_queue",
        "_head_scope",
    )

    def __init__(self, clock: Clock, *, rate: float, capacity: float, tokens: float | None = None) -> None:
        self._clock = clock
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity if tokens is None else tokens
        self.updated = clock.monotonic()
        self.paused_until = -math.inf
        self._queue: deque[_Waiter] = deque()
        self._head_scope: anyio.CancelScope | None = None

    # -- state ----------------------------------------------------------------------------

    def refill(self, now: float) -> None:
        elapsed = now - self.updated
        if elapsed > 0:
            self.updated = now
            tokens = self.tokens
            capacity = self.capacity
            if tokens < capacity:
                tokens += elapsed * self.rate
                self.tokens = tokens if tokens < capacity else capacity
        elif self.rate == math.inf:
            self.tokens = self.capacity

    def set_rate(self, rate: float, now: float) -> None:
        """Change the refill rate from `now` on (what has refilled so far is kept)."""
        if rate == self.rate:
            return
        self.refill(now)
        faster = rate > self.rate
        self.rate = rate
        if faster:
            self._kick()

    def set_capacity(self, capacity: float, now: float) -> None:
        self.refill(now)
        self.capacity = capacity
        if self.tokens > capacity:
            self.tokens = capacity
        else:
            self._kick()

    def cap_tokens(self, limit: float, now: float) -> None:
        """At most `limit` tokens now (the server said it has fewer than we thought)."""
        self.refill(now)
        if self.tokens > limit:
            self.tokens = limit

    def give_back(self, now: float) -> None:
        self.refill(now)
        self.tokens = min(self.capacity, self.tokens + 1.0)
        self._kick()

    def pause_until(self, until: float) -> None:
        """No grant before `until` (monotonic). Only ever extends a pause."""
        if until > self.paused_until:
            self.paused_until = until

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def wait_estimate(self, now: float, ahead: int) -> float:
        """Seconds until a waiter with `ahead` waiters before it would be granted, at today's rate."""
        self.refill(now)
        need = ahead + 1.0 - self.tokens
        wait = 0.0
        if need > _EPSILON:
            rate = self.rate
            wait = math.inf if rate <= 0 else (0.0 if rate == math.inf else need / rate)
        pause = self.paused_until - now
        return pause if pause > wait else wait

    # -- taking tokens --------------------------------------------------------------------

    def try_take(self, now: float) -> bool:
        """Take a token at once if one is there and nobody is queued (the hot path)."""
        if self._queue or now < self.paused_until:
            return False
        self.refill(now)
        if self.tokens >= 1.0 - _EPSILON:
            self.tokens -= 1.0
            return True
        return False

    async def acquire(self, *, deadline: float | None = None, max_wait: float | None = None) -> float:
        """Wait in line for a token; return the seconds waited.

        Raises `WaitTooLong` at once, without queueing, when the wait (at the current rate)
        would pass `deadline` (monotonic) or exceed `max_wait`; and again, at the head of the
        queue, if the rate fell meanwhile.
        """
        clock = self._clock
        start = clock.monotonic()
        if self.try_take(start):
            return 0.0
        self._check(self.wait_estimate(start, len(self._queue)), start, deadline, max_wait, start)
        waiter = _Waiter()
        queue = self._queue
        queue.append(waiter)
        try:
            if queue[0] is not waiter:
                await waiter.promoted.wait()
            while True:
                now = clock.monotonic()
                self.refill(now)
                if now >= self.paused_until and self.tokens >= 1.0 - _EPSILON:
                    self.tokens -= 1.0
                    queue.popleft()
                    if queue:
                        queue[0].promoted.set()
                    return now - start
                delay = self.wait_estimate(now, 0)
                self._check(delay, now, deadline, max_wait, start)
                with anyio.CancelScope() as scope:
                    self._head_scope = scope
                    try:
                        await clock.sleep(delay)
                    finally:
                        self._head_scope = None
        except BaseException:
            # Cancelled, timed out or failed: leave the line; hand the head's role on.
            if queue and queue[0] is waiter:
                queue.popleft()
                if queue:
                    queue[0].promoted.set()
            else:
                with contextlib.suppress(ValueError):
                    queue.remove(waiter)
            raise

    @staticmethod
    def _check(wait: float, now: float, deadline: float | None, max_wait: float | None, start: float) -> None:
        if deadline is not None and now + wait > deadline:
            raise WaitTooLong(wait, deadline_hit=True)
        if max_wait is not None and (now - start) + wait > max_wait:
            raise WaitTooLong(wait, deadline_hit=False)

    def _kick(self) -> None:
        """Wake the sleeping head so it recomputes its wait (the rate rose, tokens came back)."""
        scope = self._head_scope
        if scope is not None:
            scope.cancel()
