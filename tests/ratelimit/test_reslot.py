"""The send log's slots given again (`SlidingEvidence.reslot`) to more waiting requests than
the window's Limit, some of the log's requests still in flight: driven directly, plain
numbers for time (the send clock), no event loop."""

from __future__ import annotations

import pytest

from asyncapi_client._ratelimit._estimator import LOG_GUARD
from tests.ratelimit.test_window_bound import TRIP, slowapi_log

LIMIT = 4
BOUND = 2.025  # the proven bound the log paces by


def crowded(slots: list[float], window: float) -> int:
    """The most slots within any span shorter than `window`."""
    ordered = sorted(slots)
    return max(sum(1 for s in ordered[i:] if s < start + window) for i, start in enumerate(ordered))


@pytest.mark.parametrize("waiting", [LIMIT + 2, 3 * LIMIT, 5 * LIMIT + 1])
def test_requests_asked_again_past_limit_stay_a_window_apart_in_blocks_of_limit(waiting: int) -> None:
    """The log (4 per a proven 2.025 s) full at 3.5 s: four requests leave at once, `waiting`
    more hold later slots. One of the four is refused (a miss: the waiting ask again, the
    slots they held were given on what was known before it). Asked again, the first takes the
    refused one's place; each after it past Limit takes the slot a window (and the longest
    round trip) after the slot given Limit requests before it, counting the three still in
    flight: a block of Limit per window, never more. (Before, the requests whose slot Limit
    back was no longer kept were each given a window after the last slot, and all those past
    them that same last slot: they left together, the window refused all but Limit of them,
    and the run fell to half its rate.)"""
    evidence = slowapi_log(LIMIT)
    evidence.testing = False  # (the slots alone)
    evidence.proven, evidence.proven_from = BOUND, 3.0
    now = 3.5
    first = [evidence.take_slot(now, LOG_GUARD) for _ in range(LIMIT + waiting)]
    assert first[:LIMIT] == [now] * LIMIT  # the log's entries (0.0-0.3 s) aged out: at once
    now = 3.51
    evidence.answered(now, 3.5, granted=False)  # one of the four refused...
    resets = evidence.resets
    evidence.refused(99, 3.5, now)  # ...a miss: the waiting ask again
    assert evidence.resets == resets + 1
    evidence.reslot(waiting)
    assert evidence.pending == LIMIT - 1 and evidence.stale == waiting
    again: list[float] = []
    for _ in range(waiting):
        evidence.slot_unused()
        slot = evidence.take_slot(now, LOG_GUARD)
        assert slot is not None
        again.append(slot)
    assert again[0] == now  # the refused one's place
    order = [3.5] * (LIMIT - 1) + again  # the slots given, in flight first
    # All gone within as many windows as they make blocks of Limit (one alone per window
    # would take Limit times as long).
    assert order[-1] <= now + (len(order) - 1) // LIMIT * (BOUND + TRIP + LOG_GUARD) + 1e-9
    for k in range(LIMIT, len(order)):
        assert order[k] == pytest.approx(order[k - LIMIT] + BOUND + TRIP + LOG_GUARD), k
    assert crowded(order, BOUND) == LIMIT
