"""The estimator alone: observations in, decisions out, with plain numbers for time (no clock,
no I/O, no event loop). Tables of observations and the decisions they must give."""

from __future__ import annotations

import math

import pytest

from asyncapi_client._ratelimit._adaptive import BETA, MIN_RATE, TEST_AFTER, Congestion
from asyncapi_client._ratelimit._bucket import TokenBucket
from asyncapi_client._ratelimit._estimator import LOG_GUARD, SETTLED_EVERY, SETTLED_LEFT, Decision, Estimator
from asyncapi_client._ratelimit._headers import RateLimitInfo
from asyncapi_client._ratelimit._sliding import SlidingEvidence
from asyncapi_client._ratelimit._window import PROBE_RATE
from asyncapi_client.testing import FakeClock

OK, THROTTLED = 200, 429


def learning(**config: object) -> Estimator:
    options: dict[str, object] = {
        "rate": None,
        "burst": None,
        "adaptive": True,
        "max_pause": 60.0,
        "now": 0.0,
    }
    options.update(config)
    return Estimator(**options)  # type: ignore[arg-type]


def send(estimator: Estimator, times: list[float]) -> list[int]:
    return [estimator.on_send(t) for t in times]


def test_a_burst_of_429s_in_flight_together_is_one_event() -> None:
    """64 leave together at t=0; 10 granted, 54 refused, all answered at t=0.01: one event,
    one cut, to BETA x the 64/s sent; a 429 for a request sent after the cut (and its round
    trip) is a new event."""
    estimator = learning()
    seqs = send(estimator, [0.0] * 64)
    decisions = [
        estimator.observe(OK if i < 10 else THROTTLED, None, seq, 0.0, 0.01, 0.0)
        for i, seq in enumerate(seqs)
    ]
    assert estimator.congestion.events == 1
    assert decisions[10].rate == pytest.approx(BETA * 64)  # the first 429: the cut
    assert decisions[10].max_tokens == 0.0
    assert all(d.max_tokens is None for d in decisions[11:])  # the others change nothing more
    (late,) = send(estimator, [0.015])  # within a round trip (0.01 s) of the cut: same event
    estimator.observe(THROTTLED, None, late, 0.015, 0.025, 0.0)
    assert estimator.congestion.events == 1
    (new,) = send(estimator, [0.5])
    estimator.observe(THROTTLED, None, new, 0.5, 0.51, 0.0)
    assert estimator.congestion.events == 2


@pytest.mark.parametrize(
    ("retry_after", "probing", "pauses"),
    [
        (1.0, True, False),  # nginx's Retry-After: 1 on our own climb: the cut answers it
        (30.0, True, True),  # longer than the curve takes to climb back: everyone waits
        (1.0, False, True),  # a 429 we did not provoke (at the curve's floor): everyone waits
    ],
)
def test_a_retry_after_pauses_the_partition_unless_it_answers_our_own_probe(
    retry_after: float, probing: bool, pauses: bool
) -> None:
    congestion = Congestion(0.0)
    congestion.cut(1, 1, 0.0, 0.0, 0.0, 50.0, opened=False)  # W_max 50, K ~ 2.9 s
    floor = 50.0 * BETA
    assert congestion.covers(retry_after, floor * 1.2 if probing else floor) is not pauses


def opening_refused_with(info: RateLimitInfo) -> tuple[Estimator, list[Decision]]:
    """64 leave together at t=0, 10 granted, 54 refused with `info`, all answered at t=0.01."""
    estimator = learning()
    seqs = send(estimator, [0.0] * 64)
    decisions = [
        estimator.observe(OK if i < 10 else THROTTLED, None if i < 10 else info, seq, 0.0, 0.01, 0.0)
        for i, seq in enumerate(seqs)
    ]
    return estimator, decisions


