"""An in-process token bucket on anyio: FIFO-fair, cancellation-safe, deadline-bounded, no busy loop.

Waiters queue in arrival order. Only the head of the queue sleeps, and exactly until the next
token is due, the pause ends, or the earliest deadline in the queue comes; the others wait on
their own event until they become the head (or their deadline passes: the head expires them).
A token is taken only at the moment it is granted, so a cancelled waiter takes nothing and simply
leaves the queue (handing the head's role on); no token is lost. When the rate rises or tokens
come back, the head's sleep is cut short so that it recomputes.

A waiter is refused before its deadline only when the *server* said how long to wait (a pause
set with `server=True`: Retry-After, or Reset with nothing left) and that pause ends past the
deadline. The bucket's own arithmetic (rate, queue length) is an estimate that the next
response may change, so it never refuses anyone early: a waiter waits until its deadline.

While the bucket is *gated* (the partition knows nothing of the server yet) at most `window`
grants are out at a time, starting with one (the probe): each answer that teaches nothing lets
one more out (a slow start: the window doubles every round trip up to `SLOW_START_THRESHOLD`,
then grows by one a round trip, up to `SLOW_START_CAP` out at once until `SLOW_START_MAX`
answers have come), and an answer that teaches something (rate-limit headers, a 429) opens the
gate. A client that opens with 64 concurrent
calls would otherwise spend most of them on 429s before the server has said anything.

The clock is injected (`monotonic()` and `sleep()`), so tests run in virtual time.
"""

from __future__ import annotations

import contextlib
import heapq
import math
from collections import deque
from typing import Final

import anyio

from .._clock import Clock

_EPSILON: Final = 1e-9
# The shortest sleep of the line's head. At a high rate the last dust of a token is due in less
# time than a clock can represent at its reading (1e-13 s at 1000 s): slept as such, it takes no
# time on a virtual clock (the loop's virtual time in tests, `FakeClock`), nothing refills, and
# the head sleeps again at the same instant forever. A microsecond is nothing to a rate limit.
_MIN_SLEEP: Final = 1e-6
# A gate opens after this many answers that taught nothing (a window of up to this many per
# period, or an opening that straddles the turn of one of half as many, is still found with at
# most SLOW_START_CAP requests in flight: past it, every request in flight is refused)...
SLOW_START_MAX: Final = 256
# ...and lets at most this many out at once until then (TCP's initial window, RFC 6928): a window
# limiter without headers, exhausted mid-burst, refuses every request still in flight.
SLOW_START_CAP: Final = 10
# Past this many out, the window grows by one a round trip, not one an answer (TCP past its
# ssthresh): a burst of B runs out with about sqrt(2 B) in flight, not min(B, SLOW_START_CAP).
SLOW_START_THRESHOLD: Final = 4


class WaitTooLong(Exception):
    """Raised by `acquire` when the caller's deadline comes, or (at once) when a pause the
    server set ends past it (`server_said`); `wait` is the seconds waited, or still to wait."""

    def __init__(self, wait: float, *, server_said: bool) -> None:
        super().__init__(wait)
        self.wait = wait
        self.server_said = server_said


class _Waiter:
    __slots__ = ("promoted", "start", "done", "granted", "refused")

    def __init__(self, start: float) -> None:
        self.promoted = anyio.Event()
        self.start = start
        self.done = False
        self.granted = False  # the head handed this waiter a token as it left
        self.refused: WaitTooLong | None = None


