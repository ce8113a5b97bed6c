"""The header-less window model alone (`_window.py`) and through the estimator: observations in,
decisions out, with plain numbers for time (no clock, no I/O, no event loop); then the sandbox's
sliding window without headers in virtual time."""

from __future__ import annotations

import math

import pytest

from asyncapi_client._ratelimit._estimator import LOG_GUARD, Estimator
from asyncapi_client._ratelimit._headers import RateLimitInfo
from asyncapi_client._ratelimit._turns import EARLY
from asyncapi_client._ratelimit._window import (
    BLOCK_HOLD,
    FIRST_STEP,
    PROBE_GROWTH,
    PROBE_RATE,
    WINDOW_MIN_QUOTA,
    HeaderlessWindow,
)
from tests.ratelimit.test_scenarios import serve_sandbox_limiter
from tests.support.virtual_time import virtual_time

OK, THROTTLED = 200, 429


def opened(granted: int, refused: int, *, retry_after: float | None = 2.0) -> HeaderlessWindow:
    """A window model whose opening sent `granted` requests 2 ms apart from t=0, then
    `refused` more that were answered 429 at 0.3 s (with `retry_after`)."""
    window = HeaderlessWindow(enabled=True)
    for i in range(granted + refused):
        window.sent(0.002 * i)
    for seq in range(granted + 1, granted + refused + 1):
        window.refused(seq, 0.002 * (seq - 1), 0.3, retry_after)
    return window


@pytest.mark.parametrize(
    ("granted", "state", "quota"),
    [
        (100, "spell", 100),  # a window's quota: learned from the first refused request
        (11, "off", 0),  # a token bucket's burst (or nginx limit_req's): CUBIC learns it
        (WINDOW_MIN_QUOTA, "spell", WINDOW_MIN_QUOTA),
    ],
)
def test_the_opening_tells_a_window_from_a_burst(granted: int, state: str, quota: int) -> None:
    window = opened(granted, 10)
    assert window.state == state
    assert window.quota == quota


def test_the_quota_counts_grants_not_sequence_numbers() -> None:
    """Answers out of order: request 103 is refused first, then 99 (it reached the server
    after 100..102), and 104 is granted late (it reached it before 103): of the 110 sent
    before the spell began, 8 were refused: 102 granted."""
    window = HeaderlessWindow(enabled=True)
    for i in range(110):
        window.sent(0.001 * i)
    window.refused(103, 0.102, 0.110, 2.0)
    window.refused(99, 0.098, 0.111, 2.0)
    for seq in (100, 101, 102, 104):
        window.granted(seq, 0.001 * (seq - 1), 0.112)
    for seq in range(105, 111):
        window.refused(seq, 0.001 * (seq - 1), 0.113, 2.0)
    assert window.quota == 102
    assert window.state == "spell"


@pytest.mark.parametrize(
    ("retry_after", "probe_at"),
    [
        (2.0, 0.3 + 2.0),  # Retry-After, whole seconds rounded up: a request sent then is granted
        (None, 0.002 * 109 + FIRST_STEP),  # none: a first probe past the last refusal
    ],
)
def test_the_spell_sends_one_probe(retry_after: float | None, probe_at: float) -> None:
    window = opened(100, 10, retry_after=retry_after)
    assert window.probe_at == pytest.approx(probe_at)


def test_without_retry_after_each_refused_probe_puts_the_next_further_out() -> None:
    window = opened(100, 10, retry_after=None)
    at = window.probe_at
    assert at is not None
    window.refused(111, at, at + 0.005, None)
    assert window.probe_at == pytest.approx(at + PROBE_GROWTH * FIRST_STEP)