@pytest.mark.parametrize(
    ("answer", "again", "resume"),
    [
        (OK, None, None),  # granted: sending goes on at once, at the cut's rate
        (THROTTLED, None, 1.01),  # refused: the pause the first 429 said stands
        (THROTTLED, 1.0, 1.27),  # refused, saying a second again: until the later of the two
    ],
)
def test_a_retry_after_of_a_second_alone_is_tested_by_one_request(
    answer: int, again: float | None, resume: float | None
) -> None:
    """nginx's `Retry-After: 1` on the opening burst's 429s, no other header: no pause of the
    partition but one request a quarter of that second after the first 429 (one token due
    then), every process sharing the bucket told to pause; that request's answer decides."""
    estimator, decisions = opening_refused_with(RateLimitInfo(retry_after=1.0))
    first = decisions[10]
    test_at = 0.01 + 1.0 * TEST_AFTER
    assert first.server_pause_until is None and first.pause_until is None
    assert first.shared_pause == 1.0
    assert (first.rate, first.capacity) == (PROBE_RATE, 1.0)
    # The bucket holds exactly one token at test_at, whatever it held: 1 - PROBE_RATE * wait.
    assert first.tokens == pytest.approx(1.0 - PROBE_RATE * (test_at - 0.01))
    assert all(d.server_pause_until is None for d in decisions[11:])
    (test,) = send(estimator, [test_at])
    info = RateLimitInfo(retry_after=again) if answer == THROTTLED else None
    decision = estimator.observe(answer, info, test, test_at, test_at + 0.01, 0.0)
    assert estimator.congestion.events == 1  # the test's 429 is no new event: no second cut
    assert estimator.congestion.test_at is None
    if resume is None:
        assert decision.server_pause_until is None
        assert decision.rate == pytest.approx(BETA * 64 * 2 ** (0.01 / 0.25))  # the search, from test_at
    else:
        assert decision.server_pause_until == pytest.approx(resume)
        # The curve starts when sending resumes, not while nothing was sent.
        assert estimator.adaptive_rate(resume) == pytest.approx(BETA * 64)


@pytest.mark.parametrize(
    "info",
    [
        RateLimitInfo(retry_after=2.0),  # longer than a second: it says something
        RateLimitInfo(limit=10, remaining=0, reset_after=1.0, retry_after=1.0),  # with a Reset
    ],
)
def test_a_longer_retry_after_or_one_beside_a_reset_is_obeyed(info: RateLimitInfo) -> None:
    _estimator, decisions = opening_refused_with(info)
    assert decisions[10].server_pause_until == pytest.approx(0.01 + (info.retry_after or 0.0))


@pytest.mark.parametrize(
    ("headers", "status", "pause", "server_pause"),
    [
        # (limit, remaining, reset_after, retry_after, model): what the server said; the pauses.
        ((10, 5, 1.0, None, "bucket"), OK, None, None),  # plenty left: no pause
        # Empty bucket, full in 3 s: it refills at >= 9/3 per second, so the limiter's own
        # estimate (two tokens at twice that) is a third of a second; no word from the server.
        ((10, 0, 3.0, None, "bucket"), OK, 1 / 3, None),
        ((10, 0, 3.0, None, "window"), OK, None, 3.0),  # a window's quota: until Reset, as it said
        ((10, 5, 1.0, 4.0, "bucket"), THROTTLED, None, 4.0),  # Retry-After wins over Remaining
        ((10, 5, 1.0, 1e9, "bucket"), THROTTLED, None, 60.0),  # ... capped at max_pause
        ((10, 0, 80_000.0, None, "window"), OK, None, 60.0),  # a Reset 22 hours out: capped too
        ((None, None, None, 1e9, "bucket"), 503, None, 60.0),  # a 503's Retry-After alone
    ],
)
def test_pauses_from_the_headers(
    headers: tuple[int | None, int | None, float | None, float | None, str],
    status: int,
    pause: float | None,
    server_pause: float | None,
) -> None:
    limit, remaining, reset_after, retry_after, model = headers
    estimator = learning()
    (seq,) = send(estimator, [100.0])
    info = RateLimitInfo(
        limit=limit,
        remaining=remaining,
        reset_after=reset_after,
        retry_after=retry_after,
        model=model,  # type: ignore[arg-type]
    )
    decision = estimator.observe(status, info, seq, 100.0, 100.0, 1e9)
    got_pause = decision.pause_until and decision.pause_until - 100.0
    assert got_pause == (pytest.approx(pause) if pause is not None else None)
    got = decision.server_pause_until and decision.server_pause_until - 100.0
    assert got == (pytest.approx(server_pause) if server_pause is not None else None)
    if retry_after is not None and status in (429, 503):
        assert decision.shared_pause == min(retry_after, 60.0)


def test_the_sync_counts_the_requests_sent_after_the_answer() -> None:
    """Remaining 5 answers request 1 while requests 2..4 are out: they will take 3 of those 5,
    and one is kept in reserve, so the local bucket may hold at most 1."""
    estimator = learning()
    first, *_ = send(estimator, [0.0, 0.0, 0.0, 0.0])
    decision = estimator.observe(
        OK, RateLimitInfo(limit=10, remaining=5, reset_after=1.0), first, 0.0, 0.01, 1e9
    )
    assert decision.max_tokens == 5 - 3 - 1
    assert decision.capacity == 10  # a bucket of the server's Limit


