"""`Estimator`: one partition's learning, as a pure state machine (sans-I/O).

Observations in: `sent(now)` when a request leaves, `observe(status, info, seq, sent_at, now,
wall)` when its answer comes (the parsed headers in `info`), `failed()` when it got none. A
`Decision` out: the local bucket's rate and capacity, a cap on its tokens, and the pauses. The
estimator never sleeps, reads no clock and does no I/O; the middleware applies its decisions to
a `TokenBucket`. Tests drive it with tables of observations and plain numbers for time.

How the server's answers steer the decision:

1. *Sync*: the local bucket may hold no more than `Remaining - k - 1` tokens, where `k` is the
   number of requests sent after this one (they will take from the server's bucket too) and the
   1 is a reserve left in the server's bucket so that jitter in arrival times does not cost a
   429. If the server is emptier than we thought, the bucket goes into debt and waits.
   Answers come in any order, so `Remaining - k` may count twice the requests the server
   counted before this one; alone at the server, the count floor (`_proven_left`) stands in
   for it when it proves more is left.
2. *Empty*: `Remaining` 0 (after `k`) pauses until one token is due at a rate we trust (the
   configured one, or the lower bound learned), and never past `Reset`; with nothing known, it
   pauses until `Reset`, a pause the server set.
3. *Spread*: with no configured rate, the bucket refills at the learned rate, and never slower
   than `Remaining / (Reset - now)`: what remains is spread over the window, not burst at once.
   But a quota per window told without its window (GitHub's `X-RateLimit-Used`) is used in a
   burst at each turn, the bucket raised at each answer to what the server surely has to
   spare, the first request after a pause until Reset alone, and that pause lengthened by
   what a refusal past the Reset told (`QuotaWindow`, `_quota.py`).
4. *Retry-After* (on a 429 or 503) pauses the partition for that long, whatever else was said.
5. *429*: counted; with `adaptive`, a congestion event cuts the rate and CUBIC probes back up
   (`Congestion`). With no headers at all this is the only signal, and it is enough.
   Unless the opening's first 429 came after many grants (a window's quota, not a bucket's
   burst) and the caller paces one process alone: then the server is taken for a window of
   N per P and paced by a send log of its own (`HeaderlessWindow`, `_window.py`), not at a
   rate, and its 429s cut nothing while that model holds; a 429 the log did not expect hands
   a fixed window to its turns (`WindowTurns`, `_turns.py`), and one they did not expect gives
   the model up, and CUBIC goes on from the rate the log or the turns held.
6. *Sliding windows* told in X-RateLimit headers, and any window told in the IETF fields
   (`RateLimit-Policy` q;w and an answer leaving q - 1: `SlidingEvidence.told`): when the
   caller paces one process alone (`log_pacing`), by the send log as a sliding log does (`take_slot`: a
   request leaves when fewer than Limit of ours were answered within the window's upper
   bound, pending ones counted, so the block the opening burst frees a window later goes out
   at once), and the rate stops binding; otherwise at Limit per window. When full, the next
   request waits for the slot our own request of Limit sends ago gives back, with no
   reserve; a 429 from a full one does not cut the rate.
7. *Testing the window's bound* (X-RateLimit, a Reset told to a fraction of a second: it
   may name the next slot, and late by a constant, as slowapi's does by a second): the log
   paces by the widest Reset told, and the head of a block it holds back goes early, alone,
   at the gap the Reset allows (the widest less a second). Granted, the window is at most
   its answer less the send of the entry it tested: the log paces by that proven bound and
   the waiting requests ask again at once; refused, no pause and no cut (the gap is a lower
   bound). A refused send leaves the log; 429s for requests the proven bound let out refute
   it (`SlidingEvidence`). While such a log will pace, an empty window sets no pause; while
   it paces, no 429 cut binds (one made before the window was known would spread the log's
   sends, and leave it no block's head to test).

Every pause the server sets (Retry-After in seconds or as a date, a Reset with nothing left,
on a 429 or a 503) is capped at `max_pause`: one hostile or broken header cannot stop the
client for longer than that.

The first request of a partition goes alone (a probe, see `TokenBucket.gated`) while the
server's limit is not known: a client that opens with 64 concurrent calls would otherwise
spend most of them on 429s before the first header arrives.

The module stays whole (past 400 lines) because it is one state machine: the sync, the pauses
and the rate all read and write the same handful of fields, and the 429 learning and the refill
bounds it uses already live apart, in `_adaptive.py`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final, NamedTuple

from ._adaptive import TEST_AFTER, TESTED_RETRY_AFTER, Congestion, RefillEstimate, SendMeter
from ._headers import InfoFields, RateLimitInfo
from ._quota import QuotaWindow
from ._sliding import SlidingEvidence
from ._window import PROBE_RATE, HeaderlessWindow

RESERVE: Final = 1.0  # tokens left in the server's bucket to absorb jitter...
RESERVE_FROM: Final = 2  # ...when it holds at least this many (a bucket of 1 has none to spare)
RATE_WINDOW: Final = 1.0  # seconds over which the server's drain is measured
# With nothing but 429s to go by, the local bucket holds this many seconds' worth of tokens: a
# client that was idle may send a small burst, not a second's worth at once.
LEARNED_BURST_SECONDS: Final = 0.1
SETTLED_EVERY: Final = 0.02  # seconds between full observations while the server has plenty
SETTLED_LEFT: Final = 100  # ...of at least this many requests left
# Seconds the send log waits past a slot's return (the log keeps answer times and an upper
# bound of the window, so this is only a margin for the server's own clock reading).
LOG_GUARD: Final = 0.002
# Tokens back this long before a Reset told to a fraction of a second are back well before it.
PRECISE_EARLY: Final = 0.25
_THROTTLED: Final = 429
_PAUSING: Final = frozenset({429, 503})
_SAME_INSTANT: Final = 0.001  # seconds: a send this close to a due time left at it
# Requests whose count of others in flight at their send is kept (`Estimator.flown`).
FLOWN: Final = 1024


class Decision(NamedTuple):
    """What the bucket should do after a response. `rate` and `capacity` are the new values
    (math.inf: not binding); the others are None when there is nothing to do:

    - `max_tokens`: hold at most this many tokens now (negative: a debt);
    - `pause_until`: no grant before this (monotonic), by the limiter's own reckoning;
    - `server_pause_until`: no grant before this, because the server said so (capped);
    - `shared_pause`: that pause in seconds, for a shared backend to spread to every process;
    - `tokens`: hold exactly this many tokens now (a single request due at a set time).
    - `min_tokens`: hold at least this many tokens now (the server is proven to have that
      many to spare after every request in flight: a quota per window, `QuotaWindow.spare`).
    """

    rate: float
    capacity: float
    max_tokens: float | None = None
    pause_until: float | None = None
    server_pause_until: float | None = None
    shared_pause: float | None = None
    tokens: float | None = None
    min_tokens: float | None = None


class Estimator:
    """The learning of one partition (see the module docstring). `rate` and `capacity` are the
    last decision's."""

    __slots__ = (
        "configured_rate",
        "configured_burst",
        "adaptive",
        "max_pause",
        "rate",
        "capacity",
        "sent",
        "inflight",
        "flown",
        "counted",
        "limit",
        "remaining",
        "remaining_at",
        "reset_wall",
        "model",
        "refill",
        "policy_rate",
        "spread_rate",
        "rough_rate",
        "quota",
        "probe_rate",
        "probe_time",
        "window_like",
        "empty_early",
        "drain_since",
        "drain_remaining",
        "drain_granted",
        "congestion",
        "meter",
        "learned_at",
        "skim_until",
        "skim_left",
        "unread",
        "sliding",
        "log_pacing",
        "log_paced",
        "window",
    )

    def __init__(
        self,
        *,
        rate: float | None,
        burst: int | None,
        adaptive: bool,
        max_pause: float,
        now: float,
    ) -> None:
        self.configured_rate = rate
        self.configured_burst = burst
        self.adaptive = adaptive
        self.max_pause = max_pause
        self.rate = rate if rate is not None else math.inf
        self.capacity = float(burst) if burst is not None else (1.0 if rate else math.inf)
        self.sent = 0
        self.inflight = 0
        # Per request (by its sequence number, the last FLOWN of them): how many of ours were
        # in flight when it left; and the best count floor from them (`_proven_left`).
        self.flown = [0] * FLOWN
        self.counted = 0
        # The server's last word.
        self.limit: int | None = None
        self.remaining: int | None = None
        self.remaining_at = -math.inf  # when the answer that told it came
        self.reset_wall: float | None = None
        self.model = "bucket"
        # What the headers taught.
        self.refill = RefillEstimate()
        self.policy_rate: float | None = None
        self.spread_rate: float | None = None
        self.rough_rate: float | None = None
        self.quota = QuotaWindow()  # a quota per window told without its window (GitHub's)
        self.probe_rate: float | None = None
        self.probe_time = now
        self.window_like = False
        self.empty_early = False
        self.drain_since: float | None = None
        self.drain_remaining = 0
        self.drain_granted = 0
        # What the 429s taught, and what we send.
        self.congestion = Congestion(now)
        self.meter = SendMeter(now)
        self.learned_at = -math.inf  # when a response last went through `observe`
        # After a settled answer: answers before `skim_until` (monotonic), `skim_left` of them,
        # are counted and not read (`skim`); the headers of the last one are kept, unread.
        self.skim_until = -math.inf
        self.skim_left = 0
        self.unread: Mapping[str, str] | None = None
        self.sliding = SlidingEvidence()
        # Whether the caller asks `take_slot` before each send (it paces one process alone);
        # while it does and a sliding window is known, the send log paces, not the rate.
        self.log_pacing = False
        self.log_paced = False
        # A window without headers, learned from its 429s (`_window.py`).
        self.window = HeaderlessWindow(enabled=adaptive and rate is None)

    # -- observations ---------------------------------------------------------------------

    def on_send(self, now: float, logged: bool = False) -> int:
        """A request leaves now; returns its sequence number (for `observe`). `logged`: it
        took a slot of the send log (`take_slot`), logged when it is answered (`slot_done`)."""
        sent = self.sent = self.sent + 1
        self.flown[sent % FLOWN] = self.inflight
        self.inflight += 1
        meter = self.meter
        if now - meter.start < 1.0:
            meter.current += 1  # `SendMeter.add`'s common case, inline: this runs on every send
        else:
            meter.add(now)
        sliding = self.sliding
        if sliding.sends is not None:
            if not logged:
                sliding.log_send(now)
            elif sliding.test_gap is not None:
                sliding.sent(self.sent, now)  # the head under test, if it is due
        window = self.window
        if window.opening is not None:
            window.sent(now)
        elif logged:
            window.sent_logged(self.sent, now)
        elif window.log is not None:
            window.sent_unlogged(now)
        return self.sent

    def take_slot(self, now: float) -> float | None:
        """While a sliding window paces by the send log (`log_paced`): when a request granted
        now may leave, logged as its send (see `SlidingEvidence.take_slot`); the guard is the
        `LOG_GUARD`. None: it may leave now, and took no slot."""
        if not self.log_paced:
            return None
        if self.window.paced:
            return self.window.take_slot(now, LOG_GUARD)
        return self.sliding.take_slot(now, LOG_GUARD)

    def slot_done(self, now: float, sent: bool, sent_at: float | None = None, granted: bool = True) -> None:
        """A request that took a slot was answered now (or failed: it may have reached the
        server), `sent` at `sent_at` (`granted`: not answered 429); or never left."""
        if self.window.paced:
            self.window.answered(now, sent)
        elif sent:
            self.sliding.answered(now, sent_at, granted)
        else:
            self.sliding.slot_unused()

    def failed(self) -> None:
        """A request that left got no response (a connection error, a cancellation)."""
        self.inflight -= 1

    @property
    def log_resets(self) -> int:
        """Changes with each time the requests waiting for a slot should ask again."""
        return self.sliding.resets + self.window.resets

    def reslot(self, waiting: int) -> None:
        """The `waiting` requests asleep until a slot are about to ask again (`log_resets`
        moved): a sliding window's log queues them one behind the other (`SlidingEvidence.reslot`)."""
        if not self.window.paced:
            self.sliding.reslot(waiting)

    @property
    def learning(self) -> bool:
        """True while every response must be observed even without rate-limit headers (the
        rate is climbing back after a 429)."""
        return self.congestion.cubic is not None or self.window.active

    def observe_settled(
        self, status: int, info: InfoFields, seq: int, now: float, wall: float
    ) -> float | None:
        """The hot path: take in a response that changes nothing but the sync, and return the
        most tokens the local bucket may hold (`Remaining - k - 1`); or return None, and the
        caller calls `observe`. It is such a response when it is a success, the server's bucket
        is at least half full even after the requests still in flight (and holds at least
        `SETTLED_LEFT`: a small bucket is learned from on every answer), no 429 is being
        recovered from, and a full `observe` ran less than `SETTLED_EVERY` seconds ago (so the
        refill estimate still gets a sample that often)."""
        if status == _THROTTLED or status == 503 or now - self.learned_at >= SETTLED_EVERY:
            return None
        limit, remaining, reset_after, _quota, _window, retry_after, model = info
        if (
            remaining is None
            or limit is None
            or limit != self.limit
            or model != self.model
            or retry_after is not None
        ):
            return None
        left = remaining - (self.sent - seq)
        since = self.drain_since
        if (
            left < SETTLED_LEFT
            or left * 2 < limit
            or self.congestion.cubic is not None
            or since is None
            or now - since >= RATE_WINDOW
        ):
            return None
        self.drain_granted += 1
        self.inflight -= 1
        self.remaining = remaining
        self.unread = None
        if reset_after is not None:
            self.reset_wall = wall + reset_after
        # The next answers until the next full observation is due (and within the drain's
        # window) are only counted: at most half of what is left over SETTLED_LEFT, so that
        # even if every one of them were ours and the server counted none of them yet, the
        # server would still hold SETTLED_LEFT when the next one is read.
        self.skim_until = min(self.learned_at + SETTLED_EVERY, since + RATE_WINDOW)
        self.skim_left = (left - SETTLED_LEFT) // 2
        return left - RESERVE if limit >= RESERVE_FROM else float(left)

    def skim(self, status: int, headers: Mapping[str, str], now: float) -> bool:
        """The settled hot path's shortcut: count an answer without reading it, when a settled
        answer came less than SETTLED_EVERY ago, its budget (`skim_left`) is not spent, and
        this one is no 429 or 503. Its headers are kept (`unread`) for `status()`, which reads
        them when asked; the next answer past the time or the budget is read again. (The
        caller checks `skim_left` first: this is a call it makes only while skimming.)"""
        if now >= self.skim_until or status == _THROTTLED or status == 503:
            self.skim_left = 0
            return False
        self.skim_left -= 1
        self.inflight -= 1
        self.drain_granted += 1
        self.unread = headers
        return True

    def observe(
        self,
        status: int,
        info: RateLimitInfo | None,
        seq: int,
        sent_at: float,
        now: float,
        wall: float,
        binding: bool = False,
    ) -> Decision:
        """The answer to request `seq` (sent at `sent_at`, answered at `now`; `wall` is the Unix
        time `info` was parsed at; `binding`: it had waited for its token)."""
        self.inflight -= 1
        self.learned_at = now
        self.skim_left = 0
        self.unread = None
        later = self.sent - seq  # requests sent after this one: they take from the server too
        max_tokens: float | None = None
        min_tokens: float | None = None
        quota_window = False  # a quota per window told without its window (GitHub's)
        pause: float | None = None
        server_pause: float | None = None
        shared: float | None = None
        window = self.window
        if window.state != "off":
            self._learn_window(window, status, info, seq, sent_at, now)
        owned = window.active  # the window model paces: its 429s cut nothing
        sliding = self.sliding
        test = sliding.test_seq == seq  # the head of a block sent early, testing the log's bound
        if test:
            sliding.tested(status != _THROTTLED, now)
        elif status == _THROTTLED:
            sliding.refused(seq, sent_at, now)
        if (
            status == _THROTTLED
            and self.empty_early
            and self.configured_rate is None
            and self.sliding.window is None
        ):
            # We sent before Reset because the bucket model said a token would be back; the
            # 429 says this server is a fixed window: from now on, an empty quota waits for Reset.
            self.window_like = True
        if info is not None:
            _limit, remaining, reset_after, _quota, _window, _retry_after, model = info
            self._read(info, status, sent_at, now, wall, later)
            quota = self.quota
            if model == "window" and status == _THROTTLED and remaining is not None and remaining > 0:
                # Refused with quota left: a second limit (as GitHub's secondary ones), which
                # the quota path's bursts would run into; the rate is learned instead.
                quota.second_limit = True
                quota.rate = None
            quota_window = (
                (model == "window" or self.window_like) and self.policy_rate is None and not quota.second_limit
            )
            if quota_window:
                if status == _THROTTLED and self.log_pacing:
                    quota.refused(wall - (now - sent_at), self.max_pause)
                quota.pace(self.limit, remaining, later, self.reset_wall, wall, self.log_pacing)
                if remaining is not None and reset_after is not None and self.log_pacing:
                    reserve = RESERVE if (self.limit or 0) >= RESERVE_FROM else 0.0
                    min_tokens = quota.spare(remaining, wall + reset_after, self.inflight, reserve)
            if remaining is not None:
                left = remaining - later
                if self.log_pacing and not self.log_paced and later < FLOWN and self.configured_rate is None:
                    # (Never past what this answer told: the server's own word that it is
                    # empty stands, whatever we counted. Once the send log paces, it counts
                    # the slots itself, and an empty window is its to answer.)
                    proven = min(self._proven_left(status, remaining, seq), remaining)
                    if proven > left:
                        left = proven
                reserve = RESERVE if (self.limit or 0) >= RESERVE_FROM else 0.0
                if self.sliding.window is not None and self.configured_rate is None:
                    # The send log knows when each slot of a sliding window comes back (and
                    # waits a round trip more for it): no reserve needed, which would cost
                    # a slot of every window.
                    reserve = 0.0
                cap = left - reserve
                max_tokens = cap
                if left <= 0 and self.log_paced and self.sliding.told_window:
                    # A window the server told, paced by the send log: the log holds each
                    # request until its own slot comes back. A pause here would not: `left`
                    # counts twice the answers that overtook this one, and a pause is only
                    # ever extended, so it would hold the window's last free slots back
                    # until Reset. The moment the server said more comes is kept for one
                    # request (`SlidingEvidence.promised`): a fixed window's end, which the
                    # log knows nothing of.
                    self.empty_early = False
                    if reset_after is not None:
                        self.sliding.promised = now + reset_after
                elif left <= 0 and self.log_pacing and sliding.testing and self.configured_rate is None:
                    # A sliding window in X-RateLimit headers whose bound the log tests (or
                    # will, once it is known: a pause set now would outlast that): the log
                    # holds each request until its slot, and a pause would hold back the
                    # block's head it sends early.
                    self.empty_early = False
                elif left <= 0 and quota_window and remaining > 0 and self.quota.rate is not None:
                    max_tokens = -reserve
                    # A quota per window with some left, and more requests in flight than
                    # that: they take it (and the one that leaves it empty pauses until
                    # Reset), unless the server counted some of them already (it takes
                    # requests out of their send order): a debt, not a pause, which is only
                    # ever extended and would hold the slots those leave back until Reset.
                    self.empty_early = False
                elif left <= 0:
                    if reset_after is not None and model == "window" and self.reset_wall is not None:
                        reset_after = max(0.0, self.reset_wall - wall)
                        if quota_window:
                            reset_after += self.quota.late
                    wait, said = self._empty_wait(reset_after, reserve - left)
                    free_at = self.sliding.next_free(int(reserve))
                    if free_at is not None and self.configured_rate is None:
                        # A sliding window: the next slot is the one our own request of
                        # Limit - reserve sends ago gives back, a window after it left (and
                        # a round trip more: it reached the server late by up to that).
                        wait = max(0.0, free_at + (now - sent_at) - now)
                        said = False
                        if reset_after is not None and reset_after < wait:
                            wait = reset_after
                    self.empty_early = reset_after is not None and wait < reset_after
                    if wait > 0:
                        if said:
                            server_pause = now + min(wait, self.max_pause)
                        else:
                            pause = now + min(wait, self.max_pause)
                else:
                    self.empty_early = False
        # (A test refused is answered by the log, not by a pause: `SlidingEvidence.tested`.)
        retry_after = info.retry_after if info is not None and status in _PAUSING and not test else None
        congestion = self.congestion
        begun = False
        tested = congestion.test_at is not None and sent_at >= congestion.test_at - _SAME_INSTANT
        if tested:
            # The request sent to test a short Retry-After (`TESTED_RETRY_AFTER`).
            again = min(retry_after, self.max_pause) if retry_after is not None else None
            until = congestion.tested(status != _THROTTLED, now, now - sent_at, again)
            if until is not None and (server_pause is None or until > server_pause):
                server_pause = until
        if status != _THROTTLED:
            congestion.granted(now)
        elif (
            self.adaptive
            and not owned
            and not test
            and not tested
            and not (self.sliding.window is not None and info is not None and info.remaining == 0)
        ):
            # (A full sliding window refusing a request sent early is a miss in timing, not a
            # rate past its Limit per window: the pause until its next slot answers it.)
            if congestion.is_new(seq, sent_at):
                at = self._sending_at(now, binding)
                if retry_after is not None and congestion.covers(retry_after, at):
                    retry_after = None  # our own probe overshot: the cut answers it
                resume_at = now + min(retry_after, self.max_pause) if retry_after is not None else now
                if (
                    retry_after is not None
                    and retry_after <= TESTED_RETRY_AFTER
                    and server_pause is None
                    and pause is None
                    and (info is None or info.reset_after is None)
                ):
                    # Retry-After alone, and short: tested, not obeyed (`TESTED_RETRY_AFTER`).
                    # Every process sharing the bucket still pauses (`shared`).
                    test_at = now + retry_after * TEST_AFTER
                    congestion.test(test_at, resume_at)
                    begun = True
                    shared = min(retry_after, self.max_pause)
                    resume_at = test_at
                    retry_after = None
                if server_pause is not None and server_pause > resume_at:
                    resume_at = server_pause
                congestion.cut(seq, self.sent, sent_at, now, resume_at, at, opened=self.rate == math.inf)
                # A new congestion event: the server's bucket is empty now, whatever we thought.
                max_tokens = 0.0 if max_tokens is None or max_tokens > 0.0 else max_tokens
            else:
                retry_after = None  # the event's first 429 decided the pause
        else:
            max_tokens = 0.0 if max_tokens is None or max_tokens > 0.0 else max_tokens
        if retry_after is not None:
            # Retry-After wins over what the other headers said: the whole partition waits.
            retry_after = min(retry_after, self.max_pause)
            until = now + retry_after
            server_pause = until if server_pause is None or until > server_pause else server_pause
            max_tokens = 0.0 if max_tokens is None or max_tokens > 0.0 else max_tokens
            shared = retry_after
        rate, capacity = self.tune(now)
        if window.active:
            # The window model paces (`_window.py`): no pause, no cut; its probes or its log.
            if window.spell:
                wait = (
                    0.0 if window.probe_at is None else min(max(0.0, window.probe_at - now), self.max_pause)
                )
                self.rate, self.capacity = PROBE_RATE, 1.0
                # Exactly one token when the probe is due, the next one a while after it.
                return Decision(PROBE_RATE, 1.0, 1.0 - PROBE_RATE * wait)
            return Decision(rate, capacity)
        due = congestion.test_at
        if due is not None:
            # One token when the test is due, the next a while after it (`PROBE_RATE`): set
            # when the test begins (the bucket may be in debt); later answers keep to it.
            self.rate, self.capacity = PROBE_RATE, 1.0
            tokens = 1.0 - PROBE_RATE * max(0.0, due - now)
            if begun:
                return Decision(PROBE_RATE, 1.0, None, None, None, shared, tokens)
            return Decision(PROBE_RATE, 1.0, tokens)
        if max_tokens is not None:
            floor = self._debt_floor()
            if max_tokens < floor:
                max_tokens = floor
        if status == _THROTTLED or server_pause is not None or pause is not None:
            # Nothing to spare. A quota per window refused or paused (until its Reset, or until
            # the next slot of a sliding window suspected, `next_free`: a pause of ours), no
            # debt either: the bucket holds its one token (the capacity) when the pause ends
            # (`QuotaWindow`). The 429s after an event's first set no pause of their own (its
            # Retry-After was that one's), and a debt of the requests sent after them, which
            # took nothing from the window, would cost a Reset each at the quota's rate of a
            # token per Reset: 31 refused together would hold the partition about a minute.
            min_tokens = 0.0 if quota_window and self.log_pacing and self.quota.rate is not None else None
        return Decision(rate, capacity, max_tokens, pause, server_pause, shared, min_tokens=min_tokens)

    def _learn_window(
        self,
        window: HeaderlessWindow,
        status: int,
        info: RateLimitInfo | None,
        seq: int,
        sent_at: float,
        now: float,
    ) -> None:
        """Feed a header-less window model (a response with rate-limit headers ends it: the
        headers are learned instead)."""
        if info is not None and (
            info.limit is not None or info.remaining is not None or info.reset_after is not None
        ):
            window.off()
        elif status == _THROTTLED:
            if window.state == "opening" and not self.log_pacing:
                window.off()  # not alone at the server: our log cannot count the others' sends
                return
            rate, spell = window.rate(), window.spell
            window.refused(
                seq, sent_at, now, info.retry_after if info is not None else None, inflight=self.inflight
            )
            if rate is not None and not window.active:
                # Given up: CUBIC learns from here, starting near the rate the log held.
                self.congestion.restart(rate, self.sent, now)
            elif spell and not window.active:
                # Not a window after all (too few granted): the opening was not paced, and
                # this 429 is the congestion event the probes' rate only stood in for.
                self.rate = math.inf
        elif status != 503:
            window.granted(seq, sent_at, now)

    def _sending_at(self, now: float, binding: bool) -> float:
        """The rate a 429 happened at: the pacing rate when it held the request back (a queue
        waits on it, so that is what we send); else what we sent in the last second, and no more
        than the pacing rate."""
        rate = self.rate
        if binding and rate != math.inf:
            return rate
        sent = self.meter.rate(now)
        return sent if sent < rate else rate

    def tune(self, now: float) -> tuple[float, float]:
        """The bucket's rate and capacity from the config, the headers and the 429s."""
        window_paced = self.window.paced
        self.log_paced = (
            self.log_pacing
            and self.configured_rate is None
            and (window_paced or (self.sliding.window is not None and self.sliding.sends is not None))
        )
        rate = self._base_rate()
        if self.adaptive and not window_paced and not self.log_paced:
            # (While the send log paces, no cut binds either, not even one made before the
            # window was known, as the opening's 429 before a sliding window's tokens came
            # back: CUBIC's climb would let requests out one by one, spreading the log's
            # entries evenly, and a log with no block in it has no head to test its bound by,
            # so it would pace at the widest Reset for good, half slowapi's rate.)
            rate = self.congestion.cap(now, rate)
        if self.configured_rate is None and self.max_pause > 0 and rate < 1.0 / self.max_pause:
            # What the headers taught is capped like a pause: the next request is never
            # further away than max_pause (a Reset of 23 hours would teach 10 a day).
            rate = 1.0 / self.max_pause
        capacity = self._capacity(rate)
        self.rate = rate
        self.capacity = capacity
        return rate, capacity

    def _debt_floor(self) -> float:
        """The deepest debt the sync may put the bucket in: a bucket's worth, and (with a learned
        rate) no more than the tokens that refill within max_pause."""
        floor = -self.capacity
        if self.configured_rate is None and self.rate != math.inf:
            within = 1.0 - self.rate * self.max_pause
            if within > floor:
                floor = within
        return floor

    def adaptive_rate(self, now: float) -> float | None:
        cubic = self.congestion.cubic
        return None if cubic is None else cubic.rate(now)

    def server_rate(self) -> float | None:
        return self._bucket_rate() if self.model == "bucket" else self.policy_rate

    def _bucket_rate(self) -> float | None:
        """The refill rate learned from X-RateLimit headers: Limit per window for a sliding
        window, else the token bucket's upper bound."""
        sliding = self.sliding.rate()
        return sliding if sliding is not None else self.refill.rate()

    # -- the headers ----------------------------------------------------------------------

    def _read(
        self, info: RateLimitInfo, status: int, sent_at: float, now: float, wall: float, later: int
    ) -> None:
        """Take in what the headers say about the server (everything but the pauses)."""
        limit, remaining, reset_after, quota, window, _retry_after, model = info
        if limit is not None:
            self.limit = limit
        if remaining is not None:
            last, reset_wall = self.remaining, self.reset_wall
            # (A Reset told to a fraction of a second is not rounded up: a quarter of a second
            # before it is well before it.)
            early = PRECISE_EARLY if self.sliding.precise else 1.0
            if last is not None and remaining > last and reset_wall and wall < reset_wall - early:
                # Tokens came back well before Reset, or seem to: maybe a sliding window, whose
                # log is safe for a fixed window too.
                self.sliding.came_back = True
                if sent_at > self.remaining_at:
                    # Came back for sure: this request was sent after the answer that told the
                    # last Remaining, so the server counted it later. Not a fixed window (a 429
                    # that suggested one was an overshoot). (Answers to requests in flight
                    # together come in any order: a higher Remaining among them was counted
                    # earlier, not refilled, and the quota may still be a fixed window's.)
                    self.window_like = False
            self.remaining = remaining
            self.remaining_at = now
        if reset_after is not None:
            told = wall + reset_after
            old = self.reset_wall
            if model != "window" or old is None or told < old or told - old >= 1.0:
                self.reset_wall = told
            # else: the same window's end told again in whole seconds (rounded up): the
            # earliest telling is the tightest, and is kept.
        self.model = model
        if model == "bucket":
            if limit is not None and remaining is not None and reset_after is not None:
                self.refill.observe(limit, remaining, reset_after, sent_at, now)
                if status != _THROTTLED:
                    # Told to a fraction of a second: neither a whole epoch second (its delta
                    # is off a whole one by our clock's reading) nor a whole delta (exact).
                    told = wall + reset_after
                    precise = abs(told - round(told)) > 0.001 and reset_after != round(reset_after)
                    self.sliding.observe(limit, remaining, reset_after, now - sent_at, precise, now, self.inflight)
            if remaining is not None:
                since = self.drain_since
                if since is not None and now - since < RATE_WINDOW:
                    if status != _THROTTLED:  # _drain's common case, inline
                        self.drain_granted += 1
                else:
                    self._drain(remaining, status, sent_at, now)
        elif quota is not None and window:
            self.policy_rate = quota / window
            if (
                self.log_pacing
                and remaining is not None
                and remaining + 1 >= quota
                and self.configured_rate is None
            ):
                # The server holds its whole quota (not a bucket of fewer tokens told as a
                # rate per window): alone at it, pace by the send log, safe for a sliding
                # window and a fixed one alike (see `SlidingEvidence.told`).
                # (Told first, the requests sent after this one took no slot of the log, and
                # count; told again, they did, and are logged when answered.)
                sliding = self.sliding
                sliding.told(quota, window, now, quota - remaining + (0 if sliding.told_window else later))
        known_limit = self.limit
        if remaining is not None and reset_after is not None and reset_after > 0:
            ahead = remaining - later
            self.spread_rate = (ahead if ahead > 0 else 0) / reset_after
            if known_limit and known_limit > remaining:
                # One sample's guess ((Limit - Remaining) / (Reset - now)), used only until
                # something better is known.
                self.rough_rate = (known_limit - remaining) / reset_after
        if remaining is not None and known_limit and self.configured_rate is None:
            # (With a configured rate there is nothing to probe for.)
            self._probe_up(remaining - later, now)

    def _proven_left(self, status: int, remaining: int, seq: int) -> int:
        """Alone at the server: the least it surely has left now, from the answers so far.

        `remaining - later` (the requests sent after this one) counts them as taken after it,
        and answers come in any order: one the server counted late (a low Remaining) answered
        before those it counted earlier counts them twice, and the pause it sets holds the
        window's free slots back. Whatever the order, the requests the server counted after
        request A are among those sent after it and those in flight when it left, so at least
        `Remaining_A - later_A - flown_A` is left now (more, if tokens came back; a window's
        turn only adds). That is `counted - sent` with `counted` the best `Remaining + seq -
        flown` told (0: none, which proves nothing); a refusal says the server is empty
        whatever we counted, and starts it over."""
        if status == _THROTTLED:
            self.counted = 0
            return -self.sent
        counted = remaining + seq - self.flown[seq % FLOWN]
        if counted > self.counted:
            self.counted = counted
        return self.counted - self.sent

    def _empty_wait(self, reset_after: float | None, reserve: float) -> tuple[float, bool]:
        """How long to pause when the server's bucket is empty, and whether the server said so:
        until one token (plus the reserve, plus one for each request still in flight) is due
        at a rate we trust, and never past Reset; with no rate to trust, until Reset."""
        trusted = self.configured_rate
        if self.window_like or (self.model == "window" and trusted is None):
            # A quota per window (IETF), or a 429 proved it: nothing comes back before Reset.
            trusted = None
        elif trusted is None:
            # With a one-token reserve, any rate below twice the server's will do: waiting for
            # two tokens at it still covers the one the server needs. Twice the proven lower
            # bound is such a rate; the pacing rate too, when below it. Without a reserve only
            # the lower bound itself is safe. Guesses (spread, probing) never shorten the
            # pause: on a fixed-window server nothing comes back before Reset.
            sliding = self.sliding.rate()
            low = self.refill.low if sliding is None else sliding
            if low > 0:
                trusted = min(self.rate, 2 * low) if reserve else low
        wait = math.inf if not trusted else (1.0 + reserve) / trusted
        if reset_after is not None and reset_after <= wait:
            return reset_after, True
        return (0.0 if wait == math.inf else wait), False

    def _drain(self, remaining: int, status: int, sent_at: float, now: float) -> None:
        """Feed `RefillEstimate.observe_drain` over windows of at least a second."""
        if status != _THROTTLED:
            self.drain_granted += 1
        since = self.drain_since
        if since is None:
            self.drain_since = sent_at
            self.drain_remaining = remaining
            self.drain_granted = 0
            return
        if now - since >= RATE_WINDOW:
            # Requests still in flight at either end may or may not have been counted.
            granted = self.drain_granted - self.inflight
            self.refill.observe_drain(granted, self.drain_remaining - remaining, now - since)
            self.drain_since = sent_at
            self.drain_remaining = remaining
            self.drain_granted = 0

    def _probe_up(self, left: int, now: float) -> None:
        """With no upper bound learned (e.g. a delta Reset rounded up to 1 s tells none), find
        the rate by probing: while the server's bucket stays at least half full we are below
        its refill rate, so speed up by half per second; an overshoot drains the bucket, which
        stops the rise (and the sync holds us to what the server grants). A quota per window
        (`model` "window") has no refill to find: nothing comes back before Reset, and each
        window's turn would look like room to speed up into, half as fast again every window."""
        elapsed = min(now - self.probe_time, 1.0)
        self.probe_time = now
        if (
            (self.model == "window" and not self.quota.second_limit)
            or self._bucket_rate() is not None
            or self.limit is None
        ):
            return
        if left * 2 >= self.limit and elapsed > 0:
            base = self.rate
            if base == math.inf:
                return
            self.probe_rate = max(self.probe_rate or 0.0, base) * (1.0 + 0.5 * elapsed)

    def _base_rate(self) -> float:
        """The refill rate before any 429 cap: the configured rate; else the learned one (the
        upper bound for a token bucket, q/w for an IETF window), never slower than
        `Remaining / (Reset - now)` nor than the proven lower bound, and probing upwards while
        nothing better is known. An overshoot is held back by the sync to Remaining and the
        pause when it reaches 0."""
        if self.configured_rate is not None:
            return self.configured_rate
        if self.log_paced:
            # The send log lets a request out only when the window has a slot for it (and
            # re-sends at once the block its opening burst gives back): a rate would only
            # hold back what the log allows.
            return math.inf
        quota_rate = self.quota.rate
        if quota_rate is not None and (self.model == "window" or self.window_like) and self.policy_rate is None:
            return quota_rate
        refill = self.refill
        learned = self._bucket_rate() if self.model == "bucket" else self.policy_rate
        rate = max(learned or 0.0, self.spread_rate or 0.0, refill.low)
        if learned is None:
            rate = max(rate, self.probe_rate or 0.0)
            if rate == 0 and self.rough_rate:
                rate = self.rough_rate
        return rate if rate > 0 else math.inf

    def _capacity(self, rate: float) -> float:
        """The configured burst; else the server's Limit (a bucket's capacity; a quota per
        window spread to about a second's worth); else a fifth of a second at the rate."""
        if self.configured_burst is not None:
            return float(self.configured_burst)
        limit = self.limit
        if limit is not None and limit >= 1:
            if self.model == "bucket":
                window = self.sliding.window
                if window is None:
                    return float(limit)
                # A sliding window gives its slots back one by one: a burst after a pause
                # would find few of them, so the bucket holds a tenth of a second's worth.
                return float(max(1, min(limit, math.ceil(limit / window * LEARNED_BURST_SECONDS))))
            if self.policy_rate is None and not self.quota.second_limit:
                # A quota per window told without its window (GitHub's X-RateLimit-Used):
                # all of it comes back at once, at Reset, and a burst then is what it grants
                # (`QuotaWindow`); but the first request after the pause until Reset goes
                # alone, and the burst follows its answer (`QuotaWindow.spare`): a server whose
                # clock is behind ours has not turned its window yet.
                return 1.0 if self.remaining == 0 else float(limit)
            per_second = self.server_rate() or self.spread_rate or 1.0
            return float(max(1, min(limit, math.ceil(per_second))))
        if rate == math.inf:
            return math.inf
        if self.configured_rate is not None:
            return 1.0
        return max(1.0, float(math.ceil(rate * LEARNED_BURST_SECONDS)))
