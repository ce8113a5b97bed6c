"""Shared learning's pure parts (`_fleet.py`) and its I/O layer over a fake backend, on an
injected clock: the lease's slots, what a process proposes, one lease per several requests."""

from __future__ import annotations

import math

import anyio
import pytest

from asyncapi_client import AsyncClient, MockTransport, RateLimit, Request, Response, RetryPolicy
from asyncapi_client._ratelimit import RedisRateLimitBackend
from asyncapi_client._ratelimit._adaptive import BETA
from asyncapi_client._ratelimit._config import SharedLearningBackend
from asyncapi_client._ratelimit._fleet import (
    FETCH_AHEAD,
    HEADER_MARGIN,
    LEASE_SECONDS,
    LEASE_TTL,
    MARK_BETA,
    MAX_LEASE,
    OPEN_LEASE,
    Cut,
    FleetLearner,
    Grant,
    Lease,
)
from asyncapi_client._ratelimit._shared import SharedLearning
from asyncapi_client.testing import FakeClock


def grant(granted: int, *, base: float = 0.0, level: float = 0.0, rate: float | None = 10.0, epoch: int = 0) -> Grant:
    return Grant(granted, base, level, rate, epoch, True)


# -- Lease -----------------------------------------------------------------------------------


def test_slots_are_due_as_the_fleet_bucket_says() -> None:
    lease = Lease()
    # Two tokens in the fleet's bucket, then one every 1/10 s.
    assert lease.fill(grant(4, level=2.0, rate=10.0), now=100.0) == 0
    assert list(lease.due) == pytest.approx([100.0, 100.0, 100.1, 100.2])
    # A pause first: every slot moves by it.
    other = Lease()
    other.fill(grant(2, base=0.5, level=0.0, rate=10.0), now=100.0)
    assert list(other.due) == pytest.approx([100.6, 100.7])


def test_open_fleet_slots_are_due_at_once() -> None:
    lease = Lease()
    lease.fill(grant(OPEN_LEASE, rate=None), now=5.0)
    assert list(lease.due) == [5.0] * OPEN_LEASE
    assert lease.want() == OPEN_LEASE


@pytest.mark.parametrize(
    ("rate", "want"),
    [(1.0, 1), (10.0, math.ceil(10 * LEASE_SECONDS)), (100.0, math.ceil(100 * LEASE_SECONDS)), (10_000.0, MAX_LEASE)],
)
def test_a_lease_is_about_lease_seconds_of_the_fleet_rate(rate: float, want: int) -> None:
    lease = Lease()
    lease.rate = rate
    assert lease.want() == want


def test_slots_of_an_older_epoch_are_given_back() -> None:
    lease = Lease()
    lease.fill(grant(3, level=3.0, epoch=1), now=0.0)
    assert lease.take() == 0.0
    # The next reply is of epoch 2: the rate was cut since; the two slots held go back.
    assert lease.fill(grant(1, level=1.0, epoch=2), now=0.0) == 2
    assert lease.epoch == 2 and list(lease.due) == [0.0]
    assert lease.renew(2) == 0  # the same epoch again: nothing dropped


def test_unused_slots_expire_and_cancelled_ones_come_back_in_order() -> None:
    lease = Lease()
    lease.fill(grant(3, level=0.0, rate=10.0), now=0.0)  # due 0.1, 0.2, 0.3
    first = lease.take()
    assert first == pytest.approx(0.1)
    lease.put_back(first)  # its request was cancelled while it waited
    assert list(lease.due) == pytest.approx([0.1, 0.2, 0.3])
    assert lease.expire(0.2 + LEASE_TTL) == 1  # 0.1 is past its due time by more than the TTL
    assert list(lease.due) == pytest.approx([0.2, 0.3])


