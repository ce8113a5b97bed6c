"""Windows told in the IETF fields (`RateLimit: "default";r=R;t=T` with `RateLimit-Policy:
"default";q=Q;w=W`), driven through the estimator alone in virtual time: a small event loop of
concurrent callers, the sandbox's pure limiters as the server (their IETF answers as sent on
the wire, parsed by the client's reader), plain numbers for time. No clock, no I/O.

A sliding log tells `t` as when more quota comes (its oldest grant ages out, draft 10): a
client that waits for `t` and then bursts finds most slots still held. Alone at the server, the
client paces such a window by its own log of answers; a fixed window's end lets one request out
ahead of the log, and its answer (the window whole again) resets the log."""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from itertools import count

import pytest

from asyncapi_client._ratelimit._estimator import Estimator
from asyncapi_client._ratelimit._headers import parse_rate_limit_headers
from asyncapi_sandbox._limits import FixedWindow, Limiter, SlidingWindow, TokenBucket, limit_headers

TRIP = 0.01  # seconds from send to answer; the server takes the request halfway
WALL0 = 1_700_000_007.0  # Unix time at virtual 0: 3 s before a 10 s window's end


def client(log_pacing: bool = True) -> Estimator:
    estimator = Estimator(rate=None, burst=None, adaptive=True, max_pause=60.0, now=0.0)
    estimator.log_pacing = log_pacing
    return estimator


def run(
    estimator: Estimator, server: Limiter, calls: int, concurrency: int, rate: float = 0.0
) -> tuple[float, int]:
    """`calls` requests from `concurrency` callers, each sending its next when its last is
    answered, at the slot the estimator gives (`take_slot`) and after any pause it decides;
    the first goes alone (the probe). Returns (when the last was answered, requests refused)."""
    events: list[tuple[float, int, str, Callable[[float], None]]] = []
    order = count()
    done = refused = issued = 0
    last = 0.0

    def at(time: float, what: str, action: Callable[[float], None]) -> None:
        heapq.heappush(events, (time, next(order), what, action))

    waiting: dict[int, float] = {}  # requests holding a later slot: id -> its slot

    def request(now: float) -> None:
        slot = estimator.take_slot(now)
        if slot is None or slot <= now:
            send(now, slot is not None)
            return
        ticket = next(order)
        waiting[ticket] = slot
        at(slot, "send", lambda t: waiting.pop(ticket, None) is not None and send(t, True))

    def ask_again(now: float) -> None:
        """The log was reset (the middleware wakes the requests sleeping for a slot)."""
        estimator.sliding.reslot(len(waiting))
        for ticket in list(waiting):
            del waiting[ticket]
            estimator.slot_done(now, sent=False)
            request(now)

    def send(now: float, logged: bool) -> bool:
        seq = estimator.on_send(now, logged)
        verdict = server.take(now + TRIP / 2, WALL0 + now + TRIP / 2)
        headers = {k.decode(): v.decode() for k, v in limit_headers("ietf", verdict, WALL0 + now, rate)}
        at(now + TRIP, "answer", lambda t: answer(t, seq, now, logged, verdict.allowed, headers))
        return True

    def answer(
        now: float, seq: int, sent_at: float, logged: bool, allowed: bool, headers: dict[str, str]
    ) -> None:
        nonlocal done, refused, last, issued
        if logged:
            estimator.slot_done(now, sent=True)
        info = parse_rate_limit_headers(headers, WALL0 + now)
        resets = estimator.sliding.resets
        decision = estimator.observe(200 if allowed else 429, info, seq, sent_at, now, WALL0 + now)
        if estimator.sliding.resets != resets:
            ask_again(now)
        if allowed:
            done += 1
            last = now
        else:
            refused += 1
        if issued < calls or not allowed:
            issued += allowed
            pauses = [p for p in (decision.pause_until, decision.server_pause_until) if p is not None]
            at(max([now, *pauses]), "request", request)

    at(0.0, "request", request)  # the probe
    issued = 1
    while events:
        time, _, what, action = heapq.heappop(events)
        action(time)
        if what == "answer" and done + refused == 1:
            for _ in range(min(concurrency, calls) - 1):  # the probe taught something: the gate opens
                issued += 1
                at(time, "request", request)
    return last, refused


