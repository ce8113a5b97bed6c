"""`WindowTurns`: a fixed window of N requests per P seconds without headers, paced by where
it turns. Pure arithmetic on the times it is given; no clock, no I/O.

Why not the send log (`_window.py`): the log learns P by sending a request early and reading
a grant as "the slot it replaced was out of the window". A sliding window means that; a fixed
one grants it because it turned in between, however short the gap. The log then paces at a P
below the window's and the next block's first request is refused: that 429 is where this model
takes over (the log's model is given up, and what it learned is kept: N, and the lower bound
on P its refused tests proved, which holds for either kind of window).

What the 429s tell about a fixed window, with us alone at it:

- A refused request sent at `s` says the window in force was full: the next turn is after `s`
  (the server read its clock after we sent). With `Retry-After` (whole seconds, rounded up)
  answered at `a`, it comes within `(s + RA - 1, a + RA]`.
- A granted request after the window in force was full says it turned by the answer's time.

So each turn `k` found is a bracket `(lo_k, hi_k]`, and the turns are `T_0 + k * P`: any two
bound P, `(lo_j - hi_i) / (j - i) < P <= (hi_j - lo_i) / (j - i)`, and every bracket with
those bounds bounds the next turn. The schedule:

1. The window in force gets N requests at once (its turn was found), the rest wait.
2. One request, the probe, leaves when the next turn is due: at the latest it can be (`hi`)
   when the bounds place it within `RESOLVE` of the window, where a probe is always granted;
   half way between them while they are further apart (a refused one costs one 429 and halves
   the bracket, a granted one halves it too); with no upper bound yet, `TURN_STEP` of the lower
   bound past the last refusal, each refused one further out (as the spell's probes).
3. Its grant is the turn: the waiting requests are woken (`resets`) and the new window gets
   its N. Its refusal narrows the bracket and wakes them to wait for the next probe.

A turn found late costs nothing while the window's N still fit before the next one: each
window is used whole. Any 429 but a probe's says the model is wrong (a limit that changed,
another client at the server): it is given up (`broken`), and CUBIC learns from there.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Final

RESOLVE: Final = 0.2  # the next turn placed within this share of the window: probe at its latest
EARLY: Final = 0.05  # ...else this share of the window ahead of its latest (or half way)
TURN_STEP: Final = 0.25  # with no upper bound: the first probe this share of the lower one out
MIN_STEP: Final = 0.05  # ...and at least this many seconds
STEP_GROWTH: Final = 2.0  # each refused probe puts the next this many times further out
KEPT_TURNS: Final = 8  # the brackets kept to bound the window with (the first one too)
WAITING_SHARE: Final = 0.25  # requests behind the probe sleep this share of the window (woken sooner)


def narrowed(
    lo: float, hi: float, sent_at: float, answered_at: float, retry_after: float | None
) -> tuple[float, float]:
    """The bracket `(lo, hi]` of a window's next turn, narrowed by a refusal sent at `sent_at`
    and answered at `answered_at`: the turn comes after it (the server read its clock after we
    sent); with `Retry-After` (whole seconds, rounded up), within `(sent + RA - 1, answered + RA]`."""
    if sent_at > lo:
        lo = sent_at
    if retry_after is not None:
        if sent_at + retry_after - 1.0 > lo:
            lo = sent_at + retry_after - 1.0
        if answered_at + retry_after < hi:
            hi = answered_at + retry_after
    return lo, hi


class WindowTurns:
    """The turns of a fixed window of `quota` requests (see the module docstring), entered at a
    refusal sent at `refused_at` and answered at `answered_at` (send clock); `lower` is a lower
    bound on the window's length, `trip` the longest round trip seen, `seen` the brackets of
    turns already found (one window apart, the last the window in force's)."""

    __slots__ = (
        "quota",
        "lower",
        "trip",
        "since",
        "first",
        "turns",
        "index",
        "lo",
        "hi",
        "step",
        "probe_at",
        "probe_floor",
        "probe_seq",
        "given",
        "waiting",
        "last_given",
        "absorb",
        "resets",
        "broken",
        "counting",
    )

    def __init__(
        self,
        quota: int,
        lower: float,
        trip: float,
        *,
        refused_at: float,
        answered_at: float,
        retry_after: float | None,
        absorb: int = 0,
        counting: bool = False,
        seen: tuple[tuple[float, float], ...] = (),
    ) -> None:
        self.quota = quota
        self.lower = max(0.0, lower)
        self.trip = trip
        self.since: int | None = None  # the first probe's sequence number: those before, the previous model's
        # The first turn found, and the latest: the first bounds the window over the longest span.
        self.first: tuple[int, float, float] | None = None
        self.turns: deque[tuple[int, float, float]] = deque(maxlen=KEPT_TURNS)
        self.index = 0  # the window in force (its turn may be unknown: the first one's is)
        self.lo = -math.inf  # the next turn comes after this...
        self.hi = math.inf  # ...and by this
        self.step = max(MIN_STEP, TURN_STEP * self.lower)
        self.probe_at = 0.0
        self.probe_floor = -math.inf  # the next turn's lower bound when the probe was planned
        self.probe_seq: int | None = None
        self.given = quota  # slots given in the window in force: it is full (it refused one)
        self.waiting = 0  # slots given for the next window (the probe's and those behind it)
        self.last_given = -math.inf  # when the window in force last gave a slot
        self.absorb = absorb  # slots given before that will be handed back (`slot_done`)
        self.resets = 0  # times the waiting requests should ask again
        self.broken = False
        # The quota is the grants counted in the window in force so far: those still in
        # flight (granted before the first probe) add to it.
        self.counting = counting
        # Turns found before: `(lo, hi]` brackets one window apart, the last the turn of the
        # window in force.
        for k, (lo, hi) in enumerate(seen, start=1 - len(seen)):
            self.turns.append((k, lo, hi))
        if self.turns:
            self.first = self.turns[0]
        self._refusal(refused_at, answered_at, retry_after)
        if self.turns:
            self.step = max(MIN_STEP, TURN_STEP * self.bounds()[0])
        self._plan()

    def bounds(self) -> tuple[float, float]:
        """The lower and upper bound on the window's length the turns found prove."""
        low, high = self.lower, math.inf
        turns = list(self.turns)
        if self.first is not None and turns[0] is not self.first:
            turns.insert(0, self.first)
        for i, (ki, loi, hii) in enumerate(turns):
            for kj, loj, hij in turns[i + 1 :]:
                d = kj - ki
                if (loj - hii) / d > low:
                    low = (loj - hii) / d
                if (hij - loi) / d < high:
                    high = (hij - loi) / d
        # The next turn's bracket so far bounds it too: refused probes say it is after `lo`.
        n = self.index + 1
        for k, lo, hi in turns:
            if (self.lo - hi) / (n - k) > low:
                low = (self.lo - hi) / (n - k)
            if (self.hi - lo) / (n - k) < high:
                high = (self.hi - lo) / (n - k)
        return low, high

    def rate(self) -> float:
        """The rate the turns held (for CUBIC to start from when the model is given up)."""
        low, high = self.bounds()
        window = high if high != math.inf else low
        return self.quota / window if window > 0 else 1.0

    # -- observations -----------------------------------------------------------------------

    def sent(self, seq: int, now: float) -> None:
        """A request that took a slot leaves: the probe, if it is the one due."""
        if self.probe_seq is None and self.waiting > 0 and now >= self.probe_at - 0.001:
            self.probe_seq = seq
            if self.since is None:
                self.since = seq

    def refused(self, seq: int, sent_at: float, now: float, retry_after: float | None) -> None:
        """A 429 for request `seq`, sent at `sent_at`, answered `now`."""
        if now - sent_at > self.trip:
            self.trip = now - sent_at
        if self.since is None or seq < self.since:
            self._refusal(sent_at, now, retry_after)  # the previous model's, in flight
            if self.probe_seq is None:
                planned = self.probe_at
                self._plan()
                if self.probe_at != planned and self.waiting > 0:
                    self._wake(self.waiting)  # the probe not out yet: all ask again
            return
        if seq != self.probe_seq:
            self.broken = True  # a request the window had room for: not the window we think
            return
        self._refusal(sent_at, now, retry_after)
        if self.hi == math.inf:
            self.step *= STEP_GROWTH
        self.probe_seq = None
        self._wake(self.waiting - 1)
        self._plan()

    def granted(self, seq: int, sent_at: float, now: float) -> None:
        """A success for request `seq`: the probe's is the turn."""
        if seq != self.probe_seq:
            if self.counting and self.since is None:
                self.quota += 1
                self.given += 1
            return
        self.index += 1
        turn = (self.index, max(self.lo, self.probe_floor), now)
        if self.first is None:
            self.first = turn
        self.turns.append(turn)
        self.lo, self.hi = -math.inf, math.inf
        self.probe_seq = None
        self.given = 1
        self._wake(self.waiting - 1)
        low, _high = self.bounds()
        self.step = max(MIN_STEP, TURN_STEP * low)
        self._plan()

    def slot_done(self, sent: bool) -> None:
        """A request given a slot left (`sent`), or never did (woken, cancelled)."""
        if sent:
            return
        if self.absorb > 0:
            self.absorb -= 1
        elif self.waiting > 0:
            self.waiting -= 1
        elif self.given > 0:
            self.given -= 1

    def _refusal(self, sent_at: float, answered_at: float, retry_after: float | None) -> None:
        self.lo, self.hi = narrowed(self.lo, self.hi, sent_at, answered_at, retry_after)
        if self.lo >= self.hi:
            self.hi = math.inf  # a Retry-After that was wrong: the refusals are what holds

    def _wake(self, waiting: int) -> None:
        """The requests behind the probe ask again (their slots come back through `slot_done`)."""
        if waiting > 0:
            self.absorb += waiting
        self.waiting = 0
        self.resets += 1

    # -- decisions ------------------------------------------------------------------------

    def _plan(self) -> None:
        """When the probe for the next turn leaves."""
        low, high = self.bounds()
        n = self.index + 1
        floor, ceiling = self.lo, self.hi
        for k, lo, hi in self.turns:
            if lo + (n - k) * low > floor:
                floor = lo + (n - k) * low
            if high != math.inf and hi + (n - k) * high < ceiling:
                ceiling = hi + (n - k) * high
        if floor >= ceiling:
            self.broken = True  # no fixed window fits what was seen
            return
        self.probe_floor = floor
        if ceiling == math.inf:
            if self.turns:
                # No upper bound yet: try twice the lower one from the last turn (a grant that
                # early cannot be two turns on), doubling it with each refusal.
                last_lo = self.turns[-1][1]
                at = last_lo + 2.0 * low
                self.probe_at = at if at > floor + self.step else floor + self.step
            else:
                self.probe_at = floor + self.step
        elif ceiling - floor > RESOLVE * low:
            # Just ahead of its latest: the turns found so far came near their latest, so a
            # refusal there proves a lower bound close to the window, and a grant a tighter
            # upper one (half way would mostly be refused, and prove little).
            # (Only once they are less than a window apart: a latest further out than that
            # could be past the turn after, and a probe there would skip a window.)
            half = (floor + ceiling) / 2.0
            early = ceiling - EARLY * low
            self.probe_at = early if early > half and ceiling - floor < low else half
        else:
            self.probe_at = ceiling

    def take_slot(self, now: float, guard: float) -> float:
        """When a request granted now may leave: now while the window in force has room; the
        next turn's probe time for the first one after it; a while later for the rest (they are
        woken when the probe's answer comes)."""
        if self.given < self.quota:
            self.given += 1
            self.last_given = now
            return now
        at = self.probe_at
        after = self.last_given + 2.0 * self.trip
        if at < after:
            at = after  # after the window's last requests are in: they may arrive in any order
        at += guard
        self.waiting += 1
        if self.waiting > 1:
            low, _high = self.bounds()
            at += max(4.0 * self.trip, WAITING_SHARE * low, MIN_STEP)
        return at if at > now else now