def test_a_learned_rate_never_holds_a_request_back_past_max_pause() -> None:
    """Limit 10, 0 left, full again in 23 hours: the refill bound says 10 a day; the rate is
    floored at one request per max_pause, and the debt at what refills within it."""
    estimator = learning(max_pause=30.0)
    (seq,) = send(estimator, [0.0])
    decision = estimator.observe(
        OK, RateLimitInfo(limit=10, remaining=0, reset_after=82_800.0), seq, 0.0, 0.0, 1e9
    )
    assert decision.rate == pytest.approx(1 / 30)
    assert decision.max_tokens is not None and decision.max_tokens >= 0.0  # next token <= 30 s away


def test_the_curve_after_a_cut_climbs_back_past_w_max() -> None:
    estimator = learning(rate=10.0, burst=1)
    seqs = send(estimator, [i / 10 for i in range(21)])
    for seq in seqs[:-1]:
        estimator.observe(OK, None, seq, 0.0, (seq - 1) / 10, 0.0)
    estimator.observe(THROTTLED, None, seqs[-1], 2.0, 2.0, 0.0, binding=True)
    k = estimator.congestion.cubic.k if estimator.congestion.cubic else math.nan
    table = [(2.0, 10 * BETA), (2.0 + k, 10.0)]
    for now, rate in table:
        assert estimator.tune(now)[0] == pytest.approx(rate)
    assert estimator.congestion.cubic is None  # back at the configured rate: recovered
    assert MIN_RATE <= BETA * 10


def test_settled_answers_only_sync() -> None:
    """A big bucket at least half full, 20 ms after a full observation: only the sync; past
    20 ms, or under half, a full observation again."""
    estimator = learning()
    seqs = send(estimator, [0.0, 0.001, 0.002, 0.05])
    estimator.observe(OK, RateLimitInfo(limit=1000, remaining=999, reset_after=1.0), seqs[0], 0.0, 0.001, 1e9)
    estimator.observe(
        OK, RateLimitInfo(limit=1000, remaining=998, reset_after=1.0), seqs[1], 0.001, 0.002, 1e9
    )
    settled = estimator.observe_settled(
        OK, RateLimitInfo(limit=1000, remaining=997, reset_after=1.0), seqs[2], 0.01, 1e9
    )
    assert settled == 997 - 1 - 1  # one sent after it, one in reserve
    assert (
        estimator.observe_settled(
            OK, RateLimitInfo(limit=1000, remaining=300, reset_after=1.0), seqs[3], 0.011, 1e9
        )
        is None
    )
    assert (
        estimator.observe_settled(
            OK, RateLimitInfo(limit=1000, remaining=996, reset_after=1.0), seqs[3], 0.05, 1e9
        )
        is None
    )


def settled_at_001() -> tuple[Estimator, list[int]]:
    """An estimator that has just taken a settled answer at t=0.01 (Remaining 997 of 1000),
    with 300 more requests in flight; and their sequence numbers."""
    estimator = learning()
    seqs = send(estimator, [0.0, 0.001, 0.002] + [0.003] * 300)
    estimator.observe(OK, RateLimitInfo(limit=1000, remaining=999, reset_after=1.0), seqs[0], 0.0, 0.001, 1e9)
    estimator.observe(
        OK, RateLimitInfo(limit=1000, remaining=998, reset_after=1.0), seqs[1], 0.001, 0.002, 1e9
    )
    assert (
        estimator.observe_settled(
            OK, RateLimitInfo(limit=1000, remaining=997, reset_after=1.0), seqs[2], 0.01, 1e9
        )
        is not None
    )
    return estimator, seqs[3:]


