"""The send log's lower bound of a sliding window, on plain numbers (no clock): a Reset may be
up to a second late (a whole-second ceiling, or slowapi's "+1"), so `Reset - 1 s` after an
answer is at most the window whatever slot the Reset names. One request tries a slot that
bound gives earlier than the upper bound (the probe); its answer proves the bound (the log
then paces by it, and the requests waiting for later slots queue again behind one another)
or refutes it (the upper bound paces, as before); a 429 once proven refutes it too."""

from __future__ import annotations

import pytest

from asyncapi_client._ratelimit._estimator import LOG_GUARD
from asyncapi_client._ratelimit._sliding import PROVEN, REFUTED, UNPROVEN, SlidingEvidence


def full_window(first_reset: float = 2.5, answers: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3)) -> SlidingEvidence:
    """4 per 2 s, answered 10 ms after their sends: the first answer's Reset `first_reset` s
    away (lower bound `first_reset - 1`), the upper bound 2.01 s; the log holds `answers`."""
    evidence = SlidingEvidence()
    evidence.observe(4, 3, first_reset, 0.01)
    evidence.observe(4, 2, 2.0, 0.01)
    evidence.came_back = True
    evidence.observe(4, 3, 2.0, 0.01)
    assert evidence.window == pytest.approx(2.0) and evidence.upper == pytest.approx(2.01)
    for t in answers:
        evidence.answered(t)
    return evidence


def test_one_request_probes_the_lower_bound_and_the_others_keep_the_upper() -> None:
    evidence = full_window()
    assert evidence.lower == pytest.approx(1.5) and evidence.bound == UNPROVEN
    assert evidence.take_slot(1.0, LOG_GUARD) == pytest.approx(0.0 + 1.5 + LOG_GUARD)  # the probe
    assert evidence.probe_at == pytest.approx(1.502)
    assert evidence.take_slot(1.0, LOG_GUARD) == pytest.approx(0.1 + 2.01 + LOG_GUARD)  # upper


@pytest.mark.parametrize(
    ("granted", "bound", "slots"),
    [
        # Proven: the two requests waiting ask again and queue on the lower bound, one behind
        # the other (the log now 0.1, 0.2, 0.3 and the probe's answer at 1.51).
        (True, PROVEN, [0.1 + 1.5 + LOG_GUARD, 0.2 + 1.5 + LOG_GUARD]),
        # Refuted: the upper bound, as before the probe.
        (False, REFUTED, [0.1 + 2.01 + LOG_GUARD, 0.2 + 2.01 + LOG_GUARD]),
    ],
)
def test_the_probes_answer_decides_and_the_waiting_requests_ask_again(
    granted: bool, bound: int, slots: list[float]
) -> None:
    evidence = full_window()
    evidence.take_slot(1.0, LOG_GUARD)  # the probe
    evidence.take_slot(1.0, LOG_GUARD)  # two requests waiting for later slots
    evidence.take_slot(1.0, LOG_GUARD)
    evidence.answered(1.51)  # the probe, answered
    resets = evidence.resets
    evidence.verdict(1.502, granted, inflight=0)
    assert evidence.bound == bound and evidence.resets == resets + 1
    given = []
    for _ in slots:  # each waiting request gives its slot back, then asks again (the middleware)
        evidence.slot_unused()
        given.append(evidence.take_slot(1.52, LOG_GUARD))
    assert given == pytest.approx(slots)
    assert evidence.pending == 2 and evidence.stale == 0


def test_an_answer_to_a_request_sent_before_the_probe_decides_nothing() -> None:
    evidence = full_window()
    evidence.take_slot(1.0, LOG_GUARD)
    evidence.verdict(1.0, False, inflight=1)  # sent before the probe left
    assert evidence.bound == UNPROVEN


def test_a_429_once_proven_refutes_the_lower_bound() -> None:
    evidence = full_window()
    evidence.take_slot(1.0, LOG_GUARD)
    evidence.verdict(1.502, True, inflight=0)
    evidence.verdict(3.0, False, inflight=0)
    assert evidence.bound == REFUTED
    evidence.slot_unused()  # the probe's slot was stale (nothing in flight): given back
    assert evidence.take_slot(1.0, LOG_GUARD) == pytest.approx(0.0 + 2.01 + LOG_GUARD)


def test_an_upper_bound_under_the_lower_one_gives_way_to_the_widest_reset() -> None:
    """A Reset that names the next free slot (slowapi's: its oldest hit's, plus a second), read
    after the window filled, pulls the upper bound under the lower one: no bound at all, so
    the widest Reset told (lower + 1 s) paces, not the 1 s the last answer implied."""
    evidence = full_window(first_reset=3.0)
    evidence.bound = REFUTED
    evidence.observe(4, 0, 1.0, 0.01)  # granted, Remaining 0, the oldest hit's slot near
    assert evidence.upper == pytest.approx(1.01) and evidence.lower == pytest.approx(2.0)
    assert evidence.take_slot(1.0, LOG_GUARD) == pytest.approx(0.0 + 3.0 + LOG_GUARD)


def test_a_send_time_in_the_log_is_given_a_round_trip_more() -> None:
    """Entries logged at the send (before the log paced) may have reached the server up to a
    round trip later: the probe of such a slot waits that much longer."""
    evidence = full_window(answers=())
    for t in (0.0, 0.1, 0.2, 0.3):
        evidence.sends.append(t)  # type: ignore[union-attr]
    assert evidence.take_slot(1.0, LOG_GUARD) == pytest.approx(0.0 + 1.5 + 0.01 + LOG_GUARD)


def test_a_told_window_has_no_lower_bound_to_probe() -> None:
    evidence = full_window()
    evidence.told(4, 2.0, 5.0, 0)
    assert evidence.lower == float("-inf")