def test_no_lease_until_the_last_slot_is_a_round_trip_away() -> None:
    lease = Lease()
    lease.fill(grant(5, level=0.0, rate=10.0), now=0.0)  # the last slot is due at 0.5
    assert lease.fetch_at(0.0) == pytest.approx(0.5 - FETCH_AHEAD)
    assert lease.fetch_at(1.0) == 1.0


def test_a_lease_dropped_on_a_cut_is_renewed_at_once() -> None:
    lease = Lease()
    lease.fill(grant(5, level=0.0, rate=10.0, epoch=0), now=0.0)  # the last slot due at 0.5
    assert lease.fetch_at(0.0) == pytest.approx(0.5 - FETCH_AHEAD)
    assert lease.renew(1) == 5
    # Nothing is held: waiting for the dropped slots' time would leave them unused.
    assert lease.fetch_at(0.0) == 0.0


def test_grant_parses_the_scripts_reply() -> None:
    assert Grant.parse([3, b"0.25", b"-1.5", b"42.5", 7, 1]) == Grant(3, 0.25, -1.5, 42.5, 7, True)
    assert Grant.parse([2, b"0", b"0", b"-1", 0, 0]).rate is None  # open


# -- FleetLearner ------------------------------------------------------------------------------


def learn(learner: FleetLearner, status: int, epoch: int, **kw: object) -> object:
    args: dict[str, object] = {"server_rate": None, "limit": None, "retry_after": None}
    args.update(kw)
    return learner.answered(status, epoch, 1.0, 1.25, **args)  # type: ignore[arg-type]


def test_a_429_of_the_current_epoch_is_a_cut_an_older_one_is_not() -> None:
    learner = FleetLearner()
    learner.known_epoch = 3
    cut = learn(learner, 429, 3, retry_after=2.0)
    assert cut is not None and cut[:3] == (3, 0.25, 2.0) and cut.beta == BETA
    assert learn(learner, 429, 2) is None  # that event was already cut
    assert learn(learner, 200, 3) is None
    assert learner.report() == 1 and learner.report() == 0  # answers granted, counted once


def test_an_empty_server_bucket_is_one_mark_until_it_was_half_full_again() -> None:
    learner = FleetLearner()
    mark = learn(learner, 200, 0, empty=True)
    assert isinstance(mark, Cut) and mark.beta == MARK_BETA  # shallower than a 429's cut
    assert learn(learner, 200, 0, empty=True) is None  # still empty after the cut: not a new mark
    assert learn(learner, 200, 0, limit=10, remaining=4) is None
    assert learn(learner, 200, 0, empty=True) is None  # not yet half full again
    assert learn(learner, 200, 0, limit=10, remaining=5) is None
    assert learn(learner, 200, 0, empty=True) is not None


@pytest.mark.parametrize(
    ("limit", "remaining", "steps_up"),
    [
        (10, 9, True),
        (10, 8, True),  # FULL_SHARE of the burst
        (10, 7, False),  # draining: the rise stops here, well before the bucket is half empty
        (10, 5, False),
        (100, 80, True),
        (100, 79, False),
        (1, 0, False),  # a bucket of one is never seen holding anything
        (None, 5, False),  # no headers: nothing to go by
    ],
)
def test_the_fleet_steps_up_only_while_the_server_is_near_full(
    limit: int | None, remaining: int, steps_up: bool
) -> None:
    learner = FleetLearner()
    learn(learner, 200, 0, limit=limit, remaining=remaining)
    assert learner.report_below() is steps_up


@pytest.mark.parametrize(
    ("open_fleet", "remaining", "marked"),
    [
        (True, 9, False),
        (True, 7, True),  # open: the first answer below FULL_SHARE is the mark
        (False, 7, False),  # paced: only an empty bucket is
        (False, 0, True),
    ],
)
def test_an_open_fleet_is_marked_as_soon_as_the_server_drains(
    open_fleet: bool, remaining: int, marked: bool
) -> None:
    learner = FleetLearner()
    cut = learner.answered(
        200, 0, 1.0, 1.25, server_rate=None, limit=10, retry_after=None,
        empty=remaining == 0, remaining=remaining, open_fleet=open_fleet,
    )
    assert (cut is not None and cut.beta == MARK_BETA) is marked


