"""`SlidingEvidence`: whether X-RateLimit headers describe a sliding window rather than a token
bucket, the send log that paces one once it is known, and the tests of its bound. Pure
arithmetic on the times it is given; no clock, no I/O.

The module stays whole (past 400 lines): the log's slots, its pending count and the test of
a block's head read and write the same few fields in one `take_slot`; apart, each would have
to reach into the other's state."""

from __future__ import annotations

import math
from collections import deque
from itertools import islice
from typing import Final

SLIDING_MAX_LIMIT: Final = 10_000  # the longest send log kept (80 kB)
SLIDING_MIN: Final = 2.0  # seconds: a nearer Reset tells a bucket from a sliding window too loosely
# ...unless told to a fraction of a second: no rounding up for a bucket's time to full to hide in
# (a constant offset, as slowapi's second, adds to the small deficit's Reset and the large one's
# alike), so such a Reset need only be a second away.
SLIDING_MIN_PRECISE: Final = 1.0
# A told window longer than a day is a broken or hostile policy: its log would hold requests
# back that long.
MAX_TOLD_WINDOW: Final = 86_400.0
# Testing the window's bound (`take_slot`): how far a Reset may be late (a whole-second ceiling,
# or slowapi's Reset one second past its slot), the most of the bound a test goes early, how
# far a slot must be away to be tested, and how close the bounds settle (a share of the bound).
RESET_LATE: Final = 1.0
TEST_STEP: Final = 0.5
TEST_AHEAD: Final = 0.05
SETTLED_WITHIN: Final = 0.015
# Misses (429s for requests the proven bound let out) that refute it; one is a miss in timing.
# The 429s for requests sent before a miss was answered are that miss (a block sent together).
REFUTED_BY: Final = 2


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

    The log's window is an upper bound, the least Reset (plus round trip) a granted answer told;
    a Reset that names the next slot rather than the window whole again, and names it late
    (slowapi's, a second past the slot), makes that bound a second or more too long, and the
    log slow by as much. So the head of a block the log holds back is tested: sent early and
    alone (`test_at`), at the gap the Reset allows (a Reset is at most `RESET_LATE` late: the
    greatest Reset told, less that, is a lower bound if the Reset is right), else half way
    between the bounds, never more than `TEST_STEP` of the bound early. Granted, the entry it
    tested was out of the server's window when it arrived: the window is at most its answer
    less that entry's send (the earliest send among the entries from it on: answers come out of
    order), a bound proven for any request, not only this one (`proven`); the log paces by it,
    and the requests waiting for later slots ask again at once (`resets`). Refused (one 429,
    its pause not obeyed: the log answers it), the gap is a lower bound. Tests stop once the
    bounds are within `SETTLED_WITHIN`. `REFUTED_BY` misses (429s for requests the proven bound
    let out; those for requests sent before a miss was answered are that miss) refute it: the
    log goes back to the Reset's bound, and tests end for good.
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
        "upper_trip",
        "told_window",
        "promised",
        "resets",
        "precise",
        "given",
        "stale",
        "trips",
        "trip_most",
        "misses",
        "missed_at",
        "origins",
        "reset_low",
        "lower",
        "proven",
        "proven_from",
        "testing",
        "test_gap",
        "test_at",
        "test_from",
        "test_seq",
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
        self.upper_trip = 0.0  # the round trip of the answer that told `upper`
        self.told_window = False  # the window is the server's own word (`told`), not inferred
        # When a told window with nothing left said more quota comes (on the send clock): one
        # request may leave then, ahead of the log, if the log has no slot before it (a fixed
        # window's end; its answer tells the window whole again, and `told` resets the log).
        self.promised = math.inf
        self.resets = 0  # times the log's slots were given again (the window told whole, a bound proven)
        # Tests of the window's bound (see the class docstring): the send time of each log entry
        # (`sends` holds its answer time), the greatest Reset told less `RESET_LATE`, a gap a test
        # found too short, the bound a test proved (and when, on the send clock), and the test
        # out: its gap, its slot, the send its entry stands for and its sequence number.
        # The slots given to the last Limit requests and to those still pending (`take_slot`),
        # requests asked to ask again and not yet back (`reslot`), and the round trips of the
        # last Limit granted answers.
        self.given: deque[float] | None = None
        self.stale = 0
        self.trips: deque[float] = deque(maxlen=64)
        self.trip_most = 0.0  # the longest round trip of a granted answer
        self.misses = 0  # misses: 429s for requests the proven bound let out...
        self.missed_at = -math.inf  # ...the last one answered then (send clock)
        self.precise = False  # a Reset was told to a fraction of a second (see SLIDING_MIN_PRECISE)
        self.origins: deque[float] | None = None
        self.reset_low = 0.0
        self.lower = 0.0
        self.proven = math.inf
        self.proven_from = math.inf
        self.testing = False
        self.test_gap: float | None = None
        self.test_at = math.inf
        self.test_from = 0.0
        self.test_seq: int | None = None

    def observe(
        self,
        limit: int,
        remaining: int,
        reset_after: float,
        trip: float = 0.0,
        precise: bool = False,
        now: float = 0.0,
        unlogged: int = 0,
    ) -> None:
        """A granted answer: Limit, Remaining, seconds to its Reset, its round trip, and whether
        the Reset was told to a fraction of a second; answered `now` (send clock), with
        `unlogged` requests still in flight."""
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
            self.upper_trip = 0.0
            self.origins = self.given = None
            self.stale = 0
            self.trips = deque(maxlen=max(1, min(limit, SLIDING_MAX_LIMIT)))
            self.trip_most = 0.0
            self.reset_low = self.lower = 0.0
            self.proven = self.proven_from = self.test_at = math.inf
            self.testing = False
            self.test_gap = self.test_seq = None
        if limit < 4 or limit > SLIDING_MAX_LIMIT or remaining > limit:
            return  # (a larger Limit would make the send log a hostile server's memory to fill)
        if precise:
            self.precise = True
        least = self.least_reset()
        deficit = limit - remaining
        if deficit * 4 <= limit:
            if reset_after > self.small:
                self.small = reset_after
                if reset_after >= least and self.sends is None:
                    # The log starts with the slots taken before it: the server's count, and
                    # the requests still in flight (sent before the log, so never logged; some
                    # may be in that count already, which only makes the log wait longer),
                    # stamped now, the latest they can have been taken. Without them, the log
                    # would let as many out again within the window.
                    taken = [now] * min(limit, deficit + unlogged)
                    self.sends = deque(taken, maxlen=limit)
                    self.origins = deque(taken, maxlen=limit)
                    self.given = deque()
                    # Only a Reset told to a fraction of a second is tested: one in whole
                    # seconds is late by its rounding, which the answers sweep (at every phase
                    # of the second, the least of them comes within a round trip of the
                    # window), where a precise one that is late is late by a constant.
                    self.testing = self.precise
        elif deficit * 2 >= limit and reset_after < self.large:
            self.large = reset_after
        if self.precise:
            # Told to a fraction of a second, a Reset may name the next slot to come back (the
            # oldest grant ageing out, a fixed window's end: as near as a second for slowapi,
            # whose Reset is a second late), not the window whole again: only the widest is
            # sure to span the window, and the tests bound it closer.
            if self.nearest == math.inf or reset_after > self.nearest:
                self.nearest = reset_after
            if self.upper == math.inf or reset_after + trip > self.upper:
                self.upper = reset_after + trip
                self.upper_trip = trip
        else:
            if reset_after < self.nearest:
                self.nearest = reset_after
            if reset_after + trip < self.upper:
                self.upper = reset_after + trip
                self.upper_trip = trip
        self.trips.append(trip)
        if trip > self.trip_most:
            self.trip_most = trip
        if reset_after - RESET_LATE > self.reset_low:
            self.reset_low = reset_after - RESET_LATE
        if self.window is not None or (
            self.came_back and self.small >= least and self.small >= self.large
        ):
            self.window = self.nearest

    def least_reset(self) -> float:
        """The nearest a small deficit's Reset may be for a sliding window to be suspected."""
        return SLIDING_MIN_PRECISE if self.precise else SLIDING_MIN

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
            self.pending = self.stale = 0
            self.given = deque()
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
        # The server's own word: no bound to test.
        self.origins = None
        self.testing = False
        self.proven = self.proven_from = self.test_at = math.inf
        self.test_gap = self.test_seq = None

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
        seconds (or the `proven` bound) plus `guard`; else when the next log entry not already
        promised to a pending request is that old; never before a request granted earlier,
        but for a block's head under test (see the class docstring). None: no log to pace by.

        Past Limit pending, a request waits a window after the slot given Limit requests
        before it, and the slots of all pending requests are kept for that (`given`), not
        only the last Limit: requests asked again (`reslot`), more of them than Limit, give
        theirs back, and the slots left must still reach the ones in flight. Otherwise the
        first of them, finding no slot Limit back, went one alone per window, and all the
        rest at the last of those slots, together: the window refused all but Limit of them,
        and the rate fell to half."""
        window, sends, limit = self.upper, self.sends, self.limit
        if self.window is None or window == math.inf or sends is None or limit is None:
            return None
        if self.proven < window:
            window = self.proven
        pending = self.pending
        last = self.last_slot
        at = last if last > now else now
        promised = self.promised
        if promised != math.inf and len(sends) >= limit and promised < sends[-limit] + window + guard:
            # Before any slot of the log: the server's word is all there is to go by.
            self.promised = math.inf
            self.pending = pending + 1
            at = promised if promised > now else now
            if self.given is not None:
                self.given.append(at)
            return at
        given = self.given
        if pending >= limit:
            # More promised than the window holds (a Limit below the concurrency): a window
            # (and a round trip, to its answer) after the slot given Limit requests ago (kept
            # while pending, see the docstring); with none kept, a window after the last of
            # them, or after now (never at once: the window is full).
            if given is not None and len(given) >= limit:
                free = given[-limit] + window + max(self.trips, default=0.0) + guard
            else:
                free = at + window + guard
        elif len(sends) >= limit - pending:
            entry = sends[pending - limit]
            free = entry + window + guard
            origins = self.origins
            if origins is not None and origins[pending - limit] == entry:
                # The entry is a send's time (logged when it left, before the log paced): the
                # server took it up to a round trip later. The proven bound (its test's own
                # answer against its entry's send) covers none of that; the upper one (the
                # least Reset plus round trip told) covers the way there of the answer that
                # told it, and not the longer ways of others: an opening served one at a
                # time on a loaded machine reaches the server over 100 ms and more, and its
                # slots came back that much later than the log's upper bound gave them.
                # (The way back taken as alike for all: the longest trip's excess is there.)
                if window == self.proven:
                    free += self.trip_most
                elif self.trip_most > self.upper_trip:
                    free += self.trip_most - self.upper_trip
        else:
            free = now
        if free > at:
            at = free
        self.pending = pending + 1
        self.last_slot = at
        if self.testing and self.test_gap is None and pending < limit and len(sends) >= limit - pending:
            early = self._test_slot(now, last, at, pending, guard)
            if early is not None:
                at = self.last_slot = early
        if given is not None:
            given.append(at)
            while len(given) > limit + pending + 1:
                given.popleft()
        return at

    def reslot(self, waiting: int) -> None:
        """The log's slots are given again (`resets` moved): the `waiting` requests holding
        one (asleep until it) ask again, each giving its old slot back first (`slot_unused`).
        Not counted as pending meanwhile, so that they queue again one behind the other, not
        each behind all the others."""
        waiting = min(waiting, self.pending)
        self.pending -= waiting
        self.stale += waiting
        given = self.given
        if given is not None:
            # Theirs were the latest slots given.
            for _ in range(min(waiting, len(given))):
                given.pop()

    def _test_slot(self, now: float, last: float, at: float, pending: int, guard: float) -> float | None:
        """The slot of a block's head held back by the log (its slot `at`), tested earlier;
        None when there is nothing to test (the bounds settled, or not held back for long)."""
        sends, origins, limit = self.sends, self.origins, self.limit
        bound = self.proven if self.proven < self.upper else self.upper
        low = self.lower if self.lower > self.reset_low else self.reset_low
        if sends is None or origins is None or limit is None or bound - low <= SETTLED_WITHIN * bound:
            return None
        gap = max((bound + self.lower) / 2.0, bound * (1.0 - TEST_STEP), low)
        index = len(sends) - (limit - pending)
        early = sends[index] + gap + guard
        if early < now + TEST_AHEAD or early < last + TEST_AHEAD or early >= at:
            return None
        self.test_gap = gap
        self.test_at = early
        # The earliest send among the entries from it on: answers come out of order, and the
        # entry the server let go may be any of those.
        self.test_from = min(islice(origins, index, None))
        return early

    def sent(self, seq: int, now: float) -> None:
        """A request that took a slot leaves (`seq`): the head under test, once it is due."""
        if self.test_seq is None and self.test_gap is not None and now >= self.test_at - 0.001:
            if now - self.test_at > self.upper:
                self._end_test()  # its head never left (cancelled): nothing learned
            else:
                self.test_seq = seq

    def is_test(self, seq: int) -> bool:
        return seq == self.test_seq

    def tested(self, granted: bool, now: float) -> None:
        """The answer to the head under test (`is_test`): granted, the window is at most its
        answer less the send its entry stands for, and the requests waiting for later slots
        ask again (`resets`); refused, the gap it tried is a lower bound."""
        gap = self.test_gap
        if gap is not None:
            if granted:
                proven = now - self.test_from
                if proven < self.proven and proven < self.upper:
                    self.proven = proven
                    self.proven_from = now
                    self.misses = 0
                    self.missed_at = -math.inf
                    self.last_slot = -math.inf
                    self.resets += 1
            elif gap > self.lower:
                self.lower = gap
        self._end_test()

    def refused(self, seq: int, sent_at: float, now: float) -> None:
        """A 429 for a request sent at `sent_at` (send clock) other than a test, answered `now`:
        `REFUTED_BY` misses (429s for requests the proven bound let out) refute it (the log
        goes back to the Reset's bound, and the requests waiting ask again); tests end for
        good. A miss short of that gives the log's slots again (the requests waiting ask
        again, `resets`: slots given a window or more ahead were given on the round trips
        known then), and a 429 for a request sent before it was answered is that miss: the
        block it was sent with, its slots given before anything was known of it."""
        origins, sends = self.origins, self.sends
        if self.testing and origins is not None and sends is not None:
            # A send logged when it left (it took no slot of the log) was refused: the server
            # took no slot for it, and the log gives its entry back (a test across it would
            # prove nothing). Found by its send time, which is its entry's origin.
            for back in range(1, len(origins) + 1):
                if origins[-back] == sent_at:
                    del origins[-back]
                    del sends[-back]
                    break
        if self.proven == math.inf or sent_at < self.proven_from or seq == self.test_seq:
            return
        if sent_at < self.missed_at:
            return
        self.missed_at = now
        self.misses += 1
        if self.misses >= REFUTED_BY:
            self.proven = self.proven_from = math.inf
            self.testing = False
        self.last_slot = -math.inf
        self.resets += 1

    def _end_test(self) -> None:
        self.test_gap = self.test_seq = None
        self.test_at = math.inf

    def log_send(self, now: float) -> None:
        """A request that took no slot leaves now: its send time goes in the log."""
        sends = self.sends
        if sends is not None:
            sends.append(now)
            origins = self.origins
            if origins is not None:
                origins.append(now)

    def answered(self, now: float, sent_at: float | None = None, granted: bool = True) -> None:
        """A request that took a slot (sent at `sent_at`) was answered now, or failed (it may
        have reached the server): its time goes in the log, unless it was refused (`granted`
        False: a 429 took no slot of the server's)."""
        if self.pending > 0:
            self.pending -= 1
        if self.sends is not None and granted:
            self.sends.append(now)
            origins = self.origins
            if origins is not None:
                origins.append(now if sent_at is None else sent_at)

    def slot_unused(self) -> None:
        """A request that took a slot never left (or gives it back to ask again: `reslot`)."""
        if self.stale > 0:
            self.stale -= 1
        elif self.pending > 0:
            self.pending -= 1

    def next_free(self, reserve: int) -> float | None:
        """When (on the send clock) a window that is full may take one more request and still
        keep `reserve` slots to spare; None until enough sends are known. A window suspected
        from the deficits alone is used too: its first time full comes before any token came
        back, and a guess of our own, not the server's word, is all the pause ever was."""
        window, limit = self.window, self.limit
        if window is None and self.small >= self.least_reset() and self.small >= self.large:
            window = self.nearest  # suspected (not yet seen to give back before Reset)
        sends = self.sends
        if window is None or limit is None or sends is None or len(sends) < limit - reserve or limit <= reserve:
            return None
        return sends[reserve - limit] + window
