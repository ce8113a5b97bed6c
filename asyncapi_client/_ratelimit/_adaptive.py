"""What the limiter learns without trusting a single header: the server's refill rate from the
X-RateLimit contract, the client's own send rate, and how hard to back off after 429s. Pure
arithmetic on the times it is given; no clock, no I/O.

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

`Congestion` is what a server that sends no headers at all still teaches: its 429s. As in TCP
CUBIC and botocore's adaptive retry mode (`botocore/retries/throttling.py`), a congestion event
cuts the rate to `BETA` times the rate it happened at (`W_max`), and the rate then grows along
`CUBIC_C * (t - K)^3 + W_max`: back to `W_max` after `K` seconds, slowly near it, then faster,
so that it finds the limit again and probes past it (more gently once two events in a row
came at the same rate: the limit is settled; and each time it is confirmed so, the curve holds
at W_max longer before it probes past, as BBR probes a known bandwidth rarely). Unlike
botocore, which cuts on every throttled response, a burst of 429s answering requests that were
already in flight together (sent before the last cut took effect) is one event and cuts once:
53 429s from one opening burst of 64 would otherwise cut the rate 0.7^53-fold.
"""

from __future__ import annotations

import math
from typing import Final

BETA: Final = 0.8
CUBIC_C: Final = 0.4
# An event within this fraction of the last one's W_max finds the limit settled: the next cut is
# SETTLED_BETA and the curve's climb SETTLED_C (the probes past a stable limit come less often).
SETTLED_WITHIN: Final = 0.1
SETTLED_BETA: Final = 0.9
SETTLED_C: Final = 0.1
# Each event at a settled limit confirms it again, and the curve then holds at W_max before it
# probes past it: HOLD_FIRST seconds after the first confirmation, twice as long after each
# next one, up to HOLD_MAX (BBR's rare probing of a known bandwidth), then climbs at the full
# CUBIC_C. A steady limit is probed every ~14 s instead of every ~6, at one 429 a probe; a
# limit that rose is found within the hold and a few seconds of climbing.
HOLD_FIRST: Final = 2.0
HOLD_MAX: Final = 8.0
MIN_RATE: Final = 0.5
DOUBLING: Final = 0.25  # seconds for the search's rate to double
_GOODPUT_SPAN: Final = 0.25  # the shortest time to measure the server's grants over
_PROBING: Final = 1.01  # above the curve's restart rate by this much: the client was probing
# After this long without a congestion event, and once the curve is past twice W_max, the limit
# the 429s taught is forgotten (the rate is open again).
FORGET_AFTER: Final = 60.0
# A Retry-After of at most this many seconds, on a 429 that starts a congestion event and says
# nothing else of when, is tested rather than obeyed: one request goes after `TEST_AFTER` of
# it, and the partition pauses for the rest only if that request is refused too. A second is
# the least whole-second Retry-After can say, so it is an upper bound that says little: a token
# bucket refilling 50 a second says 1 for a token 20 ms away, and nginx's `limit_req` says
# whatever constant it was configured with. Obeyed, a burst that overshot once stops a fast
# server for 50 of its tokens; tested, it costs at most one more 429.
TESTED_RETRY_AFTER: Final = 1.0
TEST_AFTER: Final = 0.25


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


class SendMeter:
    """Requests sent in the last second: the count of the current one-second window plus the
    previous window's count weighted by how much of it the last second still covers (the
    sliding-window counter). Two integers, one comparison per send."""

    __slots__ = ("start", "previous", "current")

    def __init__(self, now: float) -> None:
        self.start = now
        self.previous = 0
        self.current = 0

    def add(self, now: float) -> None:
        if now - self.start >= 1.0:
            self._roll(now)
        self.current += 1

    def rate(self, now: float) -> float:
        if now - self.start >= 1.0:
            self._roll(now)
        return self.previous * (1.0 - (now - self.start)) + self.current

    def _roll(self, now: float) -> None:
        windows = math.floor(now - self.start)
        self.previous = self.current if windows == 1 else 0
        self.current = 0
        self.start += windows