def test_near_full_is_the_latest_answers_word() -> None:
    learner = FleetLearner()
    learn(learner, 200, 0, limit=10, remaining=9)
    learn(learner, 200, 0, limit=10, remaining=3)  # the next answer found it draining
    assert learner.report_below() is False
    learn(learner, 200, 0, limit=10, remaining=9)
    assert learner.report_below() is True
    assert learner.report_below() is False  # nothing new since the last lease


def test_the_headers_ceiling_and_burst() -> None:
    learner = FleetLearner()
    learn(learner, 200, 0, server_rate=100.0, limit=10)
    assert learner.ceiling == pytest.approx(100.0 * HEADER_MARGIN)
    assert learner.burst == 9  # the server's burst less the sync's reserve


# -- SharedLearning over a fake backend ---------------------------------------------------------


class FakeFleet:
    """A `SharedLearningBackend` in memory: hands out the grants it is given, records calls."""

    def __init__(self, *grants: Grant) -> None:
        self.grants = list(grants)
        self.calls: list[tuple[str, object]] = []
        self.below: list[bool] = []  # what each lease said of the server's bucket
        self.epoch = 0

    async def lease(self, key: str, want: int, **kw: object) -> Grant | None:
        self.calls.append(("lease", want))
        self.below.append(bool(kw.get("below")))
        return self.grants.pop(0)

    async def cut(
        self, key: str, *, epoch: int, sent_ago: float, pause: float, granted: int, beta: float = 0.8
    ) -> Grant | None:
        accepted = epoch == self.epoch
        self.epoch += accepted
        self.calls.append(("cut", epoch))
        return Grant(0, 0.0, 0.0, 5.0, self.epoch, accepted)

    async def give(self, key: str, slots: int) -> None:
        self.calls.append(("give", slots))

    async def fleet_pause(self, key: str, seconds: float) -> None:
        self.calls.append(("pause", seconds))

    async def aclose(self) -> None:
        pass

    # The configured-rate bucket's methods (unused here): every backend has them.
    async def acquire(self, key: str, *, rate: float, burst: int, max_wait: float | None) -> float | None:
        raise AssertionError("no rate is configured: the bucket is not used")

    async def release(self, key: str, *, rate: float, burst: int) -> None:
        raise AssertionError("unused")

    async def pause(self, key: str, seconds: float, *, rate: float, burst: int) -> None:
        raise AssertionError("unused")


def test_the_fake_is_a_learning_backend() -> None:
    assert isinstance(FakeFleet(), SharedLearningBackend)
    assert isinstance(RedisRateLimitBackend("redis://127.0.0.1:1/0"), SharedLearningBackend)


async def test_one_round_trip_serves_a_lease_of_requests() -> None:
    clock = FakeClock()
    backend = FakeFleet(grant(5, level=0.0, rate=10.0))
    fleet = SharedLearning(backend, clock=clock)
    epochs = [await fleet.take("k", None) for _ in range(5)]
    assert epochs == [0] * 5
    assert backend.calls == [("lease", OPEN_LEASE)]
    # Each request slept until its own slot: 1/10 s apart on the injected clock.
    assert clock.sleeps == pytest.approx([0.1] * 5)


async def test_a_slot_past_the_deadline_is_refused_and_kept() -> None:
    clock = FakeClock()
    fleet = SharedLearning(FakeFleet(grant(2, level=0.0, rate=1.0)), clock=clock)
    assert await fleet.take("k", deadline=0.5) is None  # its slot is due at 1.0
    assert await fleet.take("k", deadline=5.0) == 0  # the slot kept, no new lease
    assert clock.sleeps == [1.0]