@pytest.mark.parametrize(
    ("status", "at", "skimmed"),
    [
        (OK, 0.011, True),  # the next answer, 1 ms later: counted, not read
        (
            OK,
            0.002 + SETTLED_EVERY - 1e-6,
            True,
        ),  # (the last full one was at 0.002)  # up to the next full observation's time
        (OK, 0.002 + SETTLED_EVERY, False),  # the full observation is due: read
        (429, 0.011, False),  # a 429 is always read
        (503, 0.011, False),  # as is a 503 (it may carry a pause)
    ],
)
def test_after_a_settled_answer_the_next_ones_are_counted_until_a_full_one_is_due(
    status: int, at: float, skimmed: bool
) -> None:
    estimator, _seqs = settled_at_001()
    inflight, granted = estimator.inflight, estimator.drain_granted
    headers = {"x-ratelimit-remaining": "996"}
    assert estimator.skim(status, headers, at) is skimmed
    if skimmed:
        assert (estimator.inflight, estimator.drain_granted) == (inflight - 1, granted + 1)
        assert estimator.unread is headers  # kept for the status, read when asked
    else:
        assert estimator.skim_left == 0  # read again from here on
        assert (estimator.inflight, estimator.drain_granted) == (inflight, granted)


def test_the_answers_counted_unread_are_at_most_half_of_what_is_left_over_settled_left() -> None:
    """Remaining 997 with 300 sent after it: 697 left after them, so (697 - SETTLED_LEFT) // 2
    answers are counted unread; the next one is read; a full observation ends the count."""
    estimator, _seqs = settled_at_001()
    budget = (997 - 300 - SETTLED_LEFT) // 2
    assert estimator.skim_left == budget
    assert all(estimator.skim(OK, {}, 0.011) for _ in range(budget))
    assert estimator.skim_left == 0  # spent: the limiter reads the next answer
    estimator.skim_left = 5
    estimator.observe(OK, RateLimitInfo(limit=1000, remaining=990, reset_after=1.0), 10, 0.003, 0.012, 1e9)
    assert (estimator.skim_left, estimator.unread) == (0, None)


# -- sliding windows told in X-RateLimit headers ----------------------------------------------

WALL0 = 1_700_000_000.0


def sliding_log(
    estimator: Estimator, quota: int, window: float, times: list[float], granted: list[float]
) -> list[object]:
    """Send at `times` (seconds) to a sliding window of `quota` per `window` (its log of
    grants: `granted`) that tells X-RateLimit headers (Reset: epoch seconds when it is whole
    again), each answered 1 ms later; returns the decisions."""
    decisions: list[object] = []
    for t in times:
        (seq,) = send(estimator, [t])
        granted[:] = [g for g in granted if g > t - window]
        allowed = len(granted) < quota
        if allowed:
            granted.append(t)
        reset_epoch = math.ceil(WALL0 + granted[-1] + window)
        received = t + 0.001
        info = RateLimitInfo(
            limit=quota, remaining=quota - len(granted), reset_after=reset_epoch - (WALL0 + received)
        )
        decisions.append(
            estimator.observe(OK if allowed else THROTTLED, info, seq, t, received, WALL0 + received)
        )
    return decisions


def test_a_sliding_window_in_x_ratelimit_headers_paces_at_limit_per_window() -> None:
    """100 per 2 s, told as a bucket would be (Limit, Remaining, Reset when whole again): a
    burst of 80, then one request every 40 ms. Read as a bucket, its Reset about 2 s away
    whatever the deficit taught a rate near Remaining / Reset; once tokens come back well
    before Reset (at 2 s, as the burst ages out), it is a sliding window, paced at Limit per
    window (50/s), in small bursts, with no reserve (the send log knows each slot's return)."""
    estimator = learning()
    times = [0.0] * 80 + [0.1 + 0.04 * i for i in range(140)]
    decisions = sliding_log(estimator, 100, 2.0, times, [])
    assert estimator.sliding.window == pytest.approx(2.0, abs=0.05)
    last = decisions[-1]
    assert last.rate == pytest.approx(50.0, rel=0.03)  # type: ignore[attr-defined]
    assert last.capacity == math.ceil(last.rate * 0.1)  # type: ignore[attr-defined]


def test_a_full_sliding_window_waits_for_its_oldest_slot_not_for_its_reset() -> None:
    """Once known, a sliding window that runs empty pauses until our own request sent Limit
    requests ago is a window (and a round trip) old: not until Reset, when it is whole."""
    estimator = learning()
    times = [0.0] * 80 + [0.1 + 0.04 * i for i in range(140)]
    granted: list[float] = []
    sliding_log(estimator, 100, 2.0, times, granted)
    assert estimator.sliding.window is not None
    # 60 more at 5.7 s fill the window (it holds the 50 sent since 3.7 s).
    burst = [5.7] * 60
    decisions = sliding_log(estimator, 100, 2.0, burst, granted)
    empty = [d for d in decisions if d.pause_until is not None]  # type: ignore[attr-defined]
    assert empty
    pause = empty[-1].pause_until  # type: ignore[attr-defined]
    sends = estimator.sliding.sends
    assert sends is not None
    assert pause == pytest.approx(sends[0] + estimator.sliding.window + 0.001, abs=1e-6)
    assert pause < 5.7 + 2.0 - 1.0  # whole again (the Reset) only at 7.7 s