class Cubic:
    """The rate after a congestion event: botocore's CUBIC curve, or a search.

    CUBIC: the rate restarts at `BETA * W_max` and follows `CUBIC_C * (t - K)^3 + W_max`. A
    search (after the first event of a client that was not pacing at all, whose W_max is only
    what it happened to send in its first second) starts at the same place and doubles every
    `DOUBLING` seconds until the next event gives a real W_max, as TCP's slow start does.
    """

    __slots__ = ("w_max", "k", "since", "search", "beta", "c", "hold")

    def __init__(self, rate: float, now: float, *, search: bool) -> None:
        self.w_max = 0.0
        self.k = 0.0
        self.since = now
        self.search = search
        self.beta = BETA
        self.c = CUBIC_C
        self.hold = 0.0
        self.restart(rate, now, search=search)

    def restart(
        self, rate: float, now: float, *, search: bool = False, settled: bool = False, hold: float = 0.0
    ) -> None:
        """A congestion event at `rate` (requests/s): remember it as W_max, restart the curve
        at `now` (when sending resumes). `settled`: the event came at about the last one's
        W_max, so the limit is found: cut less and climb back more slowly (`SETTLED_BETA`,
        `SETTLED_C`), which spaces the probes' 429s out without giving up the probing. `hold`:
        seconds the curve stays at W_max once back (the limit confirmed, `HOLD_FIRST`); after
        a hold it probes past W_max at CUBIC_C."""
        self.w_max = w_max = max(rate, MIN_RATE)
        self.beta = beta = SETTLED_BETA if settled else BETA
        self.c = c = SETTLED_C if settled else CUBIC_C
        self.k = (w_max * (1.0 - beta) / c) ** (1.0 / 3.0)
        self.hold = hold
        self.since = now
        self.search = search

    @property
    def probe_from(self) -> float:
        """When the curve is back at W_max and, after its hold, climbs past it."""
        return self.since + self.k + self.hold

    def rate(self, now: float) -> float:
        t = now - self.since
        if t < 0.0:
            t = 0.0  # a pause first: the curve starts when it ends
        if self.search:
            return max(MIN_RATE, self.w_max * BETA * float(2.0 ** (t / DOUBLING)))
        t -= self.k
        if t <= 0.0:
            return max(MIN_RATE, self.c * t * t * t + self.w_max)
        if self.hold <= 0.0:
            return self.c * t * t * t + self.w_max
        t -= self.hold
        return self.w_max if t <= 0.0 else CUBIC_C * t * t * t + self.w_max


