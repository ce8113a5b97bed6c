"""`HeaderlessWindow`: a window of N requests per P seconds learned from its 429s alone (a
server that sends no rate-limit headers), and the send log that paces it. Pure arithmetic on
the times it is given; no clock, no I/O.

Why not a rate: a window admits a uniform pace just under N / P with no 429 at all, but the
opening burst that exhausted it frees its N slots again one window later, all at once; a
uniform pace leaves them unused, and against a window of 100 per 2 s that alone keeps a run
of 2,000 calls under 95% of what the server grants (its rate plus the one quota). Paced by
a log of its own sends, as a sliding log limiter counts them (a request leaves when fewer
than N of ours left within the last P seconds), the client re-sends each block when its
slots come back. Any window of N per P admits that pace, a fixed one as well as a sliding
one, as long as the log's P is at least the server's; too short a P shows at once as a 429
and ends the model.

What the 429s tell, with nothing else to go by:

1. *The quota*: while nothing is known every send time is kept (`sent`, the first
   `WINDOW_MAX_QUOTA` or so). When the first 429 comes, every request sent so far was
   granted but those refused (answers come out of order: the ones still in flight are
   counted as their 429s come), so N is what the opening sent less what it had refused.
   Fewer than `WINDOW_MIN_QUOTA`, or more than `WINDOW_MAX_QUOTA`, is not taken for a
   window (a token bucket's burst, nginx `limit_req`): CUBIC learns it.
2. *The window turning*: a spell of refusals follows. Nothing is sent but single probes, one
   at a time: with `Retry-After` at its end (whole seconds, rounded up, so a request sent
   then is granted); without it, the first goes `FIRST_STEP` after the last refusal, and
   each refused one puts the next `PROBE_GROWTH` times further out. The first granted probe
   ends the spell.
3. *An upper bound on P*: our first request's slot came back by the time that probe was
   answered, so P is at most that answer minus our first send (plus a round trip, for the
   server's late reading of its clock). The log paces at that, replaying the opening's send
   times, then its own answers' (every request that leaves is logged, one that took no slot
   too: the server counts it).
4. *Tightening it*: a request the log holds back for long (the first of a block) is sent
   early, alone, half way between the bounds on P (at most `TEST_STEP` of the upper one
   early), until they are within `SETTLED_WITHIN`: granted, the log entry it tested was out
   of the server's window, and the upper bound falls to its answer minus that entry (plus a
   round trip); refused (one 429), the gap is a lower bound, and its answer leaves the log
   (the server took no slot for it). The rest of a block leave two round trips after its
   first request, so that a log proved wrong costs one 429, not a block.
5. Any other 429 while the log paces says the log's P is too short: most often a fixed
   window, whose turn let a test (or the spell's probe) through that only showed where it
   turns. The turns then pace it (`WindowTurns`, `_turns.py`), with the quota and the lower
   bound on P the log proved. A 429 the turns did not expect either (a limit that changed,
   another client) gives the window up for good, and the 429s are learned by CUBIC as for any
   other limiter.
6. *An opening across a turn* counts two windows' grants: the first window the log paces
   refuses the excess, its slots past half the opening's count spaced (`_spaced`) so that
   few are in flight then, and the turns start from the turn the opening straddled and the
   spell's.

The module stays whole (a little past 400 lines): the opening, the spell and the log are one
model's three stages, each reading what the one before left in the same fields.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Final

from ._sliding import SlidingEvidence
from ._turns import WindowTurns, narrowed

WINDOW_MIN_QUOTA: Final = 32  # fewer granted before the first 429: a bucket's burst, not a window
WINDOW_MAX_QUOTA: Final = 1000  # the longest log kept (and send times kept while nothing is known)
FIRST_STEP: Final = 0.1  # without Retry-After: the first probe this long after the last refusal
PROBE_GROWTH: Final = 1.5  # ...and each refused probe's distance this many times the last one's
PROBE_RATE: Final = 2.0  # tokens/s after a probe's own: a second probe only if its answer is slow
TEST_STEP: Final = 0.5  # a request is tested at most this share of the bound early
SETTLED_WITHIN: Final = 0.015  # the bounds on P this close (a share of the upper one): no more tests
HEAD_GAP: Final = 0.05  # seconds past the last slot given: the slot starts a new block (its head)
BLOCK_HOLD: Final = 0.02  # the most a block's other requests wait for its first, a share of the window
# The first paced window's slots past half the opening's count: this many round trips apart
# (about two in flight: against a sliding window, which the log replays, each later window's
# second half is delayed by as much; one round trip apart cost 1.4% of a run, half of one 0.4%).
SPACED_TRIPS: Final = 0.5

_OPENING: Final = "opening"
_SPELL: Final = "spell"
_PACED: Final = "paced"
_TURNS: Final = "turns"
_OFF: Final = "off"


class HeaderlessWindow:
    """The window model of one partition (see the module docstring). `state`: `"opening"`
    (nothing known; send times kept), `"spell"` (refused: probing for the window's turn),
    `"paced"` (the log paces), `"turns"` (a fixed window's turns pace, `turns`) or `"off"`
    (not a window, or given up)."""

    __slots__ = (
        "state",
        "active",
        "opening",
        "quota",
        "first_sent",
        "trip",
        "low",
        "high",
        "step",
        "probe_at",
        "spell_sent",
        "log",
        "lower",
        "upper",
        "test_gap",
        "test_at",
        "test_seq",
        "test_from",
        "run_sent",
        "run_granted",
        "run_given",
        "spaced_at",
        "spell_turn",
        "first_seq",
        "spell_at",
        "sentinel_at",
        "sentinel_next",
        "turns",
    )

    def __init__(self, enabled: bool) -> None:
        self._enter(_OPENING if enabled else _OFF)
        self.opening: list[float] | None = [] if enabled else None
        self.quota = 0
        self.first_sent = 0.0
        self.trip = 0.0  # the longest round trip of the spell's answers
        self.low = -math.inf  # the window turned after this (send clock)...
        self.high = math.inf  # ...and by this
        self.step = FIRST_STEP
        self.probe_at: float | None = None  # when the next probe may leave (None: one is out)
        self.spell_sent = 0.0  # the first refused request's send time
        self.log: SlidingEvidence | None = None
        self.lower = 0.0  # P is above this...
        self.upper = math.inf  # ...and at most this (the log's window)
        self.test_gap: float | None = None  # the head under test: its gap...
        self.test_at: float | None = None  # ...its slot...
        self.test_seq: int | None = None  # ...and its sequence number once it left
        self.test_from = 0.0  # the log entry whose slot it tests
        self.run_sent = 0.0  # the log paces requests sent from then on
        self.run_granted = 0  # ...and this many of them were granted
        self.run_given = 0  # slots the log gave while the opening's quota is unproven...
        self.spaced_at = -math.inf  # ...the last of them, once they go one at a time
        self.spell_turn = (-math.inf, math.inf)  # the turn that ended the spell: (lo, hi]
        self.first_seq = 0  # the spell's first refused request
        self.spell_at = 0.0  # when the spell began (requests sent before it: the opening's)
        self.sentinel_at = -math.inf  # the slot of the first request of the current block
        self.sentinel_next = False  # the next slot is a block's first (the one before, a test)
        self.turns: WindowTurns | None = None

    @property
    def spell(self) -> bool:
        return self.state == _SPELL

    @property
    def paced(self) -> bool:
        """The log or the turns give each request its slot (`take_slot`)."""
        return self.state == _PACED or self.state == _TURNS

    def _enter(self, state: str) -> None:
        self.state = state
        # A slot, not a property: the limiter asks it of every answer (`Estimator.learning`).
        self.active = state in (_SPELL, _PACED, _TURNS)

    @property
    def resets(self) -> int:
        """Times the requests waiting for a slot should ask again."""
        return 0 if self.turns is None else self.turns.resets + 1

    def rate(self) -> float | None:
        """The rate the log or the turns hold (quota per window), None before they pace."""
        if self.state == _TURNS and self.turns is not None:
            return self.turns.rate()
        return self.quota / self.upper if self.state == _PACED and self.upper > 0 else None

    def off(self) -> None:
        self._enter(_OFF)
        self.opening = None
        self.log = None
        self.turns = None

    def _to_turns(self, sent_at: float, now: float, retry_after: float | None, inflight: int) -> None:
        """The log's P proved too short (see the module docstring): the turns pace from here.
        The log's slots given and not yet answered come back through `answered`; `inflight`
        of ours (the refused one not among them) are still to be answered."""
        log = self.log
        pending = 0 if log is None else log.pending
        # The log let it go with fewer than quota of ours answered within its P: a fixed window
        # refusing it is longer than that (less a round trip: the log keeps answer times).
        lower = max(self.lower, self.upper - self.trip) if self.upper != math.inf else self.lower
        quota = self.quota
        straddled = WINDOW_MIN_QUOTA <= self.run_granted < quota and sent_at - self.run_sent < self.lower
        seen: tuple[tuple[float, float], ...] = ()
        if straddled:
            # Refused in the window the spell's probe opened, after fewer grants than the
            # opening's: the opening straddled a turn and counted two windows' grants, and
            # the bounds on P taken from its first send are wrong. That turn came between
            # the opening's first send and its first 429, one window before the spell's
            # (every probe between them was refused: no turn came in between).
            quota = self.run_granted
            lower = 0.0
            seen = ((self.first_sent, self.spell_at), self.spell_turn)
        elif self.run_granted + inflight <= quota:
            # No more granted since the spell's probe (its answers and those to come: the
            # log's slots not yet sent never will be, they are asked again) than one window
            # holds: a turn after the probe would have opened a window holding
            # fewer than its quota (the probe was before it), which would not refuse. So the
            # window in force is the one the spell's turn opened, and that turn is its.
            seen = (self.spell_turn,)
        self.quota = quota
        self.turns = WindowTurns(
            quota,
            lower,
            self.trip,
            refused_at=sent_at,
            answered_at=now,
            retry_after=retry_after,
            absorb=pending,
            counting=straddled,
            seen=seen,
        )
        self.log = None
        self._enter(_TURNS)
        self._end_test()

    # -- observations -----------------------------------------------------------------------

    def sent(self, now: float) -> None:
        """A request leaves while nothing is known (`opening` is a list)."""
        opening = self.opening
        if opening is not None:
            opening.append(now)
            if len(opening) > WINDOW_MAX_QUOTA + 64:
                self.off()  # that many granted: no window we keep a log for

    def sent_unlogged(self, now: float) -> None:
        """A request that took no slot leaves while the log paces (its token came before the
        log did): the server counts it, so the log does too."""
        log = self.log
        if log is not None and log.sends is not None:
            log.sends.append(now)

    def sent_logged(self, seq: int, now: float) -> None:
        """A request that took a slot of the log leaves: the head under test, if it is due."""
        if self.turns is not None:
            self.turns.sent(seq, now)
            return
        at = self.test_at
        if at is not None and self.test_seq is None and now >= at - 0.001:
            self.test_seq = seq

    def refused(
        self, seq: int, sent_at: float, now: float, retry_after: float | None, *, inflight: int = 0
    ) -> None:
        """A 429 with no rate-limit headers for request `seq`, sent at `sent_at`; `inflight`
        other requests of ours are still out."""
        state = self.state
        if state == _OPENING:
            opening = self.opening
            # Every request sent so far was granted but the refused ones (those still in
            # flight are answered later, and counted then).
            quota = 0 if opening is None else len(opening) - 1
            if quota < WINDOW_MIN_QUOTA or quota > WINDOW_MAX_QUOTA or opening is None:
                self.off()
                return
            self._enter(_SPELL)
            self.quota = quota
            self.first_sent = opening[0]
            self.spell_sent = sent_at
            self.first_seq = seq
            self.spell_at = now
            self.low = sent_at
        elif state == _SPELL:
            if sent_at < self.spell_at and seq != self.first_seq:
                # Another of the opening refused (in flight together with the first one).
                self.quota -= 1
                if self.quota < WINDOW_MIN_QUOTA:
                    self.off()
                    return
            probe_at = self.probe_at
            if probe_at is not None and sent_at >= probe_at - 0.001:
                self.step *= PROBE_GROWTH  # the probe was refused: the next one further out
        elif state == _PACED:
            if seq == self.test_seq and self.test_gap is not None:
                self.lower = max(self.lower, self.test_gap)  # the head was early: P is longer
                self._unlog(now)
                self._end_test()
            elif sent_at >= self.run_sent:
                self._to_turns(sent_at, now, retry_after, inflight)
            return
        elif state == _TURNS and self.turns is not None:
            self.turns.refused(seq, sent_at, now, retry_after)
            if self.turns.broken:
                self.off()
            return
        else:
            return
        trip = now - sent_at
        if trip > self.trip:
            self.trip = trip
        self.low, self.high = narrowed(self.low, self.high, sent_at, now, retry_after)
        self.probe_at = self.high if self.high != math.inf else self.low + self.step

    def granted(self, seq: int, sent_at: float, now: float) -> None:
        """A success for request `seq` (observed only while the model is active)."""
        state = self.state
        if state == _SPELL:
            if sent_at < self.spell_at:
                return  # the opening's, granted: counted already
            opening = self.opening
            if opening is None:
                self.off()
                return
            quota = self.quota
            # Our first request's slot was back by now (P <= now - first send, plus a round
            # trip for the server's reading of its clock): the log paces at that, replaying
            # the opening's send times, then the answers' (later than the server's readings).
            self.spell_turn = (self.low, now)
            upper = now - self.first_sent + max(self.trip, now - sent_at)
            log = SlidingEvidence()
            log.limit = quota
            log.window = log.upper = upper
            log.sends = deque(opening[:quota], maxlen=quota)
            log.sends.append(now)  # the probe took the first slot
            self.log = log
            self.opening = None
            self.upper = upper
            self.lower = max(0.0, self.low - self.first_sent - self.trip)
            self._enter(_PACED)
            self.run_sent = sent_at
            self.run_granted = 1
        elif state == _PACED and sent_at >= self.run_sent:
            self.run_granted += 1
            if seq == self.test_seq and self.test_gap is not None and self.log is not None:
                self._tested(now)
        elif state == _TURNS and self.turns is not None:
            self.turns.granted(seq, sent_at, now)
            if self.turns.broken:
                self.off()

    def _tested(self, now: float) -> None:
        if self.log is not None:
            # Granted: the log entry it tested (an answer, or a send of the opening) was out of
            # the server's window by now, its server time at most a round trip before it.
            upper = now - self.test_from + self.trip
            if upper < self.upper:
                self.upper = self.log.window = self.log.upper = upper
            self._end_test()

    def _unlog(self, answered_at: float) -> None:
        """The head under test was refused: the server took no slot for it. Its answer leaves
        the log, and the entry its logging pushed out (the one it tested) comes back."""
        log = self.log
        sends = None if log is None else log.sends
        if sends is None:
            return
        # Its answer was logged a moment before this (a later reading of the clock): the
        # newest entry that near it, among those answered since.
        for back in range(1, min(len(sends), 64) + 1):
            if abs(sends[-back] - answered_at) < 0.005:
                del sends[-back]
                sends.appendleft(self.test_from)
                return

    def _end_test(self) -> None:
        self.test_gap = self.test_at = self.test_seq = None

    # -- decisions ------------------------------------------------------------------------

    def take_slot(self, now: float, guard: float) -> float | None:
        """While the log paces: when a request granted now may leave (as the sliding log's
        `take_slot`), the head of a block sometimes earlier, under test."""
        if self.turns is not None:
            return self.turns.take_slot(now, guard)
        log = self.log
        if log is None:
            return None
        if self.test_at is not None and now - self.test_at > self.upper:
            self._end_test()  # the head under test never left (cancelled): nothing learned
        last, pending, sends = log.last_slot, log.pending, log.sends
        at = log.take_slot(now, guard)
        if at is None:
            return None
        if at - last >= HEAD_GAP or self.sentinel_next:
            self.sentinel_at = at  # a new block: its first request goes ahead of the others
            self.sentinel_next = False
        else:
            # The rest of a block leave once the first one's answer could have come: if it is
            # refused (the log's window too short: not the window it was taken for), the
            # others are held back (the middleware re-queues them), not refused with it.
            # (Two round trips, and no more than `BLOCK_HOLD` of the window, whatever a slow
            # answer in the spell said.)
            hold = self.sentinel_at + min(2.0 * self.trip, BLOCK_HOLD * self.upper)
            if at < hold:
                at = log.last_slot = hold
        if self.run_granted < self.quota:
            at = self._spaced(at, log)
        upper, lower = self.upper, self.lower
        if (
            sends is None
            or self.test_gap is not None
            or pending >= self.quota
            or len(sends) < self.quota - pending
            or upper - lower <= SETTLED_WITHIN * upper
        ):
            return at
        # Held back by the log: test whether its slot is back sooner (see the module docstring).
        entry = sends[pending - self.quota]
        gap = max((upper + lower) / 2.0, upper * (1.0 - TEST_STEP))
        early = entry + gap + guard
        if early < now + HEAD_GAP or early < last + HEAD_GAP or early >= at:
            return at  # not held back for long: nothing to test
        log.last_slot = early
        self.sentinel_next = True  # the test is not the block's first: the next one is
        self.test_gap = gap
        self.test_at = early
        self.test_from = entry
        return early

    def _spaced(self, at: float, log: SlidingEvidence) -> float:
        """The first window the log paces, the opening's quota not yet granted whole: past half
        of it, the slots go `SPACED_TRIPS` round trips apart (but all within a quarter of the
        window). An opening that straddled a fixed window's turn counted two windows'
        grants, up to twice the quota; this window refuses at the real one, and only the
        requests then in flight (about two) are refused with it, not every one the log let go."""
        self.run_given += 1
        if self.run_given <= self.quota // 2:
            return at
        space = min(SPACED_TRIPS * self.trip, self.upper / (2.0 * self.quota))
        if at < self.spaced_at + space:
            at = log.last_slot = self.spaced_at + space
        self.spaced_at = at
        return at

    def answered(self, now: float, sent: bool) -> None:
        if self.turns is not None:
            self.turns.slot_done(sent)
            return
        log = self.log
        if log is None:
            return
        if sent:
            log.answered(now)
        else:
            log.slot_unused()