def test_a_fixed_window_in_x_ratelimit_headers_is_not_taken_for_a_sliding_one() -> None:
    """A fixed window's Reset is as constant over its deficits, but nothing comes back before
    it: the sliding evidence never holds, and the bucket model (and its 429 lesson) stays."""
    estimator = learning()
    for i in range(60):
        (seq,) = send(estimator, [0.01 * i])
        info = RateLimitInfo(limit=100, remaining=99 - i, reset_after=10.0 - 0.01 * i)
        estimator.observe(OK, info, seq, 0.01 * i, 0.01 * i + 0.001, WALL0 + 0.01 * i)
    assert estimator.sliding.window is None
    assert estimator.sliding.came_back is False


@pytest.mark.parametrize(("sent_at", "fixed"), [(0.0, True), (0.02, False)])
def test_a_higher_remaining_proves_tokens_came_back_only_for_a_later_send(
    sent_at: float, fixed: bool
) -> None:
    """A fixed window proved by a 429 (`window_like`), Reset 1.5 s away. Answers to requests in
    flight together come in any order: a higher Remaining for a request sent before the answer
    that told the lower one came was counted earlier, not refilled, and the window stays; for
    a request sent after that answer, tokens came back: not a fixed window. The send log
    starts either way (it is safe for both)."""
    estimator = learning()
    estimator.window_like = True
    first, second = send(estimator, [0.0, sent_at])
    estimator.observe(
        OK, RateLimitInfo(limit=100, remaining=3, reset_after=1.5), first, 0.0, 0.01, WALL0 + 0.01
    )
    estimator.observe(
        OK, RateLimitInfo(limit=100, remaining=5, reset_after=1.49), second, sent_at, 0.03, WALL0 + 0.03
    )
    assert estimator.window_like is fixed
    assert estimator.sliding.came_back is True


def test_an_answer_counted_late_and_read_first_does_not_pause_the_opening() -> None:
    """Alone at a window of 100: one request alone (99 left), then 68 at once. The first of
    their answers read is the one the server counted last (37 left, 66 sent after it):
    `Remaining - later` says the window is empty, but the server counted all 69 after the
    first request's answer told 99, so 31 are surely left: no pause, and the bucket keeps
    them (less the reserve). A refusal proves the server empty whatever we counted."""
    estimator = learning()
    estimator.log_pacing = True  # alone at the server
    (first,) = send(estimator, [0.0])
    estimator.observe(OK, RateLimitInfo(limit=100, remaining=99, reset_after=2.0), first, 0.0, 0.008, WALL0)
    flight = send(estimator, [0.008] * 68)
    late = estimator.observe(
        OK, RateLimitInfo(limit=100, remaining=37, reset_after=1.99), flight[1], 0.008, 0.016, WALL0
    )
    assert late.pause_until is None
    assert late.max_tokens == 30.0
    refused = estimator.observe(
        THROTTLED, RateLimitInfo(limit=100, remaining=0, reset_after=1.99), flight[2], 0.008, 0.016, WALL0
    )
    assert refused.max_tokens is not None and refused.max_tokens <= 0.0
    assert estimator.counted == 0  # nothing proven any more


def test_a_fixed_window_proved_by_a_429_is_paced_as_a_quota_per_window() -> None:
    """X-RateLimit headers read as a bucket until a 429 on a request sent early proves a fixed
    window (`window_like`): from then on the bucket refills at the quota path's rate, not at
    the refill bound, which reads a window's turn as thousands of tokens a second; and a 429
    with the quota empty leaves no debt behind the pause until Reset (the whole quota comes
    back then), so the first request after the turn is not held for a debt at that rate."""
    estimator = learning()
    estimator.log_pacing = True  # alone at the server
    estimator.window_like = True
    first, second = send(estimator, [0.0, 0.0])
    granted = estimator.observe(
        OK, RateLimitInfo(limit=100, remaining=40, reset_after=1.0), first, 0.0, 0.01, WALL0 + 0.01
    )
    assert granted.rate == pytest.approx(estimator.quota.rate)
    assert granted.rate < 10.0
    refused = estimator.observe(
        THROTTLED,
        RateLimitInfo(limit=100, remaining=0, reset_after=0.99, retry_after=1.0),
        second,
        0.0,
        0.01,
        WALL0 + 0.01,
    )
    assert refused.server_pause_until is not None
    assert refused.min_tokens == 0.0


