"""A fixed window's turns (`_turns.py`) alone, with plain numbers for time; then the sandbox's
fixed window without rate-limit headers, on the virtual clock, through the default client."""

from __future__ import annotations

import math

import pytest

from asyncapi_client._ratelimit._turns import (
    EARLY,
    MIN_STEP,
    STEP_GROWTH,
    TURN_STEP,
    WindowTurns,
)
from asyncapi_client._ratelimit._window import HeaderlessWindow
from tests.ratelimit.test_scenarios import serve_sandbox_limiter
from tests.support.virtual_time import virtual_time


def entered(*, lower: float = 1.0, retry_after: float | None = None) -> WindowTurns:
    """Turns of a window of 10, entered at a refusal sent at 10.0 and answered at 10.01."""
    return WindowTurns(
        10, lower, 0.01, refused_at=10.0, answered_at=10.01, retry_after=retry_after
    )


def probe(turns: WindowTurns, seq: int, now: float) -> float:
    """Give the next slot (the window in force is full: it is the probe's) and send it then."""
    at = turns.take_slot(now, 0.0)
    turns.sent(seq, at)
    return at


def test_with_no_upper_bound_the_probe_steps_out_from_the_last_refusal() -> None:
    turns = entered(lower=1.0)
    assert turns.bounds() == (1.0, math.inf)
    at = probe(turns, 1, 10.02)
    assert at == pytest.approx(10.0 + max(MIN_STEP, TURN_STEP * 1.0))
    turns.refused(1, at, at + 0.01, None)
    assert not turns.broken and turns.lo == at
    assert turns.probe_at == pytest.approx(at + STEP_GROWTH * TURN_STEP)  # each refusal further out


def test_retry_after_brackets_the_turn_and_the_probe_goes_half_way() -> None:
    turns = entered(lower=1.0, retry_after=2.0)
    assert (turns.lo, turns.hi) == (11.0, 12.01)  # (sent + RA - 1, answered + RA]
    assert probe(turns, 1, 10.02) == pytest.approx((11.0 + 12.01) / 2)


def test_the_window_in_force_gets_its_quota_then_one_probe_and_the_rest_wait() -> None:
    turns = entered(lower=1.0, retry_after=1.0)
    at = probe(turns, 1, 10.02)
    behind = turns.take_slot(10.02, 0.0)
    assert behind > at  # woken by the probe's answer, not sent with it
    turns.granted(1, at, at + 0.01)
    assert turns.index == 1 and turns.given == 1 and turns.resets == 1
    turns.slot_done(sent=False)  # the one behind, woken: its slot comes back...
    assert turns.absorb == 0
    # ...and it, with the rest of the new window's quota, goes at once.
    assert [turns.take_slot(at + 0.02, 0.0) for _ in range(9)] == [at + 0.02] * 9
    # The window is full: the next one waits for the next turn's probe, after the last of them
    # is in (they may arrive in any order).
    assert turns.take_slot(at + 0.02, 0.0) >= at + 0.02 + 2 * turns.trip


def test_turns_seen_before_bound_the_window_from_the_start() -> None:
    """An opening that straddled a turn: that turn in (1.95, 2.086] (its first send, its first
    429), the spell's a window later in (3.678, 4.192]. Entered at a refusal at 4.541, the two
    bound the window, (3.678 - 2.086, 4.192 - 1.95], and the next turn is placed by them, with
    no probe stepping out from the refusal."""
    turns = WindowTurns(
        100,
        0.0,
        0.008,
        refused_at=4.541,
        answered_at=4.549,
        retry_after=None,
        seen=((1.95, 2.086), (3.678, 4.192)),
    )
    low, high = turns.bounds()
    assert (low, high) == (pytest.approx(3.678 - 2.086), pytest.approx(4.192 - 1.95))
    assert 3.678 + low < turns.probe_at <= 4.192 + high


