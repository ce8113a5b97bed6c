"""GitHub's dialect: a quota per fixed window told in X-RateLimit headers with
`X-RateLimit-Used` (Reset: the window's end, in whole epoch seconds), paced by the estimator's
quota path (`QuotaWindow`, `_quota.py`). First the estimator
alone with plain numbers for time; then the sandbox's fixed window in that dialect on the
virtual clock, through the default client, with the server's wall clock on ours, ahead of it
(a Reset told late, as a window end rounded up to the whole second is) and behind it."""

from __future__ import annotations

import math

import pytest

from asyncapi_client._ratelimit._estimator import Estimator
from asyncapi_client._ratelimit._headers import RateLimitInfo
from asyncapi_client._ratelimit._quota import QUOTA_LATE_STEP, QUOTA_SPREAD_LEAST
from tests.ratelimit.test_scenarios import serve_sandbox_limiter
from tests.support.virtual_time import virtual_time

OK, THROTTLED = 200, 429
WALL = 1_000_000.0  # Unix time at monotonic 0 in the tables (windows of 2 s end on even seconds)


def alone() -> Estimator:
    """The default client's estimator, pacing one process alone at the server."""
    estimator = Estimator(rate=None, burst=None, adaptive=True, max_pause=60.0, now=0.0)
    estimator.log_pacing = True
    return estimator


def told(remaining: int, reset: float, now: float, limit: int = 100) -> RateLimitInfo:
    """GitHub's headers for a window ending at Unix time `reset`, read at monotonic `now`."""
    return RateLimitInfo(
        limit=limit, remaining=remaining, reset_after=max(0.0, reset - (WALL + now)), model="window"
    )


def test_window_turns_do_not_make_the_rate_climb() -> None:
    """Ten windows of 100 per 2 s, each used up in its first tenth of a second: the probing
    for a bucket's refill (half as fast again per second while the server is half full) never
    starts, and with what is left spread over half the time to Reset the bucket refills no
    more than the reserve between two answers (the probed rate reached ~1200/s here before)."""
    estimator = alone()
    for window in range(10):
        start = 2.0 * window
        seqs = [estimator.on_send(start + 0.001 * i) for i in range(100)]
        for i, seq in enumerate(seqs):
            now = start + 0.001 * i + 0.002
            decision = estimator.observe(
                OK, told(99 - i, WALL + start + 2.0, now), seq, now - 0.002, now, WALL + now
            )
            assert decision.rate <= 1.0 / QUOTA_SPREAD_LEAST
    assert estimator.probe_rate is None


def test_the_bucket_holds_the_whole_quota_but_one_request_goes_first_after_reset() -> None:
    """While the window has quota, the bucket holds all of it (a fixed window grants a burst
    at its turn); an empty one pauses until Reset (the server said so) holding one token, and
    no debt: the first request after the turn goes alone."""
    estimator = alone()
    (seq,) = [estimator.on_send(0.0)]
    decision = estimator.observe(OK, told(99, WALL + 2.0, 0.01), seq, 0.0, 0.01, WALL + 0.01)
    assert decision.capacity == 100.0
    (seq,) = [estimator.on_send(1.0)]
    decision = estimator.observe(OK, told(0, WALL + 2.0, 1.01), seq, 1.0, 1.01, WALL + 1.01)
    assert decision.capacity == 1.0
    assert decision.server_pause_until == pytest.approx(2.0)
    assert decision.min_tokens == 0.0
    assert decision.rate == pytest.approx(1.0)  # the next token a second after the first


def test_an_answer_overtaken_by_later_ones_does_not_hold_the_window_back() -> None:
    """64 requests at a turn, answered in another order than the server counted them: the
    sync (Remaining less the requests sent after) of the answer the server counted last but
    sent first says the window is spent. The least Remaining told, less every request in
    flight, is what the server surely has to spare: each answer raises the bucket to it."""
    estimator = alone()
    seqs = [estimator.on_send(0.0) for _ in range(64)]
    # The server counted them in reverse order: the first sent saw Remaining 36.
    first = estimator.observe(OK, told(36, WALL + 2.0, 0.01), seqs[0], 0.0, 0.01, WALL + 0.01)
    assert first.max_tokens is not None and first.max_tokens < 0  # the sync: spent
    assert first.min_tokens is None  # 36 less the 63 in flight: nothing sure yet
    for i, seq in enumerate(seqs[1:], start=1):
        decision = estimator.observe(OK, told(36 + i, WALL + 2.0, 0.01), seq, 0.0, 0.01, WALL + 0.01)
    # All answered: 36 left, one kept in reserve.
    assert decision.min_tokens == 35.0
    assert decision.server_pause_until is None and decision.pause_until is None


def test_a_stale_answer_from_the_last_window_proves_nothing() -> None:
    estimator = alone()
    seqs = [estimator.on_send(1.99), estimator.on_send(2.0)]
    fresh = estimator.observe(OK, told(99, WALL + 4.0, 2.01), seqs[1], 2.0, 2.01, WALL + 2.01)
    assert fresh.min_tokens == 97.0  # 99, less the one in flight and the reserve
    stale = estimator.observe(OK, told(0, WALL + 2.0, 2.02), seqs[0], 1.99, 2.02, WALL + 2.02)
    assert stale.min_tokens is None
    assert estimator.quota.least == 99