def test_the_429s_after_an_events_first_leave_no_debt_at_a_token_per_reset() -> None:
    """Alone at a sliding window of 100 per 2 s told in whole seconds (Reset 3 s), granted one
    by one (2 ms apart) at concurrency 32, so the window is only suspected (nothing came
    back): 104 sent, the last 4 refused. The first 429 takes it for a fixed window (a quota
    per window: a token by Reset) and pauses until its Retry-After; the others set no pause
    of their own, only the suspected window's (`next_free`, ours). Each of them must leave no
    debt either: the 3, 2 and 1 requests sent after them took nothing from the window, and a
    debt of them at a token per Reset held the next request 4 Resets (11 s) instead of one."""
    estimator = learning()
    estimator.log_pacing = True  # alone at the server
    clock = FakeClock(0.0)
    bucket = TokenBucket(clock, rate=estimator.rate, capacity=estimator.capacity)
    (probe,) = send(estimator, [0.0])
    estimator.observe(
        OK, RateLimitInfo(limit=100, remaining=99, reset_after=2.98), probe, 0.0, 0.02, WALL0 + 0.02
    )
    flight = [(seq, 0.02) for seq in send(estimator, [0.02] * 32)]
    now, granted = 0.02, 1
    refusals: list[Decision] = []
    while flight:
        seq, sent_at = flight.pop(0)
        now += 0.002
        allowed = granted < 100
        granted += allowed
        info = RateLimitInfo(
            limit=100, remaining=100 - granted, reset_after=3.0 - now, retry_after=None if allowed else 2.0
        )
        decision = estimator.observe(OK if allowed else THROTTLED, info, seq, sent_at, now, WALL0 + now)
        clock.now = now
        bucket.set_capacity(decision.capacity, now)
        bucket.set_rate(decision.rate, now)
        if decision.max_tokens is not None:
            bucket.cap_tokens(decision.max_tokens, now)
        if decision.min_tokens is not None:
            bucket.hold_at_least(decision.min_tokens, now)
        for until in (decision.pause_until, decision.server_pause_until):
            if until is not None:
                bucket.pause_until(until)
        if not allowed:
            refusals.append(decision)
        if estimator.sent < 104:
            (later,) = send(estimator, [now])
            flight.append((later, now))
    assert len(refusals) == 4 and estimator.window_like
    assert refusals[1].server_pause_until is None and refusals[1].pause_until is not None
    assert all(refused.min_tokens == 0.0 for refused in refusals)
    # The next request is due by the Reset (a token per Reset from none), not 4 Resets later.
    assert now + bucket.wait_estimate(now, 0) <= 3.0 + 1e-9


@pytest.mark.parametrize(
    ("samples", "window"),
    [
        # (deficit, seconds to Reset) of granted answers, Limit 100
        ([(1, 2.5), (60, 2.1)], 2.1),  # small deficit no nearer than a large one: sliding
        ([(1, 0.3), (60, 2.1)], None),  # a bucket: time to full grows with the deficit
        ([(1, 1.5), (60, 1.2)], None),  # too near to tell from a bucket's rounding
        ([(60, 2.1)], None),  # one kind of sample says nothing
    ],
)
def test_sliding_evidence_table(samples: list[tuple[int, float]], window: float | None) -> None:

    evidence = SlidingEvidence()
    evidence.came_back = False
    for deficit, reset_after in samples:
        evidence.observe(100, 100 - deficit, reset_after)
    evidence.came_back = True
    evidence.observe(100, 100 - samples[-1][0], samples[-1][1])
    assert evidence.window == (pytest.approx(window) if window is not None else None)


