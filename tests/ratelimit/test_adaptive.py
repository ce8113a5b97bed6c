"""The learning from 429s alone (`_adaptive.py`): the curve after a cut, and how a limit found
again and again is held and probed, with plain numbers for time (no clock, no I/O)."""

from __future__ import annotations

import pytest

from asyncapi_client._ratelimit._adaptive import (
    CUBIC_C,
    HOLD_FIRST,
    HOLD_MAX,
    SETTLED_BETA,
    SETTLED_C,
    Congestion,
    Cubic,
)


def grant(congestion: Congestion, start: float, end: float, rate: float) -> None:
    """The server grants `rate` requests a second from `start` to `end`."""
    n = round((end - start) * rate)
    for i in range(n):
        congestion.granted(start + (i + 0.5) / rate)


def test_the_curve_holds_at_w_max_then_probes_past_it_at_full_speed() -> None:
    """A settled restart with a hold: cut to SETTLED_BETA of W_max, back at W_max after K
    (climbing at SETTLED_C), flat there for the hold, then past it at CUBIC_C."""
    cubic = Cubic(50.0, 0.0, search=False)
    cubic.restart(50.0, 10.0, settled=True, hold=4.0)
    k = cubic.k
    assert k == pytest.approx((50.0 * (1 - SETTLED_BETA) / SETTLED_C) ** (1 / 3))
    assert cubic.probe_from == pytest.approx(10.0 + k + 4.0)
    table = [
        (10.0, 50.0 * SETTLED_BETA),
        (10.0 + k / 2, 50.0 - SETTLED_C * (k / 2) ** 3),
        (10.0 + k, 50.0),
        (10.0 + k + 2.0, 50.0),
        (10.0 + k + 4.0, 50.0),
        (10.0 + k + 5.0, 50.0 + CUBIC_C * 1.0),
        (10.0 + k + 6.0, 50.0 + CUBIC_C * 8.0),
    ]
    for now, rate in table:
        assert cubic.rate(now) == pytest.approx(rate), now


def test_without_a_hold_the_curve_is_cubic_through_w_max() -> None:
    cubic = Cubic(50.0, 0.0, search=False)
    cubic.restart(50.0, 0.0, settled=True)
    k = cubic.k
    for t in (0.0, k / 2, k, k + 1.0, k + 3.0):
        assert cubic.rate(t) == pytest.approx(SETTLED_C * (t - k) ** 3 + 50.0)


def test_a_limit_confirmed_again_and_again_is_held_longer_between_probes() -> None:
    """Events every 20 s, each at 52/s sent while the server granted 50/s: the first cuts
    fully (nothing to confirm); each next one finds the limit settled again, and the curve
    holds at W_max before probing past it, HOLD_FIRST seconds and twice as long each time, up
    to HOLD_MAX."""
    congestion = Congestion(0.0)
    holds: list[tuple[int, float]] = []
    for event in range(6):
        now = 20.0 * event
        grant(congestion, now - 20.0, now, 50.0)
        congestion.cut(event * 1000 + 1, event * 1000 + 1, now, now, now, 52.0, opened=False)
        cubic = congestion.cubic
        assert cubic is not None
        holds.append((congestion.confirmed, cubic.hold))
    assert holds == [
        (0, 0.0),
        (1, HOLD_FIRST),
        (2, 2 * HOLD_FIRST),
        (3, HOLD_MAX),
        (4, HOLD_MAX),
        (5, HOLD_MAX),
    ]
    assert 2 * HOLD_FIRST < HOLD_MAX <= 4 * HOLD_FIRST


def test_a_limit_that_moved_ends_the_holds() -> None:
    """Confirmed twice (holding), then an event at twice the rate: a fresh cut, no hold."""
    congestion = Congestion(0.0)
    for event in range(3):
        now = 20.0 * event
        grant(congestion, now - 20.0, now, 50.0)
        congestion.cut(event * 1000 + 1, event * 1000 + 1, now, now, now, 52.0, opened=False)
    assert congestion.cubic is not None and congestion.cubic.hold == 2 * HOLD_FIRST
    grant(congestion, 40.0, 60.0, 100.0)
    congestion.cut(5001, 5001, 60.0, 60.0, 60.0, 104.0, opened=False)
    cubic = congestion.cubic
    assert (congestion.confirmed, cubic.hold, cubic.c) == (0, 0.0, CUBIC_C)
    assert cubic.w_max == pytest.approx(100.0)


@pytest.mark.parametrize(
    ("climbing", "probing", "w_max"),
    [
        (49.0, 49.0, 49.0),  # granted 49/s over the cycle: the limit, not the last second's 52
        (50.5, 50.5, 50.5),
        # A stall while the curve climbed back: the cycle's mean (43/s) says less than the two
        # events, which are settled (the probe granted 50/s): the lower of their rates.
        (0.0, 50.0, 50.0),
    ],
)
def test_a_settled_limit_is_measured_over_the_whole_cycle(
    climbing: float, probing: float, w_max: float
) -> None:
    """From one event (the server's bucket empty) to the next (empty again), what the server
    granted is its limit: its burst, lent to the probe, was paid back while the client sent
    below it. The last second alone (52/s here, the burst included) overstates it."""
    congestion = Congestion(0.0)
    congestion.cut(1, 1, 0.0, 0.0, 0.0, 50.0, opened=False)
    cubic = congestion.cubic
    assert cubic is not None
    back = cubic.probe_from
    grant(congestion, 0.0, back, climbing)
    grant(congestion, back, 19.0, probing)
    grant(congestion, 19.0, 20.0, 52.0)
    congestion.cut(2000, 2000, 20.0, 20.0, 20.0, 53.0, opened=False)
    assert congestion.confirmed == 1 and cubic.beta == SETTLED_BETA
    # (19 s at the cycle's rate and one at 52: the cycle's mean is near enough the former.)
    assert cubic.w_max == pytest.approx(w_max, rel=0.01)


def test_a_probe_that_drained_the_servers_burst_still_finds_the_limit_settled() -> None:
    """The probe past a limit of 50/s spent the server's burst of 10 in its last second (60
    granted then): measured over the whole probe, from the curve's return to W_max, the grants
    are within SETTLED_WITHIN of the limit, so the event confirms it rather than starting over
    from a W_max of 60."""
    congestion = Congestion(0.0)
    congestion.cut(1, 1, 0.0, 0.0, 0.0, 50.0, opened=False)
    cubic = congestion.cubic
    assert cubic is not None
    back = cubic.probe_from  # the curve is back at 50/s
    grant(congestion, 0.0, back, 45.0)
    grant(congestion, back, back + 3.0, 50.0)
    grant(congestion, back + 3.0, back + 4.0, 60.0)
    now = back + 4.0
    congestion.cut(2000, 2000, now, now, now, 62.0, opened=False)
    assert congestion.confirmed == 1 and cubic.beta == SETTLED_BETA
    assert cubic.w_max <= 50.0
