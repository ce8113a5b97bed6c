"""Tests of a sliding window's bound by the send log (`SlidingEvidence`, its Reset told to a
fraction of a second): tables on plain numbers for time, then the default client on the
virtual clock against a model of slowapi's moving window (Reset: when the oldest grant in
the window ages out, plus one second, as epoch seconds with a fraction; Retry-After on every
answer). The real slowapi is `test_slowapi.py`'s peer, and its rate the benchmark's.
"""

from __future__ import annotations

import math
from collections import deque

import anyio
import pytest

from asyncapi_client import AsyncClient, BearerToken, MockTransport, Request, Response
from asyncapi_client._ratelimit._estimator import LOG_GUARD, Decision, Estimator
from asyncapi_client._ratelimit._headers import RateLimitInfo
from asyncapi_client._ratelimit._sliding import REFUTED_BY, SlidingEvidence
from tests.ratelimit.test_scenarios import URL, USER, call_users_me
from tests.support.virtual_time import ENVELOPE_429, VirtualClock, virtual_time

TRIP = 0.01


def slowapi_log(limit: int = 4, window: float = 2.0, precise: bool = True) -> SlidingEvidence:
    """A sliding window of `limit` per `window` told as slowapi tells it (its first answers'
    Reset a window and a second away, a second nearer once the oldest grant ages out), known
    and paced by the log, with `limit` answers logged at 0.0-0.3 s (sent 10 ms before)."""
    evidence = SlidingEvidence()
    late = 1.0 if precise else 0.5
    evidence.observe(limit, limit - 1, window + late, TRIP, precise)  # small deficit: the log starts
    evidence.observe(limit, limit // 2, window + late - 0.01, TRIP, precise)
    evidence.came_back = True
    evidence.observe(limit, limit - 1, window + late - 0.02, TRIP, precise)
    assert evidence.window is not None
    for i in range(limit):
        evidence.answered(0.1 * i, 0.1 * i - TRIP)
    return evidence


def test_a_precise_reset_is_taken_at_its_widest_and_a_whole_second_one_is_not_tested() -> None:
    """Told to a fraction of a second, a Reset may name the next slot rather than the window
    whole again: the log's bound is the widest told (plus its round trip), and the head of a
    block is tested. Told in whole seconds, the least told bounds it, and nothing is tested."""
    precise = slowapi_log()
    assert precise.upper == pytest.approx(3.0 + TRIP)
    assert precise.testing and precise.reset_low == pytest.approx(2.0)
    whole = slowapi_log(precise=False)
    assert whole.upper == pytest.approx(2.48 + TRIP)
    assert not whole.testing


def test_the_head_of_a_block_is_tested_at_the_gap_the_reset_allows_and_alone() -> None:
    """The window full (4 answers at 0.0-0.3 s), the next request's slot is the oldest
    answer's a bound later (3.01 s); it is sent instead at the gap the greatest Reset less a
    second allows (2.0 s after that answer), alone: the ones after it keep their own slots."""
    evidence = slowapi_log()
    head = evidence.take_slot(1.0, LOG_GUARD)
    assert head == pytest.approx(0.0 + 2.0 + LOG_GUARD)
    assert evidence.test_gap == pytest.approx(2.0)
    assert evidence.test_from == pytest.approx(0.0 - TRIP)  # the earliest send from its entry on
    second = evidence.take_slot(1.0, LOG_GUARD)
    assert second == pytest.approx(0.1 + 3.0 + TRIP + LOG_GUARD)  # a bound after the next entry


@pytest.mark.parametrize(
    ("granted", "proven", "lower", "resets"),
    [
        (True, 2.002 + 0.008 + TRIP, 0.0, 1),  # the answer less the entry's send: a bound for all
        (False, math.inf, 2.0, 0),  # refused: the gap is a lower bound, nothing proven
    ],
)
def test_a_tests_answer_proves_a_bound_or_a_lower_one(
    granted: bool, proven: float, lower: float, resets: int
) -> None:
    """The head under test left at its slot (2.002 s) and was answered 8 ms later: granted,
    the window is at most its answer less the tested entry's send (-10 ms), and the requests
    holding later slots are asked to ask again; refused, the 2 s it tried were too short."""
    evidence = slowapi_log()
    head = evidence.take_slot(1.0, LOG_GUARD)
    assert head is not None
    evidence.sent(7, head)
    assert evidence.is_test(7)
    evidence.answered(head + 0.008, head, granted)
    evidence.tested(granted, head + 0.008)
    assert evidence.proven == pytest.approx(proven)
    assert evidence.lower == pytest.approx(lower)
    assert evidence.resets == resets
    assert evidence.test_gap is None and not evidence.is_test(7)


def test_slots_under_a_proven_bound_and_requests_asked_again_queue_one_behind_the_other() -> None:
    """Once proven (2.025 s), a slot is the entry's answer that much later; the three requests
    waiting when it was proven ask again (`reslot`) and take the next three entries in turn,
    not each the slot behind all the others."""
    evidence = slowapi_log()
    evidence.testing = False  # (no further test: the slots alone)
    evidence.window = evidence.upper = 3.01
    for _ in range(3):
        evidence.take_slot(1.0, LOG_GUARD)
    evidence.proven = evidence.proven_from = 2.025
    evidence.last_slot = -math.inf
    evidence.reslot(3)
    assert evidence.pending == 0 and evidence.stale == 3
    slots = []
    for _ in range(3):
        evidence.slot_unused()  # each gives its old slot back first...
        slots.append(evidence.take_slot(1.0, LOG_GUARD))  # ...and asks again
    assert slots == pytest.approx([0.1 * i + 2.025 + LOG_GUARD for i in range(3)])
    assert evidence.stale == 0 and evidence.pending == 3


def test_a_refused_send_leaves_the_log_and_refused_answers_never_enter_it() -> None:
    """A 429 took no slot of the server's: a send logged when it left is taken out again
    (found by its send time), and a request that took a slot and was refused is not logged."""
    evidence = slowapi_log()
    evidence.log_send(0.35)
    assert list(evidence.sends or ()) == pytest.approx([0.1, 0.2, 0.3, 0.35])
    evidence.refused(9, 0.35, 0.36)
    assert list(evidence.sends or ()) == pytest.approx([0.1, 0.2, 0.3])
    evidence.take_slot(0.4, LOG_GUARD)
    evidence.answered(0.45, 0.4, granted=False)
    assert list(evidence.sends or ()) == pytest.approx([0.1, 0.2, 0.3])
    assert evidence.pending == 0


BLOCK = [(5.5, 5.51), (5.5005, 5.512), (5.501, 5.513), (5.501, 5.514)]  # sent together, all refused


@pytest.mark.parametrize(
    ("refusals", "misses", "refuted"),
    [
        ([(5.5, 5.51)], 1, False),  # one miss in timing
        ([(5.5, 5.51), (5.6, 5.61)], 2, True),  # a second, sent after the first was answered
        (BLOCK, 1, False),  # a block sent together: one miss, however many of it were refused
        ([*BLOCK, (5.52, 5.53)], 2, True),  # and one sent after the block's first refusal came
    ],
)
def test_429s_for_requests_the_proven_bound_let_out_refute_it(
    refusals: list[tuple[float, float]], misses: int, refuted: bool
) -> None:
    """One 429 for a request sent under the proven bound is a miss in timing, and so are the
    429s for the requests sent before it was answered (its block, their slots given before
    anything was known of it); each miss has the waiting requests ask again (their slots
    were given on what was known before it); `REFUTED_BY` misses refute it: the log goes
    back to the widest Reset, and nothing is tested any more. A 429 for a request sent
    before it was proven counts not."""
    assert REFUTED_BY == 2  # (the table's)
    evidence = slowapi_log()
    evidence.proven, evidence.proven_from = 2.02, 5.0
    evidence.refused(1, 4.0, 4.01)  # sent before the bound was proven
    assert evidence.proven == 2.02
    resets = evidence.resets
    for seq, (sent, answered) in enumerate(refusals, start=2):
        evidence.refused(seq, sent, answered)
    assert (evidence.proven == math.inf) == refuted
    assert evidence.testing != refuted
    assert evidence.misses == misses and evidence.resets == resets + misses


def test_a_refused_test_pauses_nothing_and_cuts_nothing() -> None:
    """The estimator, alone at a slowapi-like window: the head under test answered 429 with
    slowapi's Retry-After (its Reset's whole seconds) sets no pause and no cut (the log
    answers it: its gap becomes a lower bound)."""
    estimator = Estimator(rate=None, burst=None, adaptive=True, max_pause=60.0, now=0.0)
    estimator.log_pacing = True
    wall0 = 1_700_000_000.25
    limit = 4
    for i, remaining in enumerate([3, 2, 1, 0]):
        seq = estimator.on_send(0.01 * i)
        # Told at 3.0 s, 2.99 s...: the first grant ages out at 2 s, plus slowapi's second.
        info = RateLimitInfo(limit=limit, remaining=remaining, reset_after=3.0 - 0.01 * i - 0.005)
        estimator.observe(200, info, seq, 0.01 * i, 0.01 * i + 0.005, wall0 + 0.01 * i + 0.005)
    sliding = estimator.sliding
    sliding.came_back = True
    info = RateLimitInfo(limit=limit, remaining=limit - 1, reset_after=2.95)
    seq = estimator.on_send(0.05)
    estimator.observe(200, info, seq, 0.05, 0.055, wall0 + 0.055)
    assert sliding.window is not None and sliding.testing and estimator.log_paced
    head = estimator.take_slot(0.06)
    assert head is not None and sliding.test_gap is not None
    seq = estimator.on_send(head, logged=True)
    assert sliding.is_test(seq)
    estimator.slot_done(head + 0.005, sent=True, sent_at=head, granted=False)
    refusal = RateLimitInfo(limit=limit, remaining=0, reset_after=0.99, retry_after=1.0)
    decision = estimator.observe(429, refusal, seq, head, head + 0.005, wall0 + head + 0.005)
    assert decision.server_pause_until is None and decision.pause_until is None
    assert estimator.congestion.cubic is None
    assert sliding.lower == pytest.approx(sliding.reset_low)


@pytest.mark.parametrize(
    ("opening_refused", "cut"),
    [
        (False, False),  # the opening fit the window: nothing was cut
        (True, True),  # its last request refused before tokens came back: a cut (CUBIC's)
    ],
)
def test_a_cut_made_before_the_window_was_known_does_not_bind_once_the_log_paces(
    opening_refused: bool, cut: bool
) -> None:
    """The estimator, alone at slowapi's moving window of 20 per second (its Reset a second
    late): the opening's 20 grants 10 ms apart, perhaps one more request refused (Retry-After
    1), then a grant after the window turned leaving Limit - 1: a sliding window, paced by
    the send log. The rate is the log's (none binds), whether a cut was made before or not:
    a cut's climb would let requests out one by one, spread the log's entries evenly and
    leave no block's head to test the bound by (the log would pace at the widest Reset, 2 s,
    for good)."""
    estimator = Estimator(rate=None, burst=None, adaptive=True, max_pause=60.0, now=0.0)
    estimator.log_pacing = True
    wall0 = 1_700_000_000.37
    limit, trip = 20, 0.005

    def answer(
        status: int, remaining: int, sent: float, reset_after: float, retry_after: float | None = None
    ) -> Decision:
        seq = estimator.on_send(sent)
        info = RateLimitInfo(
            limit=limit, remaining=remaining, reset_after=reset_after, retry_after=retry_after
        )
        return estimator.observe(status, info, seq, sent, sent + trip, wall0 + sent + trip)

    for i in range(limit):
        sent = 0.01 * i
        answer(200, limit - 1 - i, sent, 2.0 - sent - trip)  # the first grant ages out at 1 s, plus a second
    if opening_refused:
        answer(429, 0, 0.3, 1.7 - trip, retry_after=1.0)
    assert (estimator.congestion.cubic is not None) == cut
    decision = answer(200, limit - 1, 1.31, 2.0 - trip)
    assert estimator.log_paced and estimator.sliding.testing
    assert decision.rate == math.inf and estimator.rate == math.inf
    assert decision.pause_until is None and decision.server_pause_until is None


class SlowapiMovingWindow:
    """slowapi's `moving-window` on `limits`, as a model on the virtual clock: a log of grants;
    its headers say Limit, Remaining and, as epoch seconds with a fraction, when the oldest
    grant in the window ages out plus one second; Retry-After the whole seconds until then.
    `service`: seconds of the server's own time each request takes, one at a time (uvicorn
    in a process of its own answers so; 0: every request at once, as a peer sharing the
    client's event loop is seen to)."""

    def __init__(self, clock: VirtualClock, quota: int, window: float, service: float = 0.0) -> None:
        self.clock = clock
        self.quota = quota
        self.window = window
        self.service = service
        self.free_at = -math.inf  # when the server is done with the requests before
        self.hits: deque[float] = deque()
        self.refused = 0

    async def __call__(self, request: Request) -> Response:
        await anyio.sleep(0.002)
        if self.service:
            arrived = self.clock.monotonic()
            self.free_at = max(arrived, self.free_at) + self.service
            await anyio.sleep(self.free_at - arrived)
        now, wall = self.clock.monotonic(), self.clock.time()
        hits = self.hits
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        allowed = len(hits) < self.quota
        if allowed:
            hits.append(now)
        reset = wall - now + hits[0] + self.window + 1.0
        headers = {
            "content-type": "application/json",
            "x-ratelimit-limit": str(self.quota),
            "x-ratelimit-remaining": str(self.quota - len(hits)),
            "x-ratelimit-reset": f"{reset:.6f}",
            "retry-after": str(int(reset - wall)),
        }
        await anyio.sleep(0.002)
        if not allowed:
            self.refused += 1
            return Response(429, headers, ENVELOPE_429)
        return Response(200, headers, USER)


@pytest.mark.parametrize(("quota", "window", "calls"), [(100, 2.0, 1000), (20, 1.0, 400)])
async def test_the_default_client_uses_a_slowapi_window_to_its_bound(
    quota: int, window: float, calls: int
) -> None:
    """The default client at concurrency 64 against the model (4 ms round trips): every call
    succeeds, at least 95% of the bound (the rate plus a window's quota once) is sustained
    (pacing by the widest Reset alone, a second too long, gives 67% and 50%), and at most 1%
    of the requests are refused."""
    with virtual_time(1000.0 + 0.37) as clock:
        server = SlowapiMovingWindow(clock, quota, window)
        client = AsyncClient(
            URL, transport=MockTransport(server, record=False), clock=clock, auth=BearerToken("t")
        )
        ok, duration = await call_users_me(client, clock, calls, concurrency=64)
    assert ok == calls
    assert ok / duration >= 0.95 * (quota / window + quota / duration)
    assert server.refused <= (calls + server.refused) // 100


async def test_a_slowapi_window_that_serves_one_request_at_a_time_is_not_paced_at_half_its_rate() -> None:
    """The model answering one request at a time (3 ms each): the opening's answers come one
    by one, and the last of its requests is refused before the window is seen to give
    tokens back (a cut). Once the send log paces, that cut must not: its climb let requests
    out one by one, the log's entries spread evenly, no block's head was ever held back to
    test the bound, and the log paced at the widest Reset (2 s) for good: 50% of the bound.
    (What remains below the 95% of the test above is the opening's refusal and the second
    its Retry-After holds.)"""
    with virtual_time(1000.0 + 0.37) as clock:
        server = SlowapiMovingWindow(clock, 20, 1.0, service=0.003)
        client = AsyncClient(
            URL, transport=MockTransport(server, record=False), clock=clock, auth=BearerToken("t")
        )
        ok, duration = await call_users_me(client, clock, 400, concurrency=64)
    assert ok == 400
    assert ok / duration >= 0.85 * (20 / 1.0 + 20 / duration)
    assert server.refused <= (400 + server.refused) // 100