def test_a_refusal_after_the_told_reset_makes_the_pause_until_reset_longer() -> None:
    """The server's clock is behind ours: a request sent 5 ms after the Reset told is refused.
    From then on the pause until Reset lasts twice that, and `QUOTA_LATE_STEP`, longer."""
    estimator = alone()
    (seq,) = [estimator.on_send(1.0)]
    estimator.observe(OK, told(0, WALL + 2.0, 1.01), seq, 1.0, 1.01, WALL + 1.01)
    (seq,) = [estimator.on_send(2.005)]
    refused = RateLimitInfo(limit=100, remaining=0, reset_after=0.0, retry_after=1.0, model="window")
    estimator.observe(THROTTLED, refused, seq, 2.005, 2.015, WALL + 2.015)
    assert estimator.quota.late == pytest.approx(2 * 0.005 + QUOTA_LATE_STEP)
    (seq,) = [estimator.on_send(3.5)]
    estimator.observe(OK, told(99, WALL + 4.0, 3.51), seq, 3.5, 3.51, WALL + 3.51)
    (seq,) = [estimator.on_send(3.6)]
    decision = estimator.observe(OK, told(0, WALL + 4.0, 3.61), seq, 3.6, 3.61, WALL + 3.61)
    assert decision.server_pause_until == pytest.approx(4.0 + estimator.quota.late)


def test_not_alone_at_the_server_nothing_is_raised() -> None:
    """With other processes drawing on the same quota (a shared backend), the least Remaining
    counts their requests too, and ours in flight are not all there is: no floor."""
    estimator = alone()
    estimator.log_pacing = False
    (seq,) = [estimator.on_send(0.0)]
    decision = estimator.observe(OK, told(99, WALL + 2.0, 0.01), seq, 0.0, 0.01, WALL + 0.01)
    assert decision.min_tokens is None
    assert math.isfinite(decision.rate)


@pytest.mark.parametrize("phase", [0.0, 0.7, 1.4, 1.9])
async def test_githubs_dialect_is_used_to_its_bound(phase: float) -> None:
    """The sandbox's fixed window (100 per 2 s, turning on the wall clock's even seconds) in
    GitHub's dialect with Retry-After on its 429s, on the virtual clock with 4 ms of latency
    each way, the first request `phase` seconds into a window: 2,000 calls at concurrency 64
    from the default client all succeed, at least 95% of the bound (50/s plus the window's
    quota over the run), at most 1% answered 429. (The probed rate this replaced gave 2-3
    429s here, and 1.2-1.4% of requests against the sandbox itself, in real time.)"""
    from asyncapi_sandbox._limits import FixedWindow

    with virtual_time(1000.0 + phase) as clock:
        ok, duration, limited, client = await serve_sandbox_limiter(
            clock, FixedWindow(100, 2.0, clock.time()), "github", 2000, concurrency=64
        )
        estimator = client._shared.limiter._partitions.default.estimator
    assert ok == 2000
    assert estimator.model == "window" and estimator.probe_rate is None
    assert ok / duration >= 0.95 * (50 + 100 / duration)
    assert limited <= 20


@pytest.mark.parametrize(
    ("server_clock", "bound"),
    [
        # Ahead: the Reset told comes 0.3 s after the turn on our clock, as a window's end
        # rounded up to its whole second does; the turn's burst is late, not refused.
        (0.3, 0.95),
        # Behind: the first request after a Reset told is refused; its lateness is learned
        # (doubling), and the Retry-After of 1 s that refusal carries costs a window's half.
        (-0.05, 0.9),
        (-0.3, 0.9),
    ],
)
async def test_githubs_dialect_with_the_servers_clock_off_ours(server_clock: float, bound: float) -> None:
    """The same, 0.7 s into a window, with the server's wall clock `server_clock` seconds
    ahead of ours (its Reset, in epoch seconds, is read on ours): at most 1% answered 429
    (a burst at a turn that has not come would be refused whole: 60 of every window's 100),
    none lost, and `bound` of the limit."""
    from asyncapi_sandbox._limits import FixedWindow

    with virtual_time(1000.7) as clock:
        ok, duration, limited, _ = await serve_sandbox_limiter(
            clock,
            FixedWindow(100, 2.0, clock.time() + server_clock),
            "github",
            2000,
            concurrency=64,
            server_clock=server_clock,
        )
    assert ok == 2000
    assert limited <= 20
    assert ok / duration >= bound * (50 + 100 / duration)


def test_a_429_with_quota_left_hands_the_pacing_to_the_learned_rate() -> None:
    """A refusal while the window still has quota is a second limit (as GitHub's secondary
    limits, answered with Retry-After only): the bursts would run into it again, so the
    quota path gives way (no floor, about a second's worth in the bucket, the rate learned
    from the headers and the 429s)."""
    estimator = alone()
    (seq,) = [estimator.on_send(0.0)]
    estimator.observe(OK, told(99, WALL + 2.0, 0.01), seq, 0.0, 0.01, WALL + 0.01)
    (seq,) = [estimator.on_send(0.02)]
    second = RateLimitInfo(limit=100, remaining=60, reset_after=1.97, retry_after=1.0, model="window")
    estimator.observe(THROTTLED, second, seq, 0.02, 0.03, WALL + 0.03)
    assert estimator.quota.second_limit and estimator.quota.rate is None
    (seq,) = [estimator.on_send(1.1)]
    decision = estimator.observe(OK, told(59, WALL + 2.0, 1.11), seq, 1.1, 1.11, WALL + 1.11)
    assert decision.min_tokens is None
    assert decision.capacity < 100.0