def test_two_turns_bound_the_window_and_the_next_probe_goes_at_its_latest_when_close() -> None:
    turns = entered(lower=0.9)
    turns.turns.extend([(1, 11.99, 12.01), (2, 13.99, 14.02)])
    turns.first = turns.turns[0]
    turns.index = 2
    low, high = turns.bounds()
    assert low == pytest.approx(13.99 - 12.01) and high == pytest.approx(14.02 - 11.99)
    turns._plan()
    # Turn 3 is placed within (15.97, 16.05]: closer than RESOLVE of the window, so the probe
    # goes at the latest it can be, where a fixed window has turned for sure.
    assert turns.probe_at == pytest.approx(14.02 + high)


@pytest.mark.parametrize(
    ("hi", "expected"),
    [
        (14.4, (12.9 + 14.4) / 2),  # further apart than the lower bound: half way
        (13.5, 13.5 - EARLY * 0.9),  # closer: just ahead of its latest
    ],
)
def test_a_wide_bracket_is_probed_half_way_and_a_narrower_one_just_ahead_of_its_latest(
    hi: float, expected: float
) -> None:
    turns = entered(lower=0.9)
    turns.turns.append((1, 11.0, 12.0))
    turns.first = turns.turns[0]
    turns.index = 1
    turns.lo, turns.hi = 12.9, hi  # as a refusal with Retry-After would place turn 2
    turns._plan()
    assert turns.probe_at == pytest.approx(expected)


def test_a_quota_counted_short_grows_with_the_grants_still_in_flight() -> None:
    turns = WindowTurns(
        40, 0.0, 0.01, refused_at=10.0, answered_at=10.01, retry_after=None, counting=True
    )
    for seq in (1, 2, 3):  # sent before the refusal, answered after it
        turns.granted(seq, 9.99, 10.02)
    assert turns.quota == 43
    at = probe(turns, 10, 10.03)
    turns.granted(10, at, at + 0.01)
    turns.granted(4, 9.99, at + 0.02)  # after the first probe: counted no more
    assert turns.quota == 43


def test_a_429_the_turns_did_not_expect_breaks_them_and_the_previous_models_do_not() -> None:
    turns = entered(lower=1.0)
    turns.refused(99, 10.0, 10.01, None)  # in flight before the first probe: the log's
    assert not turns.broken
    at = probe(turns, 100, 10.02)
    turns.granted(100, at, at + 0.01)
    assert turns.take_slot(at + 0.01, 0.0) == at + 0.01
    turns.refused(101, at + 0.01, at + 0.02, None)  # the window had room for it
    assert turns.broken


@pytest.mark.parametrize("retry_after", [True, False])
@pytest.mark.parametrize("phase", [0.0, 0.7, 1.4, 1.95])
async def test_a_fixed_window_without_headers_is_used_to_its_bound(phase: float, retry_after: bool) -> None:
    """The sandbox's fixed window (100 per 2 s, turning on the wall clock's even seconds) with
    no rate-limit headers, with or without Retry-After on its 429s, on the virtual clock with
    4 ms of latency each way, the first request `phase` seconds into a window (1.95: the
    opening straddles a turn): 2,000 calls at concurrency 64 from the default client all
    succeed, at least 95% of the bound (50/s plus the window's quota over the run), at most 1%
    answered 429."""
    from asyncapi_sandbox._limits import FixedWindow

    with virtual_time(1000.0 + phase) as clock:
        ok, duration, limited, client = await serve_sandbox_limiter(
            clock, FixedWindow(100, 2.0, clock.time()), None, 2000, concurrency=64, retry_after=retry_after
        )
        estimator = client._shared.limiter._partitions.default.estimator
    assert ok == 2000
    assert estimator.window.state == "turns"
    assert ok / duration >= 0.95 * (50 + 100 / duration)
    assert limited <= 20


