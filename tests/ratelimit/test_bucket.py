"""The token bucket in virtual time: refill, burst, FIFO fairness, cancellation, no busy loop."""

from __future__ import annotations

import asyncio
import math

import anyio
import anyio.lowlevel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncapi_client._ratelimit._bucket import (
    _MIN_SLEEP,
    SLOW_START_CAP,
    SLOW_START_MAX,
    SLOW_START_THRESHOLD,
    TokenBucket,
    WaitTooLong,
)
from asyncapi_client.testing import FakeClock
from tests.support.virtual_time import VirtualClock, virtual_time


async def test_refill_arithmetic() -> None:
    with virtual_time() as clock:
        bucket = TokenBucket(clock, rate=10.0, capacity=5.0, tokens=0.0)
        await anyio.sleep(0.25)
        bucket.refill(clock.monotonic())
        assert bucket.tokens == pytest.approx(2.5)
        await anyio.sleep(10)
        bucket.refill(clock.monotonic())
        assert bucket.tokens == 5.0  # capped at capacity


async def test_burst_then_paced() -> None:
    with virtual_time() as clock:
        bucket = TokenBucket(clock, rate=10.0, capacity=5.0)
        start = clock.monotonic()
        times = []
        for _ in range(8):
            await bucket.acquire()
            times.append(round(clock.monotonic() - start, 9))
        assert times == [0, 0, 0, 0, 0, 0.1, 0.2, 0.3]


async def _grant_times(clock: VirtualClock, bucket: TokenBucket, n: int) -> list[tuple[int, float]]:
    granted: list[tuple[int, float]] = []
    start = clock.monotonic()

    async def waiter(i: int) -> None:
        await bucket.acquire()
        granted.append((i, round(clock.monotonic() - start, 9)))

    async with anyio.create_task_group() as tg:
        for i in range(n):
            tg.start_soon(waiter, i)
            await anyio.sleep(0.001)  # arrive in order 0, 1, 2, ...
    return granted


async def test_fifo_fairness_and_exact_spacing() -> None:
    with virtual_time() as clock:
        bucket = TokenBucket(clock, rate=4.0, capacity=1.0, tokens=0.0)
        granted = await _grant_times(clock, bucket, 6)
        assert [i for i, _ in granted] == list(range(6))
        assert [t for _, t in granted] == [0.25, 0.5, 0.75, 1.0, 1.25, 1.5]


async def test_no_busy_loop_one_sleep_per_grant() -> None:
    with virtual_time() as clock:
        bucket = TokenBucket(clock, rate=100.0, capacity=1.0, tokens=0.0)
        await _grant_times(clock, bucket, 20)
        # Each waiter sleeps once, as the head, exactly until its token is due.
        assert len(clock.sleeps) == 20
        assert all(s == pytest.approx(0.01, abs=1e-3) or s < 0.01 for s in clock.sleeps)


async def test_the_dust_of_a_token_at_a_high_rate_is_slept_for_once_not_spun_on() -> None:
    """At 100,000 tokens/s, a token short by two billionths is due in 2e-14 s, less than the
    clock can represent at 1000 s: the head sleeps the shortest sleep once and is granted,
    instead of sleeping no time again and again at one instant (which the virtual clock reports
    as a spin; it hung sweeps of the sandbox's fixed window told in X-RateLimit headers, whose
    rate near a window's turn is what is left over the milliseconds to the turn)."""
    with virtual_time(1000.0) as clock:
        bucket = TokenBucket(clock, rate=1e5, capacity=1.0, tokens=1.0 - 2e-9)
        assert bucket.wait_estimate(clock.monotonic(), 0) < 1e-13
        waited = await bucket.acquire()
        assert clock.sleeps == [_MIN_SLEEP]
        assert waited == pytest.approx(_MIN_SLEEP)


async def test_cancelled_waiter_gives_back_its_place() -> None:
    with virtual_time() as clock:
        bucket = TokenBucket(clock, rate=1.0, capacity=1.0, tokens=0.0)
        start = clock.monotonic()
        granted: dict[str, float] = {}

        async def waiter(name: str) -> None:
            await bucket.acquire()
            granted[name] = clock.monotonic() - start

        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter, "a")
            await anyio.sleep(0.01)
            b_scope = anyio.CancelScope()
            tg.start_soon(_run_in, b_scope, waiter, "b")
            await anyio.sleep(0.01)
            tg.start_soon(waiter, "c")
            await anyio.sleep(0.01)
            b_scope.cancel()  # b leaves the line while a is the sleeping head
        assert "b" not in granted
        # c takes b's place: granted one token after a, no token lost.
        assert granted["a"] == pytest.approx(1.0)
        assert granted["c"] == pytest.approx(2.0)
        assert bucket.waiting == 0