def test_a_huge_limit_keeps_no_send_log() -> None:
    """A Limit past SLIDING_MAX_LIMIT is never taken for a sliding window: its send log would
    be a hostile server's memory to fill."""
    from asyncapi_client._ratelimit._sliding import SLIDING_MAX_LIMIT

    evidence = SlidingEvidence()
    huge = SLIDING_MAX_LIMIT * 1000
    evidence.observe(huge, huge - 1, 10.0)
    evidence.observe(huge, huge // 4, 9.0)
    evidence.came_back = True
    evidence.observe(huge, huge // 4, 9.0)
    assert evidence.sends is None and evidence.window is None


def test_the_send_log_starts_with_the_slots_taken_before_it() -> None:
    """The log starts at an answer that leaves little of the window used (a small deficit
    whose Reset is a window away), with the requests sent before it already out: the slots
    the server counted and those still in flight, stamped then, so that a window of 8 with 6
    taken lets out 2 more, not 8."""
    evidence = SlidingEvidence()
    evidence.observe(8, 7, 2.9, 0.004, False, 1.0, 5)  # 1 counted, 5 in flight
    assert evidence.sends is not None
    assert list(evidence.sends) == [1.0] * 6


def known_window(limit: int, window: float, trip: float) -> SlidingEvidence:
    """A `SlidingEvidence` that knows a sliding window of `limit` per `window` seconds, told
    by answers `trip` seconds after they left (so its upper bound is window + trip); it tests
    no bound (`test_window_bound.py` has those tables)."""
    evidence = SlidingEvidence()
    evidence.observe(limit, limit - 1, window + 0.5, trip)  # small deficit: the log starts
    evidence.observe(limit, limit // 2, window, trip)  # large deficit, Reset no further
    evidence.came_back = True
    evidence.observe(limit, limit - 1, window, trip)
    assert evidence.window == pytest.approx(window)
    assert evidence.upper == pytest.approx(window + trip)
    evidence.testing = False
    # The log starts with the slot of the answer that started it; the tables give it their own.
    assert evidence.sends is not None and evidence.origins is not None
    assert list(evidence.sends) == [0.0]
    evidence.sends.clear()
    evidence.origins.clear()
    return evidence


@pytest.mark.parametrize(
    ("answered", "pending", "now", "slot"),
    [
        ([], 0, 5.0, 5.0),  # nothing logged: at once
        ([0.0, 0.1, 0.2], 0, 1.0, 1.0),  # 3 of 4 within the window: at once
        ([0.0, 0.1, 0.2, 0.3], 0, 1.0, 0.0 + 2.01 + 0.002),  # full: the oldest answer's slot
        ([0.0, 0.1, 0.2, 0.3], 0, 3.0, 3.0),  # the oldest is past the window: at once
        ([0.0, 0.1, 0.2, 0.3], 2, 1.0, 0.2 + 2.01 + 0.002),  # 2 pending hold the 2 oldest slots
        ([0.0, 0.1, 0.2], 1, 1.0, 0.0 + 2.01 + 0.002),  # 3 answered + 1 pending (at 0) fill it
        # 4 pending (slots 2.012 to 2.312): a window and a round trip after the slot 4 ago
        ([0.0, 0.1, 0.2, 0.3], 4, 1.0, 0.0 + 2.01 + 0.002 + 2.01 + 0.01 + 0.002),
    ],
)
def test_the_send_log_gives_each_request_the_slot_of_the_answer_limit_ago(
    answered: list[float], pending: int, now: float, slot: float
) -> None:
    """4 per 2 s, answers 10 ms after their sends (upper bound 2.01 s): a request may leave
    when fewer than Limit of ours (pending ones included) were answered within the upper
    bound plus the guard; pending requests (granted earlier, not answered yet) hold the next
    slots in turn, and never leave after a later one."""
    assert LOG_GUARD == 0.002
    evidence = known_window(4, 2.0, 0.01)
    for t in answered:
        evidence.answered(t)
    for _ in range(pending):
        evidence.take_slot(0.0, LOG_GUARD)
    assert evidence.take_slot(now, LOG_GUARD) == pytest.approx(slot)


def test_a_send_logged_when_it_left_gives_its_slot_back_as_late_as_its_longest_way_there() -> None:
    """4 per 2 s, the log's upper bound (2.01 s) told by an answer 10 ms after its send. An
    opening's sends, logged when they left (before the log paced), reached a server serving
    one at a time on a loaded machine up to 140 ms later than that answer's did (answered up
    to 150 ms after they left): their slots come back that much later than the bound gives
    them (else the block the log lets out together is refused, the window's first grants not
    aged out yet). An entry logged at its answer needs no more: the server took it by then."""
    assert LOG_GUARD == 0.002
    evidence = known_window(4, 2.0, 0.01)
    for t in (0.0, 0.001, 0.002, 0.003):
        evidence.log_send(t)
    evidence.observe(4, 0, 2.0, 0.15)  # the last of them, answered 150 ms after it left
    assert evidence.upper == pytest.approx(2.01)  # (its Reset plus trip is no nearer)
    assert evidence.take_slot(1.0, LOG_GUARD) == pytest.approx(0.0 + 2.01 + LOG_GUARD + 0.14)
    answered = known_window(4, 2.0, 0.01)
    for t in (0.15, 0.151, 0.152, 0.153):
        answered.answered(t, t - 0.15)
    answered.observe(4, 0, 2.0, 0.15)
    assert answered.take_slot(1.0, LOG_GUARD) == pytest.approx(0.15 + 2.01 + LOG_GUARD)


def test_a_slot_never_used_is_given_back_and_an_answer_takes_the_pending_slot() -> None:
    """A request that took a slot and never left frees it (the next one gets it); one that was
    answered moves from pending into the log at its answer time."""
    evidence = known_window(4, 2.0, 0.0)
    for t in (0.0, 0.1, 0.2):
        evidence.answered(t)
    assert evidence.take_slot(1.0, LOG_GUARD) == 1.0  # the 4th
    evidence.slot_unused()  # ...never left
    assert evidence.pending == 0
    assert evidence.take_slot(1.0, LOG_GUARD) == 1.0  # its slot again
    evidence.answered(1.05)  # left and answered
    assert evidence.pending == 0
    assert list(evidence.sends) == [0.0, 0.1, 0.2, 1.05]
    assert evidence.take_slot(1.1, LOG_GUARD) == pytest.approx(2.0 + LOG_GUARD)


def test_only_a_process_pacing_alone_paces_a_sliding_window_by_the_log() -> None:
    """Recognised, a sliding window paces by the send log (the rate stops binding: the log
    lets out the block of slots the opening burst frees a window later) when the middleware
    asks for slots (`log_pacing`, a process alone at the server); otherwise, and with a
    configured rate, it stays paced at Limit per window and `take_slot` gives none."""
    times = [0.0] * 80 + [0.1 + 0.04 * i for i in range(140)]
    alone = learning()
    alone.log_pacing = True
    decisions = sliding_log(alone, 100, 2.0, times, [])
    assert alone.log_paced
    assert decisions[-1].rate == math.inf  # type: ignore[attr-defined]
    assert alone.take_slot(6.0) is not None
    shared = learning()
    decisions = sliding_log(shared, 100, 2.0, times, [])
    assert not shared.log_paced and shared.take_slot(6.0) is None
    assert decisions[-1].rate == pytest.approx(50.0, rel=0.03)  # type: ignore[attr-defined]
    configured = learning(rate=40.0, burst=4)
    configured.log_pacing = True
    sliding_log(configured, 100, 2.0, times, [])
    assert configured.take_slot(6.0) is None


@pytest.mark.parametrize(
    ("second_at", "beta", "w_max"),
    [
        (52.0, "settled", 50.0),  # at the first event's W_max (what was granted): cut 0.9
        (40.0, "fresh", 40.0),  # a limit that moved: a full cut from the new W_max
    ],
)
def test_an_event_at_the_last_ones_rate_finds_the_limit_settled(
    second_at: float, beta: str, w_max: float
) -> None:
    """Two congestion events, the second 20 s after the first, sending `second_at`/s when it
    comes: at about the same W_max, the limit is found, so the curve restarts from the lower of
    the two, cut by SETTLED_BETA, and climbs at SETTLED_C (its probes' 429s come less often)."""
    from asyncapi_client._ratelimit._adaptive import CUBIC_C, SETTLED_BETA, SETTLED_C

    congestion = Congestion(0.0)
    congestion.cut(1, 1, 0.0, 0.0, 0.0, 50.0, opened=False)
    cubic = congestion.cubic
    assert cubic is not None and cubic.w_max == 50.0 and cubic.beta == BETA
    for i in range(50):  # the server granted 50 in the second before the next event
        congestion.granted(19.0 + i * 0.02)
    congestion.cut(2000, 2000, 20.0, 20.0, 20.0, second_at, opened=False)
    assert cubic.w_max == pytest.approx(w_max)
    expected_beta, expected_c = (SETTLED_BETA, SETTLED_C) if beta == "settled" else (BETA, CUBIC_C)
    assert (cubic.beta, cubic.c) == (expected_beta, expected_c)
    assert cubic.rate(20.0) == pytest.approx(w_max * expected_beta)
    assert cubic.rate(20.0 + cubic.k) == pytest.approx(w_max)