async def test_an_opening_across_a_turn_still_uses_each_window_whole() -> None:
    """The first request 1.9 s into a 2 s window: the opening's grants span two windows and
    count more than a window's quota. The first window the log paces refuses the excess, its
    slots past half the opening's count going one at a time, so only the one in flight is
    refused; the turns take the quota from the grants that window gave and start from the
    turn the opening straddled and the spell's, and the rest of the run gets each window
    whole, at most 1% answered 429 over the run."""
    from asyncapi_sandbox._limits import FixedWindow

    with virtual_time(1001.9) as clock:
        ok, duration, limited, client = await serve_sandbox_limiter(
            clock, FixedWindow(100, 2.0, clock.time()), None, 2000, concurrency=64
        )
        estimator = client._shared.limiter._partitions.default.estimator
    assert ok == 2000
    window = estimator.window
    assert window.state == "turns" and window.turns is not None and window.turns.quota == 100
    assert ok / duration >= 0.95 * (50 + 100 / duration)
    assert limited <= 20


def paced_after_a_spell() -> HeaderlessWindow:
    """A fixed window of 100 without headers: the opening's 100 granted at 0, refused at 0.001;
    the spell's probe refused at 0.1 and granted at 0.6 (request 103; its turn in (0.1, 0.601]):
    the log paces from there."""
    window = HeaderlessWindow(enabled=True)
    for _ in range(101):
        window.sent(0.0)
    for seq in range(1, 101):
        window.granted(seq, 0.0, 0.001)
    window.refused(101, 0.0, 0.001, None)
    window.refused(102, 0.1, 0.101, None)
    window.granted(103, 0.6, 0.601)
    return window


@pytest.mark.parametrize(("granted", "seeded"), [(100, True), (150, False)])
def test_the_spells_turn_opens_the_window_in_force_when_no_more_than_a_quota_came_since(
    granted: int, seeded: bool
) -> None:
    """A fixed window of 100 without headers: the opening's 100 granted at 0, refused at 0.001;
    the spell's probe refused at 0.1 and granted at 0.6 (its turn in (0.1, 0.601]); then the log
    paces and a request is refused at 1.3. With no more than 100 granted since the probe (the
    probe included), a turn after it would have opened a window holding fewer than 100, which
    would not refuse: the window in force is the one the spell's turn opened, and the turns
    start from that turn. With more, a turn came in between, and they start from nothing."""
    window = paced_after_a_spell()
    assert window.state == "paced"
    for seq in range(104, 103 + granted):
        window.granted(seq, 0.61, 0.62)
    window.refused(103 + granted, 1.3, 1.301, None)
    assert window.state == "turns" and window.turns is not None
    assert list(window.turns.turns) == ([(0, 0.1, 0.601)] if seeded else [])


@pytest.mark.parametrize(("inflight", "seeded"), [(0, True), (1, False)])
def test_the_logs_slots_not_yet_sent_do_not_count_as_grants_to_come(inflight: int, seeded: bool) -> None:
    """As above with 100 granted since the probe, and the log's next block given its slots
    (60 requests asleep until them) when its head is refused: those never leave on them (they
    are asked again), so the window in force is still the spell's. A request of ours still in
    flight could be granted by a turn after the probe, and then it is not."""
    window = paced_after_a_spell()
    for seq in range(104, 203):
        window.granted(seq, 0.61, 0.62)
    assert window.log is not None
    for _ in range(60):
        window.take_slot(1.2, 0.0)
    assert window.log.pending >= 60
    window.refused(203, 1.3, 1.301, None, inflight=inflight)
    assert window.state == "turns" and window.turns is not None
    assert list(window.turns.turns) == ([(0, 0.1, 0.601)] if seeded else [])


def test_a_refused_probe_raises_the_lower_bound_against_the_turns_found() -> None:
    """The window in force opened by a turn in (0.1, 0.601]: a refusal at 1.3 says the next turn
    is after it, so the window is longer than 1.3 - 0.601, whatever bound the log had proved,
    and the probe steps out by a share of that."""
    turns = WindowTurns(
        100, 0.4, 0.001, refused_at=1.3, answered_at=1.301, retry_after=None, seen=((0.1, 0.601),)
    )
    assert turns.bounds() == (pytest.approx(1.3 - 0.601), math.inf)
    assert turns.step == pytest.approx(TURN_STEP * (1.3 - 0.601))
    at = probe(turns, 1, 1.31)
    turns.refused(1, at, at + 0.001, None)
    assert turns.bounds()[0] == pytest.approx(at - 0.601)