async def _run_in(scope: anyio.CancelScope, fn, *args) -> None:  # type: ignore[no-untyped-def]
    with scope:
        await fn(*args)


async def test_cancelled_head_hands_over() -> None:
    with virtual_time() as clock:
        bucket = TokenBucket(clock, rate=2.0, capacity=1.0, tokens=0.0)
        start = clock.monotonic()
        done: list[float] = []

        async def second() -> None:
            await bucket.acquire()
            done.append(clock.monotonic() - start)

        async with anyio.create_task_group() as tg:
            with anyio.move_on_after(0.2):
                tg.start_soon(second)
                await bucket.acquire()  # this task is the head... and gets cancelled at 0.2
                pytest.fail("should have been cancelled")  # pragma: no cover
        # The token due at 0.5 went to the next in line, not lost with the cancelled head.
        assert done == [pytest.approx(0.5)]
        assert bucket.tokens == pytest.approx(0.0, abs=1e-9)


async def test_a_wait_past_the_deadline_lasts_until_the_deadline() -> None:
    """The bucket's own arithmetic (1 s to the next token) is an estimate that the next response
    may change: it never refuses early. The waiter waits until its deadline, then leaves."""
    with virtual_time() as clock:
        bucket = TokenBucket(clock, rate=1.0, capacity=1.0, tokens=0.0)
        now = clock.monotonic()
        with pytest.raises(WaitTooLong) as info:
            await bucket.acquire(deadline=now + 0.5)
        assert not info.value.server_said
        assert clock.monotonic() == pytest.approx(now + 0.5)
        assert info.value.wait == pytest.approx(0.5)
        assert bucket.waiting == 0
        # Nothing was taken: the token due at 1.0 s is there for the next caller.
        assert await bucket.acquire(deadline=now + 1.0) == pytest.approx(0.5)


async def test_the_rate_rising_before_the_deadline_saves_the_wait() -> None:
    with virtual_time() as clock:
        bucket = TokenBucket(clock, rate=0.01, capacity=1.0, tokens=0.0)
        now = clock.monotonic()
        async with anyio.create_task_group() as tg:

            async def speed_up() -> None:
                await anyio.sleep(0.2)
                bucket.set_rate(10.0, clock.monotonic())

            tg.start_soon(speed_up)
            # At 0.01/s the token is 100 s away, past the 1 s deadline: it waits anyway, and
            # the rate rises at 0.2 s.
            waited = await bucket.acquire(deadline=now + 1.0)
        assert waited == pytest.approx(0.2 + 0.998 / 10)


async def test_a_server_pause_past_the_deadline_refuses_at_once() -> None:
    with virtual_time() as clock:
        bucket = TokenBucket(clock, rate=100.0, capacity=10.0)
        now = clock.monotonic()
        bucket.pause_until(now + 30.0, server=True)
        with pytest.raises(WaitTooLong) as info:
            await bucket.acquire(deadline=now + 5.0)
        assert info.value.server_said and info.value.wait == pytest.approx(30.0)
        assert clock.monotonic() == now  # did not sleep
        # A pause of the limiter's own reckoning is only waited out.
        bucket2 = TokenBucket(clock, rate=100.0, capacity=10.0)
        bucket2.pause_until(now + 30.0)
        with pytest.raises(WaitTooLong) as info:
            await bucket2.acquire(deadline=now + 5.0)
        assert not info.value.server_said
        assert clock.monotonic() == pytest.approx(now + 5.0)


async def test_queued_waiters_leave_at_their_own_deadlines() -> None:
    """Not only the head: a waiter deep in the line is refused when its deadline comes (the head
    wakes for it), and the tokens go on to the others in order."""
    with virtual_time() as clock:
        bucket = TokenBucket(clock, rate=1.0, capacity=1.0, tokens=0.0)
        start = clock.monotonic()
        outcome: dict[str, str] = {}

        async def waiter(name: str, deadline: float | None) -> None:
            try:
                await bucket.acquire(deadline=None if deadline is None else start + deadline)
                outcome[name] = f"granted {clock.monotonic() - start:.3f}"
            except WaitTooLong:
                outcome[name] = f"refused {clock.monotonic() - start:.3f}"

        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter, "a", None)
            await anyio.lowlevel.checkpoint()
            tg.start_soon(waiter, "b", 0.3)
            await anyio.lowlevel.checkpoint()
            tg.start_soon(waiter, "c", 5.0)
            await anyio.lowlevel.checkpoint()
            tg.start_soon(waiter, "d", 1.5)
        assert outcome == {
            "a": "granted 1.000",
            "b": "refused 0.300",
            "c": "granted 2.000",
            "d": "refused 1.500",
        }
        assert bucket.waiting == 0