def test_the_estimator_hands_out_one_token_when_the_probe_is_due() -> None:
    """In the spell the bucket gets exactly one token at the probe's time (a debt until
    then), refilled slowly after it; no pause the server set, no cut."""
    estimator = Estimator(rate=None, burst=None, adaptive=True, max_pause=60.0, now=0.0)
    estimator.log_pacing = True
    seqs = [estimator.on_send(0.002 * i) for i in range(110)]
    decision = estimator.observe(THROTTLED, RateLimitInfo(retry_after=2.0), seqs[100], 0.2, 0.3, 0.0)
    assert estimator.window.spell and estimator.learning
    assert (decision.rate, decision.capacity) == (PROBE_RATE, 1.0)
    assert decision.max_tokens == pytest.approx(1.0 - PROBE_RATE * 2.0)
    assert decision.server_pause_until is None and decision.pause_until is None
    assert estimator.congestion.cubic is None


def paced(trip: float = 0.005) -> tuple[HeaderlessWindow, float]:
    """A model past its spell: 100 granted 2 ms apart from 0, 10 refused, the probe sent at 2.3
    and granted `trip` later. Returns it and the log's upper bound."""
    window = opened(100, 10)
    window.granted(111, 2.3, 2.3 + trip)
    assert window.paced
    return window, window.upper


def test_the_probe_that_ends_the_spell_bounds_the_window_and_the_log_replays_the_opening() -> None:
    """The first request's slot was back when the probe was answered: the window is at most
    that answer minus the first send (plus the longest round trip seen); the log then lets
    request j of the next block leave that long after the opening's request j (the probe
    took the first slot)."""
    window, upper = paced()
    assert window.trip == pytest.approx(0.3 - 0.2)  # the longest round trip: the spell's first 429
    assert upper == pytest.approx(2.305 - 0.0 + window.trip)
    first = window.take_slot(2.31, LOG_GUARD)
    assert first == pytest.approx(0.002 + upper + LOG_GUARD)  # the opening's second send
    second = window.take_slot(2.31, LOG_GUARD)
    # The rest of the block wait until the first one's answer could have come (2 round trips,
    # here the spell's slow first 429's: capped at a share of the window).
    assert second == pytest.approx(first + min(2 * window.trip, BLOCK_HOLD * upper))
    assert 2 * window.trip > BLOCK_HOLD * upper


@pytest.mark.parametrize("granted", [True, False])
def test_a_held_back_request_is_tested_early_and_the_bounds_follow_its_answer(granted: bool) -> None:
    """A block whose slots are a window away: its first request goes early by half the
    interval between the bounds. Granted, the upper bound falls to its answer minus the log
    entry it tested (plus a round trip); refused, its gap is a lower bound, and the entry it
    tested is back in the log (the server took no slot for the test), so the next request
    gets the slot the test tried for."""
    window, upper = paced()
    for i in range(100):  # a block answered at 2.4 .. 2.499 fills the log
        window.answered(2.4 + 0.001 * i, sent=True)
    lower = window.lower
    test_at = window.take_slot(3.0, LOG_GUARD)
    gap = (upper + lower) / 2
    assert test_at == pytest.approx(2.4 + gap + LOG_GUARD)
    window.sent_logged(500, test_at)
    window.answered(test_at + 0.004, sent=True)
    if granted:
        window.granted(500, test_at, test_at + 0.004)
        assert window.upper == pytest.approx(test_at + 0.004 - 2.4 + window.trip)
        assert window.lower == lower
    else:
        window.refused(500, test_at, test_at + 0.004, 1.0)
        assert window.paced  # a test refused is no sign the model is wrong
        assert (window.lower, window.upper) == (pytest.approx(gap), upper)
        log = window.log
        assert log is not None and log.sends is not None
        assert log.sends[0] == 2.4  # the slot it tested is there again
        # The next request tests it again, half way between the new bounds.
        assert window.take_slot(3.0, LOG_GUARD) == pytest.approx(2.4 + (gap + upper) / 2 + LOG_GUARD)


