"""`SlidingEvidence`: whether X-RateLimit headers describe a sliding window rather than a token
bucket, and the send log that paces one once it is known. Pure arithmetic on the times it is
given; no clock, no I/O."""

from __future__ import annotations

import math
from collections import deque
from typing import Final

SLIDING_MAX_LIMIT: Final = 10_000  # the longest send log kept (80 kB)
SLIDING_MIN: Final = 2.0  # seconds: a nearer Reset tells a bucket from a sliding window too loosely
# A told window longer than a day is a broken or hostile policy: its log would hold requests
# back that long.
MAX_TOLD_WINDOW: Final = 86_400.0


class SlidingEvidence:
    """Whether X-RateLimit headers describe a sliding window rather than a token bucket.

    Read as a bucket, a Reset says when the bucket is full again: the time to full grows with
    the deficit (`Limit - Remaining`), `deficit / rate`. A sliding window that says when it is
    whole again answers every granted request with about one window (its newest grant, this
    one, leaves a window from now), whatever the deficit. So a granted answer with a small
    deficit (at most a quarter of Limit) whose Reset is at least `SLIDING_MIN` seconds away
    and no nearer than that of one with a large deficit (at least half) cannot come from a
    bucket (its time to full would be at most a quarter of Limit's, plus the rounding up to a
    whole second), nor from a fixed window once Remaining rose well before its Reset
    (`came_back`). Then the window is the nearest Reset any granted answer told, and the rate
    it sustains is Limit per window: old grants age out as fast as new ones came in.

    From the first such small-deficit answer on (a sliding window's first answers), the send
    times of the last Limit requests are kept (`sends`): a sliding window that ran empty takes
    the next request only when the one sent `Limit - reserve` requests ago is a window old
    (`next_free`). Its Reset (whole again) is far later. Once the window is known, a process
    alone may pace by the log (`take_slot`): it then logs answer times, and counts the
    requests that took a slot and have not been answered (`pending`).
    """

    __slots__ = (
        "limit",
        "small",
        "large",
        "nearest",
        "window",
        "sends",
        "came_back",
        "pending",
        "last_slot",
        "upper",
        "told_window",
        "promised",
        "resets",
    )

    def __init__(self) -> None:
        self.limit: int | None = None
        self.small = 0.0  # the furthest Reset told with a small deficit
        self.large = math.inf  # the nearest Reset told with a large deficit
        self.nearest = math.inf  # the nearest Reset told by a granted answer
        self.window: float | None = None
        self.sends: deque[float] | None = None  # kept while a sliding window is suspected
        # Remaining rose well before Reset (the estimator says): not a fixed window, whose
        # Reset is as constant over its deficits as a sliding window's.
        self.came_back = False
        self.pending = 0  # requests that took a slot (`take_slot`) and have not left yet
        self.last_slot = -math.inf  # the latest slot given
        # The least (Reset + round trip) a granted answer told: at least the window (the
        # answer's Reset was read after the server made it, by less than the round trip).
        self.upper = math.inf
        self.told_window = False  # the window is the server's own word (`told`), not inferred
        # When a told window with nothing left said more quota comes (on the send clock): one
        # request may leave then, ahead of the log, if the log has no slot before it (a fixed
        # window's end; its answer tells the window whole again, and `told` resets the log).
        self.promised = math.inf
        self.resets = 0  # times a told window was told whole again and its log reset

    def observe(self, limit: int, remaining: int, reset_after: float, trip: float = 0.0) -> None:
        """A granted answer: Limit, Remaining, seconds to its Reset, and its round trip."""
        if limit != self.limit or self.told_window:
            self.told_window = False
            self.limit = limit
            self.small = 0.0
            self.large = self.nearest = math.inf
            self.window = None
            self.sends = None
            self.pending = 0
            self.last_slot = -math.inf
            self.upper = math.inf
        if limit < 4 or limit > SLIDING_MAX_LIMIT or remaining > limit:
            return  # (a larger Limit would make the send log a hostile server's memory to fill)
        deficit = limit - remaining
        if deficit * 4 <= limit:
            if reset_after > self.small:
                self.small = reset_after
                if reset_after >= SLIDING_MIN and self.sends is None:
                    self.sends = deque(maxlen=limit)
        elif deficit * 2 >= limit and reset_after < self.large:
            self.large = reset_after
        if reset_after < self.nearest:
            self.nearest = reset_after
        if reset_after + trip < self.upper:
            self.upper = reset_after + trip
        if self.window is not None or (
            self.came_back and self.small >= SLIDING_MIN and self.small >= self.large
        ):
            self.window = self.nearest

    def told(self, limit: int, window: float, now: float, used: int) -> None:
        """A window the server told (an IETF policy, `limit` per `window` seconds) and showed
        to hold whole (an answer left Limit - 1): from now on the send log paces it as it does
        a sliding window found in X-RateLimit headers. The log is safe for a fixed window too
        (fewer than Limit of ours in any span of a window is fewer than Limit in each fixed
        window). It starts with the `used` slots the server counted, stamped `now` (the latest
        they can have been taken)."""
        if limit < 1 or limit > SLIDING_MAX_LIMIT or not 0 < window <= MAX_TOLD_WINDOW:
            return
        if not (self.told_window and limit == self.limit and window == self.window):
            self.pending = 0
        else:
            self.resets += 1  # requests holding a later slot may ask again (`slot_unused` first)
        # Told again (the window whole once more: a fixed window's new one): the server's
        # count replaces the log, and requests granted from now on need not queue behind
        # those already holding a later slot.
        self.limit = limit
        self.small = 0.0
        self.large = math.inf
        self.window = self.nearest = self.upper = window
        self.sends = deque([now] * max(0, min(used, limit)), maxlen=limit)
        self.last_slot = -math.inf
        self.promised = math.inf
        self.told_window = True

    def rate(self) -> float | None:
        window = self.window
        if window is None or self.limit is None:
            return None
        return self.limit / max(window, 1.0)

    def take_slot(self, now: float, guard: float) -> float | None:
        """Log pacing, once the window is known: when (on the send clock) a request granted
        now may leave. It counts as pending until its answer comes (`answered`), and the log
        then keeps the answer's time, not the send's: the server took the request no later
        than that, however late it read its clock. So a request leaves at once while fewer
        than Limit of ours (pending ones included) were answered within the last `upper`
        seconds plus `guard`; else when the next log entry not already promised to a pending
        request is that old; never before a request granted earlier. None: no log to pace by."""
        window, sends, limit = self.upper, self.sends, self.limit
        if self.window is None or window == math.inf or sends is None or limit is None:
            return None
        pending = self.pending
        at = self.last_slot if self.last_slot > now else now
        promised = self.promised
        if promised != math.inf and len(sends) >= limit and promised < sends[-limit] + window + guard:
            # Before any slot of the log: the server's word is all there is to go by.
            self.promised = math.inf
            self.pending = pending + 1
            return promised if promised > now else now
        if pending >= limit:
            # More promised than the window holds (a Limit below the concurrency): a window
            # after the last of them.
            free = self.last_slot + window + guard
        elif len(sends) >= limit - pending:
            free = sends[pending - limit] + window + guard
        else:
            free = now
        if free > at:
            at = free
        self.pending = pending + 1
        self.last_slot = at
        return at

    def answered(self, now: float) -> None:
        """A request that took a slot was answered now, or failed (it may have reached the
        server): its time goes in the log."""
        if self.pending > 0:
            self.pending -= 1
        if self.sends is not None:
            self.sends.append(now)

    def slot_unused(self) -> None:
        """A request that took a slot never left."""
        if self.pending > 0:
            self.pending -= 1

    def next_free(self, reserve: int) -> float | None:
        """When (on the send clock) a window that is full may take one more request and still
        keep `reserve` slots to spare; None until enough sends are known. A window suspected
        from the deficits alone is used too: its first time full comes before any token came
        back, and a guess of our own, not the server's word, is all the pause ever was."""
        window, limit = self.window, self.limit
        if window is None and self.small >= SLIDING_MIN and self.small >= self.large:
            window = self.nearest  # suspected (not yet seen to give back before Reset)
        sends = self.sends
        if window is None or limit is None or sends is None or len(sends) < limit - reserve or limit <= reserve:
            return None
        return sends[reserve - limit] + window
