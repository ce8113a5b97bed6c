"""`QuotaWindow`: how the estimator paces a quota per fixed window told without its window:
GitHub's dialect, `X-RateLimit-Limit` / `-Remaining` / `-Reset` with `X-RateLimit-Used` beside
them (its Reset is the window's end in epoch seconds) and no IETF policy. Pure arithmetic on
the numbers it is given; no clock, no I/O.

Nothing comes back before Reset, so there is no refill rate to learn or to probe for: a rate
probed up (half as fast again after every turn, which looks like a second spent below the
server's rate) refills the bucket past Remaining between two answers. The bucket holds the
whole quota instead, and:

- *alone at the server*, each answer raises it to what the server surely has to spare
  (`spare`), so the window's quota goes out in a burst at its turn, as a fixed window grants
  it, and the refill (`rate`) only brings the reserve back, over the first `QUOTA_SPREAD` of the
  time to Reset;
- *not alone* (a shared backend: others draw on the quota too), it refills at what is left
  after the requests sent since (`Remaining - k`) over that share of the time to Reset;
- *with nothing left*, it holds one token, due by Reset: the estimator pauses until Reset (and
  `late` more, see `refused`), the first request after the turn goes alone, and its answer,
  from the next window, raises the bucket for the burst.

Once a 429 comes with quota left (`second_limit`: a second limit, as GitHub's secondary ones,
which the bursts would run into), the quota path gives way: the rate is learned as for any
X-RateLimit server (probing up, the 429s' congestion control), in about a second's worth.
"""

from __future__ import annotations

import math
from typing import Final

# What is left is spread over this share of the time to Reset...
QUOTA_SPREAD: Final = 0.5
# ...but never over less than this (seconds): a window about to turn refills its reserve no
# faster than answers come.
QUOTA_SPREAD_LEAST: Final = 0.05
# After a refusal past the Reset told, the pause until Reset is at least this much longer
# than twice the lateness seen.
QUOTA_LATE_STEP: Final = 0.01


class QuotaWindow:
    """The quota path's state (see the module docstring): the bucket's refill `rate` (None:
    no Reset known, the rate is learned as for a bucket), the Reset of the window in force
    (Unix time, as told), the least Remaining told for it, and how long past a Reset told the
    server's window is still in force on our clock (`late`)."""

    __slots__ = ("rate", "reset", "least", "late", "second_limit")

    def __init__(self) -> None:
        self.rate: float | None = None
        self.reset = -math.inf
        self.least = 0
        self.late = 0.0
        self.second_limit = False  # a 429 came with quota left (see the module docstring)

    def pace(
        self,
        limit: int | None,
        remaining: int | None,
        later: int,
        reset_wall: float | None,
        wall: float,
        bursts: bool,
    ) -> None:
        """An answer told `remaining` (`later` requests were sent after it) for a window
        that ends at `reset_wall`, read at Unix time `wall`: set `rate` (`bursts`: alone at
        the server)."""
        self.rate = None
        if remaining is None or limit is None or reset_wall is None:
            return
        # (A Reset told in the past: a server whose clock is behind ours, its window still in force.)
        until = max(0.0, reset_wall - wall)
        if remaining <= 0:
            # One token (the capacity) for the first request after the pause until Reset,
            # the next a second later at the soonest: the first one's answer raises the bucket.
            self.rate = 1.0 / max(until, 1.0)
        else:
            spread = 1 if bursts else max(1, remaining - later)
            self.rate = spread / max(until * QUOTA_SPREAD, QUOTA_SPREAD_LEAST)

    def spare(self, remaining: int, reset: float, inflight: int, reserve: float) -> float | None:
        """Alone at the server: the tokens the bucket may surely hold after an answer told
        `remaining` for the window that ends at `reset` (Unix time), with `inflight` requests
        still out; None when none are sure.

        The server's Remaining only falls within a window, one per grant, so every request
        answered was counted by the least Remaining told for the window: what is left after
        the requests still in flight is at least that less all of them, whatever order the
        server took them in (less the reserve). The sync (`Remaining - k`) can only lower
        the bucket, and an answer overtaken by later ones (counted before them, answered
        after) lowers it past what is left, for the rest of the window: this raises it back.
        A Reset a second or more later is the next window's (told in whole seconds, the same
        window's end may be told a second apart); an earlier one, a stale answer's."""
        if reset >= self.reset + 1.0:
            self.reset = reset
            self.least = remaining
        elif reset <= self.reset - 1.0:
            return None
        elif remaining < self.least:
            self.least = remaining
        spare = self.least - inflight - reserve
        return float(spare) if spare >= 0 else None

    def refused(self, sent_wall: float, max_pause: float) -> None:
        """Alone at the server, a request we sent at Unix time `sent_wall`, after the Reset
        told for the window in force, was refused: the server's clock is behind ours by more
        than that. From now on the pause until Reset waits twice as long past it (and
        `QUOTA_LATE_STEP` more; at most `max_pause`), so that a few windows find how late
        its turns come."""
        late = sent_wall - self.reset
        if 0.0 <= late < max_pause:
            wait = 2.0 * late + QUOTA_LATE_STEP
            if wait > self.late:
                self.late = min(wait, max_pause)
