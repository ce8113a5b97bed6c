"""The estimator alone: observations in, decisions out, with plain numbers for time (no clock,
no I/O, no event loop). Tables of observations and the decisions they must give."""

from __future__ import annotations

import math

import pytest

from asyncapi_client._ratelimit._adaptive import BETA, MIN_RATE, Congestion
from asyncapi_client._ratelimit._estimator import Estimator
from asyncapi_client._ratelimit._headers import RateLimitInfo

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