class Congestion:
    """429s as the signal: one cut per congestion event, then CUBIC back up.

    `cut_seq` is how many requests had been sent when the last cut took effect: a 429 answering
    one of those was in flight together with the one that caused the cut (or left in the same
    instant), and belongs to that event. `grants` counts the requests the server granted in the
    last second while the curve is active: when the next event comes, that is a better W_max
    than the rate we were sending at (which a server's burst lets overshoot its real limit).
    """

    __slots__ = (
        "cubic",
        "cut_seq",
        "cut_at",
        "settled_at",
        "events",
        "confirmed",
        "grants",
        "granted_since_cut",
        "probe_grants",
        "test_at",
        "test_until",
    )

    def __init__(self, now: float) -> None:
        self.cubic: Cubic | None = None
        self.cut_seq = 0
        self.cut_at = -math.inf
        self.settled_at = -math.inf
        self.events = 0
        self.confirmed = 0  # events in a row at a settled limit (`HOLD_FIRST`)
        self.grants = SendMeter(now)
        self.granted_since_cut = 0
        self.probe_grants = 0  # granted since the curve came back to W_max (`probed`)
        # A Retry-After of a second under test (`test`): the single request that leaves at
        # `test_at` asks whether the pause the server said, until `test_until`, is needed.
        self.test_at: float | None = None
        self.test_until = -math.inf

    def granted(self, now: float) -> None:
        """A request was answered with anything but a 429."""
        cubic = self.cubic
        if cubic is not None:
            self.grants.add(now)
            if now >= self.cut_at:
                self.granted_since_cut += 1
                if now >= cubic.probe_from:
                    self.probe_grants += 1

    def probed(self, now: float) -> float | None:
        """Requests/s the server granted since the curve came back to W_max and probed past
        it, when that is a second or more: the server lent its burst to the probe, and over
        the whole probe the loan counts for less than over its last second (the 10 tokens of
        a 50/s bucket are a fifth of its last second, a twentieth of a 5-second probe)."""
        cubic = self.cubic
        if cubic is None or cubic.search:
            return None
        span = now - max(self.cut_at, cubic.probe_from)
        return self.probe_grants / span if span >= 1.0 else None

    def goodput(self, now: float) -> float | None:
        """Requests/s the server granted lately: over the last second, or since the curve last
        restarted when that is shorter (but at least `_GOODPUT_SPAN`); None before that."""
        span = now - self.cut_at
        if span >= 1.0:
            return self.grants.rate(now)
        if span >= _GOODPUT_SPAN:
            return self.granted_since_cut / span
        return None

    def restart(self, rate: float, sent: int, now: float) -> None:
        """Start over from a rate learned otherwise (a window model given up): the curve at
        `BETA` times it, climbing back as after an event there; the 429s of requests sent so
        far belong to this event."""
        self.cubic = Cubic(rate, now, search=False)
        self.confirmed = 0
        self.cut_seq = sent
        self.cut_at = self.settled_at = now
        self.granted_since_cut = self.probe_grants = 0
        self.events += 1

    def is_new(self, seq: int, sent_at: float) -> bool:
        """Whether a 429 for request number `seq`, sent at `sent_at`, starts a new congestion
        event: it left after the last cut, and after the round trip that followed it (what
        was still on its way to the server when the cut came may arrive late, behind requests
        sent after it, and keep the server's bucket empty a little longer)."""
        return seq > self.cut_seq and sent_at >= self.settled_at

    def covers(self, retry_after: float, at: float) -> bool:
        """Whether the cut alone answers a 429's Retry-After: the 429 answered our own probe (a
        request sent above the rate the curve came back at after the last event), and the
        server asked for no longer than the curve takes to climb back to that event's rate.
        A 429 we did not provoke, or a longer Retry-After, pauses the partition."""
        cubic = self.cubic
        if cubic is None:
            return False
        return at > cubic.w_max * cubic.beta * _PROBING and retry_after <= cubic.k

    def cut(
        self, seq: int, sent: int, sent_at: float, now: float, resume_at: float, at: float, *, opened: bool
    ) -> None:
        """A new congestion event: a 429 for request number `seq` (of `sent` so far), sent at
        `sent_at` and answered at `now`, while sending `at` requests/s; nothing leaves before
        `resume_at` (a pause). `opened`: the limiter was not pacing at all (nothing was known
        of the server)."""
        cubic = self.cubic
        if cubic is None:
            self.cubic = Cubic(at, resume_at, search=opened)
            self.confirmed = 0
        else:
            goodput = self.goodput(now)
            if goodput is not None and goodput < at:
                # The grants are the better W_max, but not below half the rate we sent at: a
                # search that doubled past the limit started low, and a stall (a token refresh,
                # a busy event loop) leaves a second with few grants that says nothing of the
                # server.
                at = max(goodput, at / 2)
            # The curve starts when sending resumes: a pause is not time spent probing.
            w_max = min(at, cubic.rate(now))
            # At the last event's rate, over the last second or over the whole probe (which
            # the burst the server lent it inflates less): the limit is settled.
            near = SETTLED_WITHIN * cubic.w_max
            probed = self.probed(now)
            settled = not cubic.search and (
                abs(w_max - cubic.w_max) <= near or (probed is not None and abs(probed - cubic.w_max) <= near)
            )
            if settled:
                # The limit is found again. What the server granted over the whole cycle, from
                # the last event (its bucket empty) to this one (empty again), is the best
                # measure of it: the burst it lent the probe had refilled while the curve
                # climbed back below it. Unless the cycle came out far lower (a stall), then
                # the lower of the two events' rates: both overshot it.
                span = now - self.cut_at
                cycle = self.granted_since_cut / span if span >= 1.0 else 0.0
                if cycle > (1.0 - SETTLED_WITHIN) * cubic.w_max:
                    w_max = min(w_max, cycle)
                elif cubic.w_max < w_max:
                    w_max = cubic.w_max
            self.confirmed = confirmed = self.confirmed + 1 if settled else 0
            hold = min(HOLD_MAX, HOLD_FIRST * 2.0 ** (confirmed - 1)) if confirmed else 0.0
            cubic.restart(w_max, resume_at, settled=settled, hold=hold)
        self.cut_seq = sent
        self.cut_at = resume_at
        self.settled_at = resume_at + (now - sent_at)
        self.granted_since_cut = self.probe_grants = 0
        self.events += 1

    def test(self, test_at: float, until: float) -> None:
        """Send one request at `test_at` instead of pausing until `until` (see `TESTED_RETRY_AFTER`)."""
        self.test_at = test_at
        self.test_until = until

    def tested(self, granted: bool, now: float, trip: float, again: float | None) -> float | None:
        """The test's answer came at `now`, `trip` seconds after it left (`again`: the
        Retry-After it carried, capped). Granted: sending goes on at the cut's rate. Refused:
        the server meant it, and is obeyed: the pause lasts until the later of what the two
        429s said; returns when it ends (None: it is over), and the curve starts then, not
        while nothing was sent."""
        self.test_at = None
        until = self.test_until
        if again is not None and now + again > until:
            until = now + again
        if granted or until <= now:
            return None
        if self.cubic is not None:
            self.cubic.since = until
        self.cut_at = until
        self.settled_at = until + trip
        return until

    def cap(self, now: float, base: float) -> float:
        """The pacing rate after the 429s, given the rate we would use without them (`base`,
        math.inf when nothing else limits); forgets the 429s once they no longer matter."""
        cubic = self.cubic
        if cubic is None:
            return base
        cap = cubic.rate(now)
        if cap < base and (base != math.inf or now - self.cut_at < FORGET_AFTER or cap < 2 * cubic.w_max):
            return cap
        self.cubic = None  # recovered
        return base