async def test_a_new_server_pause_refuses_those_who_cannot_outlast_it() -> None:
    with virtual_time() as clock:
        bucket = TokenBucket(clock, rate=1.0, capacity=1.0, tokens=0.0)
        start = clock.monotonic()
        outcome: dict[str, str] = {}

        async def waiter(name: str, deadline: float) -> None:
            try:
                await bucket.acquire(deadline=start + deadline)
                outcome[name] = f"granted {clock.monotonic() - start:.3f}"
            except WaitTooLong as exc:
                outcome[name] = f"refused {clock.monotonic() - start:.3f} server={exc.server_said}"

        async with anyio.create_task_group() as tg:
            tg.start_soon(waiter, "head", 20.0)
            await anyio.lowlevel.checkpoint()
            tg.start_soon(waiter, "short", 8.0)
            await anyio.lowlevel.checkpoint()
            tg.start_soon(waiter, "long", 30.0)
            await anyio.sleep(0.5)
            bucket.pause_until(clock.monotonic() + 10.0, server=True)  # a Retry-After: 10
        assert outcome == {
            "short": "refused 0.500 server=True",
            "head": "granted 10.500",
            "long": "granted 11.500",
        }


async def test_a_gated_bucket_starts_slow() -> None:
    """Gated, one grant is out at first (the probe); each answer that teaches nothing lets one
    more out (the window doubles every round trip); one that teaches something opens the gate;
    a grant that never left gives its token back and the window stays."""
    with virtual_time() as clock:
        bucket = TokenBucket(clock, rate=math.inf, capacity=math.inf, gated=True)
        now = clock.monotonic()
        assert bucket.try_take(now) and bucket.outstanding == 1
        assert not bucket.try_take(now)  # the others wait for the probe's answer
        got: list[str] = []

        async def waiter(name: str) -> None:
            await bucket.acquire()
            got.append(name)

        async with anyio.create_task_group() as tg:
            for name in "bcdef":
                tg.start_soon(waiter, name)
            await anyio.sleep(0.1)
            assert got == []
            bucket.probe_done(sent=False, now=clock.monotonic())  # never left: b probes instead
            await anyio.sleep(0.1)
            assert got == ["b"] and bucket.window == 1
            bucket.probe_done(sent=True, now=clock.monotonic())  # answered, nothing learned
            await anyio.sleep(0.1)
            assert got == ["b", "c", "d"] and bucket.window == 2 and bucket.outstanding == 2
            bucket.probe_done(sent=True, now=clock.monotonic(), learned=True)  # headers: open
        assert got == ["b", "c", "d", "e", "f"] and not bucket.gated


@pytest.mark.parametrize(
    ("answers", "window"),
    [
        (0, 1),
        (1, 2),
        (3, SLOW_START_THRESHOLD),  # one more an answer: doubling each round trip
        (SLOW_START_THRESHOLD + 2, SLOW_START_THRESHOLD),  # past it, a window's worth for one more
        (7, 5),
        (12, 6),
        (18, 7),
        (54, SLOW_START_CAP),
        (200, SLOW_START_CAP),
    ],
)
def test_past_the_threshold_the_slow_start_grows_one_a_round_trip(answers: int, window: int) -> None:
    """The window of grants out grows by one an answer up to SLOW_START_THRESHOLD, then by one a
    window's worth of answers (one a round trip), up to SLOW_START_CAP: a server's burst of 10,
    exhausted during the opening, finds about 5 out (each refused), not 10."""
    clock = FakeClock()
    bucket = TokenBucket(clock, rate=math.inf, capacity=math.inf, gated=True)
    for _ in range(answers):
        assert bucket.try_take(clock.monotonic())
        bucket.probe_done(sent=True, now=clock.monotonic())
    assert bucket.window == window and bucket.gated


async def test_the_slow_start_lets_at_most_ten_out_and_opens_after_256_answers() -> None:
    """However many answers teach nothing, at most SLOW_START_CAP grants are out at once (a
    window limiter exhausted mid-burst refuses every request in flight); after SLOW_START_MAX
    such answers the gate opens."""
    with virtual_time() as clock:
        bucket = TokenBucket(clock, rate=math.inf, capacity=math.inf, gated=True)
        now = clock.monotonic()
        most_out = 0
        for _ in range(SLOW_START_MAX - 1):
            while bucket.try_take(now):
                pass
            most_out = max(most_out, bucket.outstanding)
            bucket.probe_done(sent=True, now=now)
        assert most_out == SLOW_START_CAP and bucket.gated
        bucket.probe_done(sent=True, now=now)
        assert not bucket.gated