def test_a_429_while_paced_hands_the_window_to_its_turns_and_one_they_did_not_expect_gives_it_up() -> None:
    estimator = Estimator(rate=None, burst=None, adaptive=True, max_pause=60.0, now=0.0)
    estimator.log_pacing = True
    seqs = [estimator.on_send(0.002 * i) for i in range(110)]
    for seq in seqs[100:]:
        estimator.observe(THROTTLED, RateLimitInfo(retry_after=2.0), seq, 0.2, 0.3, 0.0)
    probe = estimator.on_send(2.3)
    decision = estimator.observe(OK, None, probe, 2.3, 2.305, 0.0)
    assert estimator.log_paced and decision.rate == math.inf
    late = estimator.on_send(3.0, logged=True)
    estimator.observe(THROTTLED, RateLimitInfo(retry_after=1.0), late, 3.0, 3.005, 0.0)
    # The log's P was too short: a fixed window, paced by its turns from here.
    window = estimator.window
    assert window.state == "turns" and estimator.log_paced
    turns = window.turns
    assert turns is not None and turns.quota == 100
    # The window in force is full; the next request is the probe, within Retry-After's second
    # (3.0 + 1 - 1, 3.005 + 1], just ahead of its latest (the window is longer than that
    # second: the log's P, less a round trip, is a lower bound on it).
    low, _high = turns.bounds()
    assert low > 1.005
    at = estimator.take_slot(3.1)
    assert at == pytest.approx(4.005 - EARLY * low + LOG_GUARD)
    assert at is not None
    probe = estimator.on_send(at, logged=True)
    estimator.slot_done(at + 0.005, sent=True)
    estimator.observe(OK, None, probe, at, at + 0.005, 0.0)
    assert turns.index == 1 and turns.given == 1
    assert estimator.take_slot(at + 0.006) == at + 0.006  # the new window's block goes at once
    window_rate = window.rate()
    assert window_rate is not None
    block = estimator.on_send(at + 0.006, logged=True)
    estimator.observe(THROTTLED, None, block, at + 0.006, at + 0.011, 0.0)
    assert window.state == "off" and not estimator.log_paced
    cubic = estimator.congestion.cubic
    assert cubic is not None and cubic.w_max == pytest.approx(window_rate)


def test_rate_limit_headers_end_the_model() -> None:
    estimator = Estimator(rate=None, burst=None, adaptive=True, max_pause=60.0, now=0.0)
    seq = estimator.on_send(0.0)
    estimator.observe(OK, RateLimitInfo(limit=10, remaining=9, reset_after=1.0), seq, 0.0, 0.01, 1e9)
    assert estimator.window.state == "off" and estimator.window.opening is None


def test_a_configured_rate_or_a_shared_backend_keeps_the_model_off() -> None:
    configured = Estimator(rate=50.0, burst=10, adaptive=True, max_pause=60.0, now=0.0)
    assert configured.window.state == "off"
    shared = Estimator(rate=None, burst=None, adaptive=True, max_pause=60.0, now=0.0)
    shared.log_pacing = False  # not alone at the server
    seqs = [shared.on_send(0.002 * i) for i in range(110)]
    shared.observe(THROTTLED, None, seqs[100], 0.2, 0.3, 0.0)
    assert shared.window.state == "off"


@pytest.mark.parametrize("phase", [0.0, 0.5])
async def test_a_sliding_window_without_headers_is_used_to_its_bound(phase: float) -> None:
    """The sandbox's sliding window (100 per 2 s) with no rate-limit headers, only
    Retry-After on its 429s, on the virtual clock with 4 ms of latency each way: 2,000 calls
    at concurrency 64 from the default client all succeed, at least 95% of the bound (50/s
    plus the window's quota over the run), at most 1% answered 429. Learned as a rate (CUBIC)
    it stays under 90% with more 429s than that: the opening's slots, freed a window later,
    are used only by a log."""
    from asyncapi_sandbox._limits import SlidingWindow

    with virtual_time(1000.0 + phase) as clock:
        ok, duration, limited, client = await serve_sandbox_limiter(
            clock, SlidingWindow(100, 2.0), None, 2000, concurrency=64
        )
        estimator = client._shared.limiter._partitions.default.estimator
    assert ok == 2000
    assert estimator.window.paced
    assert ok / duration >= 0.95 * (50 + 100 / duration)
    assert limited <= 20