class TokenBucket:
    """`capacity` tokens, refilled at `rate` per second (math.inf: never binding).

    `tokens` may go negative: a debt (the server said it is emptier than we thought) that the
    refill pays back before the next grant. `paused_until` (monotonic) blocks every grant;
    `server_paused_until` is the part of it the server dictated.
    """

    __slots__ = (
        "rate",
        "capacity",
        "tokens",
        "updated",
        "paused_until",
        "server_paused_until",
        "gated",
        "window",
        "answered",
        "acked",
        "outstanding",
        "handed",
        "_clock",
        "_queue",
        "_head_scope",
        "_head_wake",
        "_deadlines",
        "_order",
    )

    def __init__(
        self,
        clock: Clock,
        *,
        rate: float,
        capacity: float,
        tokens: float | None = None,
        gated: bool = False,
    ) -> None:
        self._clock = clock
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity if tokens is None else tokens
        self.updated = clock.monotonic()
        self.paused_until = -math.inf
        self.server_paused_until = -math.inf
        self.gated = gated
        self.window = 1  # grants that may be out at once while gated
        self.answered = 0  # answers while gated that taught nothing
        self.acked = 0  # of them, since the window last grew (`SLOW_START_THRESHOLD`)
        self.outstanding = 0  # grants out while gated, not answered yet
        self.handed = 0  # grants handed to waiters (`_hand_out`) that have not woken to them yet
        self._queue: deque[_Waiter] = deque()
        self._head_scope: anyio.CancelScope | None = None
        self._head_wake = math.inf  # when the sleeping head means to wake
        # (deadline, arrival number, waiter) of queued waiters, for the head to wake at the first.
        self._deadlines: list[tuple[float, int, _Waiter]] = []
        self._order = 0

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
        if capacity == self.capacity:
            return
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

    def set_tokens(self, tokens: float, now: float) -> None:
        """Exactly `tokens` now (negative: a debt), however many there were: a single request
        due at a set time."""
        self.refill(now)
        raised = tokens > self.tokens
        self.tokens = tokens if tokens < self.capacity else self.capacity
        if raised:
            self._kick()

    def hold_at_least(self, tokens: float, now: float) -> None:
        """At least `tokens` now, never past the capacity (the server is proven to have them
        to spare), less the grants handed to waiters that have not taken them up yet: they
        are not sent, so the server's count that proved it did not count them."""
        self.refill(now)
        tokens = min(tokens, self.capacity) - self.handed
        if self.tokens < tokens:
            self.tokens = tokens
            self._kick()

    def give_back(self, now: float) -> None:
        """A granted token was not used (the request never left): return it."""
        self.refill(now)
        self.tokens = min(self.capacity, self.tokens + 1.0)
        self._kick()

    def pause_until(self, until: float, *, server: bool = False) -> None:
        """No grant before `until` (monotonic). Only ever extends a pause. `server`: the server
        dictated it, so a waiter whose deadline comes first is refused at once."""
        if until > self.paused_until:
            self.paused_until = until
        if server and until > self.server_paused_until:
            self.server_paused_until = until
            self._kick()  # the head refuses whoever cannot outlast it

    @property
    def held_back(self) -> bool:
        """Gated, with the window full: no grant until an answer comes."""
        return self.gated and self.outstanding >= self.window

    def probe_done(self, *, sent: bool, now: float, learned: bool = False) -> None:
        """A grant made while gated is over. It was answered (`sent`) and the answer taught
        something (`learned`): open the gate. Answered with nothing to learn: one more grant
        may be out (slow start). Never sent: its token comes back, the window stays."""
        if not self.gated:
            return
        if self.outstanding > 0:
            self.outstanding -= 1
        if not sent:
            self.give_back(now)
            return
        self.answered += 1
        if learned or self.answered >= SLOW_START_MAX:
            self.gated = False
        elif self.window < SLOW_START_CAP:
            self.acked += 1
            if self.window < SLOW_START_THRESHOLD or self.acked >= self.window:
                self.window += 1
                self.acked = 0
        self._kick()

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def wait_estimate(self, now: float, ahead: int) -> float:
        """Seconds until a waiter with `ahead` waiters before it would be granted, at today's rate."""
        self.refill(now)
        if self.gated and self.outstanding >= self.window:
            return math.inf
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
        if self._queue or now < self.paused_until or (self.gated and self.outstanding >= self.window):
            return False
        # `refill(now)`, inline: a call is a third of this method's cost, which every request pays.
        tokens = self.tokens
        elapsed = now - self.updated
        if elapsed > 0:
            self.updated = now
            capacity = self.capacity
            if tokens < capacity:
                tokens += elapsed * self.rate
                if tokens > capacity:
                    tokens = capacity
        elif self.rate == math.inf:
            tokens = self.capacity
        if tokens >= 1.0 - _EPSILON:
            self.tokens = tokens - 1.0
            if self.gated:
                self.outstanding += 1
            return True
        self.tokens = tokens
        return False

    async def acquire(self, *, deadline: float | None = None) -> float:
        """Wait in line for a token; return the seconds waited.

        Raises `WaitTooLong` when `deadline` (monotonic) comes first, and at once when a pause
        the server set ends past it.
        """
        clock = self._clock
        start = clock.monotonic()
        if self.try_take(start):
            return 0.0
        if deadline is not None and self.server_paused_until > deadline:
            raise WaitTooLong(self.server_paused_until - start, server_said=True)
        waiter = _Waiter(start)
        queue = self._queue
        queue.append(waiter)
        if deadline is not None:
            self._order += 1
            heapq.heappush(self._deadlines, (deadline, self._order, waiter))
            if deadline < self._head_wake:
                self._kick()  # the head must wake for this one's deadline
        try:
            if queue[0] is not waiter:
                await waiter.promoted.wait()
                if waiter.refused is not None:
                    raise waiter.refused
                if waiter.granted:
                    self.handed -= 1
                    return clock.monotonic() - start
            while True:
                now = clock.monotonic()
                self._expire(now)
                self.refill(now)
                if (
                    now >= self.paused_until
                    and self.tokens >= 1.0 - _EPSILON
                    and not (self.gated and self.outstanding >= self.window)
                ):
                    self.tokens -= 1.0
                    if self.gated:
                        self.outstanding += 1
                    waiter.done = True
                    queue.popleft()
                    self._hand_out(now)
                    if queue:
                        queue[0].promoted.set()
                    else:
                        self._deadlines.clear()  # every entry left is stale
                    return now - start
                if deadline is not None:
                    if now >= deadline:
                        raise WaitTooLong(now - start, server_said=False)
                    if self.server_paused_until > deadline:
                        raise WaitTooLong(self.server_paused_until - now, server_said=True)
                delay = self.wait_estimate(now, 0)
                first = self._first_deadline()
                if first is not None and first - now < delay:
                    delay = max(0.0, first - now)
                if 0.0 < delay < _MIN_SLEEP:
                    delay = _MIN_SLEEP
                with anyio.CancelScope() as scope:
                    self._head_scope = scope
                    self._head_wake = now + delay
                    try:
                        if delay == math.inf:
                            await anyio.sleep_forever()  # until a change kicks this sleep
                        else:
                            await clock.sleep(delay)
                    finally:
                        self._head_scope = None
                        self._head_wake = math.inf
        except BaseException:
            # Cancelled, timed out or failed: leave the line; hand the head's role on.
            if waiter.granted:
                self.handed -= 1  # (cancelled as it was handed a token: the token is spent)
            waiter.done = True
            if queue and queue[0] is waiter:
                queue.popleft()
                if queue:
                    queue[0].promoted.set()
            else:
                with contextlib.suppress(ValueError):
                    queue.remove(waiter)
            if not queue:
                self._deadlines.clear()
            raise

    def _hand_out(self, now: float) -> None:
        """Grant the tokens there are to the waiters next in line, at once: released one by one
        (each waking the next), a line of a hundred would take a hundred turns of the event
        loop, while calls that finish meanwhile join its end, and the line would never clear."""
        queue = self._queue
        if now < self.paused_until:
            return
        while (
            queue and self.tokens >= 1.0 - _EPSILON and not (self.gated and self.outstanding >= self.window)
        ):
            self.tokens -= 1.0
            if self.gated:
                self.outstanding += 1
            waiter = queue.popleft()
            waiter.done = waiter.granted = True
            self.handed += 1
            waiter.promoted.set()

    def _first_deadline(self) -> float | None:
        heap = self._deadlines
        while heap and heap[0][2].done:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def _expire(self, now: float) -> None:
        """Refuse the queued waiters (not the head: it checks itself) whose deadline has come,
        or comes before a pause the server set ends."""
        heap = self._deadlines
        queue = self._queue
        head = queue[0] if queue else None
        server_until = self.server_paused_until
        keep: list[tuple[float, int, _Waiter]] = []
        while heap:
            deadline, order, waiter = heap[0]
            if waiter.done:
                heapq.heappop(heap)
                continue
            if deadline > now and (server_until <= now or deadline >= server_until):
                break
            heapq.heappop(heap)
            if waiter is head:
                keep.append((deadline, order, waiter))
                continue
            waiter.done = True
            if deadline > now:
                waiter.refused = WaitTooLong(server_until - now, server_said=True)
            else:
                waiter.refused = WaitTooLong(now - waiter.start, server_said=False)
            with contextlib.suppress(ValueError):
                queue.remove(waiter)
            waiter.promoted.set()
        for entry in keep:
            heapq.heappush(heap, entry)
        if len(heap) > 2 * len(queue) + 64:
            # Granted and cancelled waiters leave their entries behind: drop them now and then.
            self._deadlines = [entry for entry in heap if not entry[2].done]
            heapq.heapify(self._deadlines)

    def _kick(self) -> None:
        """Wake the sleeping head so it recomputes its wait (the rate rose, tokens came back)."""
        scope = self._head_scope
        if scope is not None:
            scope.cancel()