def test_a_sliding_window_told_in_ietf_fields_is_paced_by_the_log_not_by_t() -> None:
    """100 per 2 s, 1,000 calls at 64: no request refused, and the ten windows' worth take
    barely more than nine windows (each block waits only for its own slots, a round trip and
    the guard late), where waiting for `t` (whole seconds, rounded up) and bursting lost both
    slots and time."""
    estimator = client()
    last, refused = run(estimator, SlidingWindow(100, 2.0), 1000, 64)
    assert estimator.sliding.told_window and estimator.log_paced
    assert refused == 0
    assert last < 9 * 2.0 + 0.3


def test_a_fixed_window_told_in_ietf_fields_sends_its_next_window_at_its_end() -> None:
    """100 per 10 s, windows aligned to the epoch, the client starting 3 s before one ends:
    the first 100 go at once; the window's end (its `t` when nothing was left) lets one
    request out ahead of the log, whose answer shows the window whole again and resets the
    log: the next 100 go at 3 s (not 10 s, a window after our first), the last 100 at 13 s."""
    estimator = client()
    last, refused = run(estimator, FixedWindow(100, 10.0, WALL0), 300, 64)
    assert refused == 0
    assert 13.0 <= last < 13.2


def test_a_bucket_told_as_a_rate_per_window_never_starts_the_log() -> None:
    """A token bucket of 10 refilled at 50/s, told as a policy of 50 per second: it never
    holds the policy's quota (no answer leaves 49), so no log paces it (a log would let 50
    out at once)."""
    estimator = client()
    run(estimator, TokenBucket(50.0, 10, 0.0), 300, 16, rate=50.0)
    assert not estimator.sliding.told_window and not estimator.log_paced
    assert estimator.sliding.sends is None


@pytest.mark.parametrize("log_pacing", [False, True])
def test_only_a_client_alone_at_the_server_paces_a_told_window_by_its_log(log_pacing: bool) -> None:
    """With a shared backend (the middleware does not ask for slots) the told window stays
    paced at a rate (its policy's per window, spread over what remains); alone, by the log,
    and the rate stops binding."""
    estimator = client(log_pacing)
    run(estimator, SlidingWindow(100, 2.0), 150, 8)
    assert estimator.log_paced is log_pacing
    assert estimator.sliding.told_window is log_pacing
    assert (estimator.take_slot(100.0) is not None) is log_pacing
    assert (estimator.rate == math.inf) is log_pacing


# -- through the client, on virtual time -------------------------------------------------------


async def serve_ietf(server: Limiter, calls: int, concurrency: int, wall: float) -> tuple[int, float, int]:
    """The default client against `server` telling the IETF fields (and Retry-After on a 429),
    4 ms of latency each way, on the virtual clock whose Unix time at 0 is `wall`: (calls that
    succeeded, seconds they took, requests refused)."""
    from tests.ratelimit.test_scenarios import serve_sandbox_limiter
    from tests.support.virtual_time import virtual_time

    with virtual_time(0.0) as clock:
        clock.wall_offset = wall
        ok, duration, refused, _ = await serve_sandbox_limiter(
            clock, server, "ietf", calls, concurrency=concurrency
        )
    return ok, duration, refused


async def test_the_client_paces_an_ietf_sliding_window_by_its_log() -> None:
    """The sandbox's sliding window (100 per 2 s) in the IETF fields, 2,000 calls at 64 from the
    default client: all succeed, none refused, at least 98% of 50/s plus a window's quota."""
    ok, duration, refused = await serve_ietf(SlidingWindow(100, 2.0), 2000, 64, WALL0)
    assert ok == 2000
    assert refused == 0
    assert ok / duration >= 0.98 * (50 + 100 / duration)


async def test_the_client_wakes_the_requests_waiting_for_a_log_slot_at_a_fixed_windows_end() -> None:
    """A fixed window of 100 per 10 s in the IETF fields, the client starting 3 s before one
    ends: the requests that took a slot of the log (a window after our first sends) are woken
    when the window's end shows it whole again, so the second 100 go at 3 s and the third at
    13 s, not at 10 s and 20 s; none refused."""
    ok, duration, refused = await serve_ietf(FixedWindow(100, 10.0, WALL0), 300, 64, WALL0)
    assert ok == 300
    assert refused == 0
    assert 13.0 <= duration < 13.5