async def test_set_tokens_sets_exactly_that_many_whatever_the_bucket_held() -> None:
    """A debt or a full bucket alike: exactly the tokens given (at most the capacity), so a
    single request is due exactly when they reach one."""
    with virtual_time() as clock:
        bucket = TokenBucket(clock, rate=2.0, capacity=1.0)
        start = clock.monotonic()
        bucket.cap_tokens(-5.0, start)  # deep in debt: a token 3 s away
        bucket.set_tokens(0.5, start)  # one token a quarter second away, at 2/s
        assert await bucket.acquire() == pytest.approx(0.25)
        bucket.set_tokens(7.0, clock.monotonic())  # more than the capacity: capped
        assert bucket.try_take(clock.monotonic()) and not bucket.try_take(clock.monotonic())


async def test_pause_blocks_every_grant() -> None:
    with virtual_time() as clock:
        bucket = TokenBucket(clock, rate=100.0, capacity=10.0)
        start = clock.monotonic()
        bucket.pause_until(start + 3.0)
        assert not bucket.try_take(start)
        waited = await bucket.acquire()
        assert waited == pytest.approx(3.0)


async def test_rate_rise_wakes_the_sleeping_head() -> None:
    with virtual_time() as clock:
        bucket = TokenBucket(clock, rate=0.1, capacity=1.0, tokens=0.0)
        start = clock.monotonic()
        got: list[float] = []

        async def take() -> None:
            await bucket.acquire()
            got.append(clock.monotonic() - start)

        async with anyio.create_task_group() as tg:
            tg.start_soon(take)
            await anyio.sleep(1.0)  # 0.1 token so far
            bucket.set_rate(10.0, clock.monotonic())  # the other 0.9 takes 0.09 s now
        assert got == [pytest.approx(1.09)]


async def test_debt_is_paid_before_the_next_grant() -> None:
    with virtual_time() as clock:
        bucket = TokenBucket(clock, rate=10.0, capacity=5.0)
        bucket.cap_tokens(-2.0, clock.monotonic())
        assert await bucket.acquire() == pytest.approx(0.3)


@settings(max_examples=60, deadline=None)
@given(
    rate=st.sampled_from([0.5, 3.0, 10.0, 100.0]),
    capacity=st.integers(1, 5),
    plan=st.lists(
        st.tuples(st.floats(0, 0.5), st.one_of(st.none(), st.floats(0, 2.0))), min_size=1, max_size=25
    ),
)
def test_property_conformant_fifo_and_nothing_lost(
    rate: float, capacity: int, plan: list[tuple[float, float | None]]
) -> None:
    """Random arrivals, some cancelled while waiting: grants never exceed the bucket's envelope
    (capacity + rate * t), come in arrival order, and a cancelled waiter's token is not lost
    (the grants stay as dense as the envelope allows)."""

    async def main() -> tuple[list[tuple[int, float]], float]:
        with virtual_time() as clock:
            bucket = TokenBucket(clock, rate=rate, capacity=float(capacity))
            start = clock.monotonic()
            grants: list[tuple[int, float]] = []

            async def waiter(i: int, cancel_after: float | None) -> None:
                with anyio.move_on_after(cancel_after if cancel_after is not None else math.inf):
                    await bucket.acquire()
                    grants.append((i, clock.monotonic() - start))

            async with anyio.create_task_group() as tg:
                for i, (gap, cancel_after) in enumerate(plan):
                    await anyio.sleep(gap)
                    tg.start_soon(waiter, i, cancel_after)
            return grants, clock.monotonic() - start

    grants, _ = asyncio.run(main())
    order = [i for i, _ in grants]
    assert order == sorted(order)  # FIFO among those granted
    times = [t for _, t in grants]
    for k, t in enumerate(times, start=1):
        assert k <= capacity + rate * t + 1e-6  # never faster than the bucket allows
    # Nothing lost: each grant after the first `capacity` comes no later than one token after
    # the previous grant or its own arrival, whichever is later.
    arrivals = []
    clock_t = 0.0
    for gap, _ in plan:
        clock_t += gap
        arrivals.append(clock_t)
    for k in range(1, len(grants)):
        i, t = grants[k]
        prev = grants[k - 1][1]
        assert t <= max(prev, arrivals[i]) + 1 / rate + 1e-6