async def test_a_cut_gives_back_the_slots_held() -> None:
    clock = FakeClock()
    backend = FakeFleet(grant(4, level=4.0, rate=10.0))
    fleet = SharedLearning(backend, clock=clock)
    assert await fleet.take("k", None) == 0
    await fleet.answered("k", 429, 0, clock.monotonic(), server_rate=None, limit=None, retry_after=None)
    assert backend.calls == [("lease", OPEN_LEASE), ("cut", 0), ("give", 3)]
    assert fleet.rate("k") == 5.0
    # Another 429 of epoch 0 (in flight with the first): known to be cut, no round trip.
    await fleet.answered("k", 429, 0, clock.monotonic(), server_rate=None, limit=None, retry_after=None)
    assert backend.calls[-1] == ("give", 3)


async def test_429s_in_flight_together_propose_one_cut() -> None:
    backend = FakeFleet(*(grant(OPEN_LEASE, rate=None) for _ in range(8)))
    arrived = 0
    both = anyio.Event()

    async def handler(request: Request) -> Response:
        nonlocal arrived
        arrived += 1
        if arrived == 1:  # one answer first: the slow start then lets two out at once
            return Response(200, {}, b"{}")
        if arrived == 3:
            both.set()
        await both.wait()  # both were sent (with slots of epoch 0) before either is answered
        return Response(429 if arrived <= 3 else 200, {}, b"{}")

    client = AsyncClient(
        "https://api.example.com",
        transport=MockTransport(handler, record=False),
        rate_limit=RateLimit(backend=backend),
        retry=RetryPolicy(max_attempts=1),
        clock=FakeClock(),
    )
    statuses: list[int] = []

    async def call() -> None:
        statuses.append((await client.send(client.build_request("GET", "/x"))).status_code)

    async with client:
        await call()
        async with anyio.create_task_group() as tg:
            tg.start_soon(call)
            tg.start_soon(call)
        await call()  # sent after the cut, in epoch 1
    assert statuses == [200, 429, 429, 200]
    # The first 429 cut epoch 0; the second answers a request of epoch 0 too: it belongs to
    # that event, and no second proposal reaches the backend.
    assert [arg for op, arg in backend.calls if op == "cut"] == [0]
    assert backend.epoch == 1
    assert client.rate_limit_status().shared


async def test_the_headers_remaining_decides_whether_the_fleet_may_step_up() -> None:
    backend = FakeFleet(*(grant(1, level=1.0, rate=10.0) for _ in range(4)))
    remaining = iter(["9", "6", "8", "9"])

    def handler(request: Request) -> Response:
        headers = {"X-RateLimit-Limit": "10", "X-RateLimit-Remaining": next(remaining)}
        return Response(200, headers, b"{}")

    client = AsyncClient(
        "https://api.example.com",
        transport=MockTransport(handler, record=False),
        rate_limit=RateLimit(backend=backend),
        clock=FakeClock(),
    )
    async with client:
        for _ in range(4):
            await client.send(client.build_request("GET", "/x"))
    # Each lease carries what the answer before it said: nothing yet, near full, draining (6 of
    # 10: more than half, but the rise stops before that),
    # near full again.
    assert backend.below == [False, True, False, True]


def test_no_rate_needs_a_backend_that_learns() -> None:
    class BucketOnly:
        async def acquire(self, key: str, *, rate: float, burst: int, max_wait: float | None) -> float | None:
            return 0.0

        async def release(self, key: str, *, rate: float, burst: int) -> None: ...

        async def pause(self, key: str, seconds: float, *, rate: float, burst: int) -> None: ...

        async def aclose(self) -> None: ...

    with pytest.raises(ValueError, match="cannot keep a learned rate"):
        RateLimit(backend=BucketOnly())
    RateLimit(rate=10, backend=BucketOnly())
    RateLimit(backend=RedisRateLimitBackend("redis://127.0.0.1:1/0"))
