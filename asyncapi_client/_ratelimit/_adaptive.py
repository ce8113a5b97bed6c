"""The two things the limiter learns: the server's refill rate, and how hard to back off after a 429.

`RefillEstimate` reads the X-RateLimit contract (a token bucket of capacity Limit that is full
again at Reset) to bound the refill rate. One sample is rough, because Reset is rounded up to a
whole second and Remaining is rounded down; but each sample gives a hard interval, and the
intervals of many samples intersect to a tight one:

    deficit D in (Limit - Remaining - 1, Limit - Remaining]       (Remaining is a floor)
    time to full T = D / rate, with the server's instant s in [sent, received]
    Reset is ceil(s + T)  =>  Reset - 1 - received < T <= Reset - sent

so `rate < (Limit - Remaining) / (Reset - 1 - received)` and
`rate >= (Limit - Remaining - 1) / (Reset - sent)`. A second lower bound needs no Reset at all:
over a second or more, the tokens the server granted minus the fall in Remaining were refilled.

`Cubic` is botocore's adaptive-mode rate (TCP CUBIC): a 429 cuts the rate to beta * the rate
at the time; it then grows along `C * (t - K)^3 + W_max`, back to W_max after K seconds.
"""

from __future__ import annotations

import math
from typing import Final

BETA: Final = 0.7
CUBIC_C: Final = 0.4
MIN_RATE: Final = 0.5


class RefillEstimate:
    """Bounds on a token bucket's refill rate from its X-RateLimit headers."""

    __slots__ = ("low", "high", "limit", "samples")

    def __init__(self) -> None:
        self.low = 0.0
        self.high = math.inf
        self.limit: int | None = None
        self.samples = 0

    def reset(self) -> None:
        self.low = 0.0
        self.high = math.inf
        self.samples = 0

    def observe(self, limit: int, remaining: int, reset_after: float, sent: float, received: float) -> None:
        """One response: `reset_after` is seconds from `received` to the (rounded-up) Reset;
        `sent`/`received` are when the request left and its answer came (one clock)."""
        if limit != self.limit:
            self.limit = limit
            self.reset()
        deficit = limit - remaining
        if deficit <= 0 or remaining > limit:
            return
        low = high = None
        full_by = reset_after + (received - sent)  # Reset - sent
        if deficit > 1 and full_by > 0:
            low = (deficit - 1) / full_by
        after = reset_after - 1.0  # Reset - 1 - received
        if after > 0:
            high = deficit / after
        if low is None and high is None:
            return
        new_low = max(self.low, low) if low is not None else self.low
        new_high = min(self.high, high) if high is not None else self.high
        if new_low > new_high:
            # Contradiction: the server's rate or clock changed. Start over from this sample.
            self.reset()
            new_low = low if low is not None else 0.0
            new_high = high if high is not None else math.inf
        self.low = new_low
        self.high = new_high
        self.samples += 1

    def observe_drain(self, granted: int, drop: int, elapsed: float) -> None:
        """Between two responses `elapsed` seconds apart (measured wide: from the first one's
        send to the second one's receipt) the server granted at least `granted` tokens while its
        Remaining fell by `drop`: what was not drawn from the bucket was refilled, so
        `rate >= (granted - drop - 1) / elapsed` (the 1 for Remaining's rounding)."""
        if elapsed <= 0:
            return
        low = (granted - drop - 1) / elapsed
        if low <= self.low:
            return
        if low > self.high:
            self.high = math.inf  # the old upper bounds are stale (the server sped up)
        self.low = low

    def rate(self) -> float | None:
        """The best single figure: the upper bound once known (the limiter keeps a one-token
        reserve in the server's bucket, so a slight overestimate costs no 429), else None."""
        if self.high == math.inf:
            return None
        return self.high


class Cubic:
    """botocore's CUBIC rate after a throttle; `rate(now)` rises back past the old rate."""

    __slots__ = ("w_max", "k", "since")

    def __init__(self, rate: float, now: float) -> None:
        self.w_max = 0.0
        self.k = 0.0
        self.since = now
        self.throttled(rate, now)

    def throttled(self, rate: float, now: float) -> None:
        """A 429 at `rate` (requests/s): remember it as W_max and restart the curve."""
        self.w_max = max(rate, MIN_RATE)
        self.k = (self.w_max * (1.0 - BETA) / CUBIC_C) ** (1.0 / 3.0)
        self.since = now

    def rate(self, now: float) -> float:
        t = now - self.since - self.k
        return max(MIN_RATE, CUBIC_C * t * t * t + self.w_max)
