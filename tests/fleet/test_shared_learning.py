"""Shared learning against a real redis-server: clients on one Redis state with no rate
configured (`RateLimit(backend=RedisRateLimitBackend(...))`) learn together. Two backends in one
process stand for two processes (each has its own connection pool and its own lease); one test
uses a real second process. The clients run on `FakeClock`: nothing waits in real time, and the
script's stored state is read back from Redis, not inferred from timings."""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import anyio
import pytest
import redis.asyncio as aioredis
import redis.exceptions

from asyncapi_client import AsyncClient, MockTransport, RateLimit, Request, Response, RetryPolicy
from asyncapi_client._ratelimit import RedisRateLimitBackend
from asyncapi_client._ratelimit._fleet import Grant
from asyncapi_client.testing import FakeClock

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[2]


class SpyBackend(RedisRateLimitBackend):
    """The real backend, recording the verdicts of the cuts it proposed and the slots it gave back."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.cuts: list[bool] = []
        self.given: list[int] = []

    async def cut(
        self, key: str, *, epoch: int, sent_ago: float, pause: float, granted: int, beta: float = 0.8
    ) -> Grant | None:
        grant = await super().cut(key, epoch=epoch, sent_ago=sent_ago, pause=pause, granted=granted, beta=beta)
        assert grant is not None
        self.cuts.append(grant.accepted)
        return grant

    async def give(self, key: str, slots: int) -> None:
        self.given.append(slots)
        await super().give(key, slots)


@pytest.fixture
def prefix() -> str:
    return f"test:fleet:{uuid.uuid4().hex}:"


@pytest.fixture
async def redis_client(redis_server_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_server_url)
    yield client
    await client.aclose()


def make_client(
    backend: RedisRateLimitBackend, handler: Callable[[Request], object], clock: FakeClock | None = None
) -> AsyncClient:
    return AsyncClient(
        "https://api.example.com",
        transport=MockTransport(handler, record=False),  # type: ignore[arg-type]
        rate_limit=RateLimit(backend=backend),
        retry=RetryPolicy(max_attempts=1),
        clock=clock or FakeClock(),
    )


def answering(*statuses: int) -> Callable[[Request], Response]:
    answers = iter(statuses)
    return lambda request: Response(next(answers, 200), {}, b"{}")


async def get(client: AsyncClient) -> int:
    return (await client.send(client.build_request("GET", "/x"))).status_code


async def fleet_state(redis_client: aioredis.Redis, prefix: str) -> dict[str, str]:
    raw = await redis_client.hgetall(f"{prefix}fleet:default")
    return {k.decode(): v.decode() for k, v in raw.items()}


async def test_a_429_in_one_client_paces_the_other(
    redis_server_url: str, redis_client: aioredis.Redis, prefix: str
) -> None:
    a = make_client(SpyBackend(redis_server_url, prefix=prefix), answering(429))
    b = make_client(SpyBackend(redis_server_url, prefix=prefix), answering())
    async with a, b:
        assert await get(b) == 200
        assert b.rate_limit_status().rate is None  # the fleet is open: nothing learned yet
        assert await get(a) == 429  # A's 429 cuts the fleet's rate
        state = await fleet_state(redis_client, prefix)
        assert state["epoch"] == "1" and float(state["w_max"]) > 0
        assert await get(b) == 200  # the slot B leased before the cut
        assert await get(b) == 200  # a new lease: B learns the cut from its reply
        # B now paces at the fleet's rate after A's cut (slots spaced by it), not open.
        assert b.rate_limit_status().rate is not None
        assert a.rate_limit_status().rate is not None


async def test_simultaneous_429s_from_two_clients_are_one_event(
    redis_server_url: str, redis_client: aioredis.Redis, prefix: str
) -> None:
    arrived = 0
    both = anyio.Event()

    async def handler(request: Request) -> Response:
        nonlocal arrived
        arrived += 1
        if arrived == 2:
            both.set()
        await both.wait()  # both requests are out before either is answered
        return Response(429, {}, b"{}")

    spies = [SpyBackend(redis_server_url, prefix=prefix) for _ in range(2)]
    clients = [make_client(spy, handler) for spy in spies]
    async with clients[0], clients[1], anyio.create_task_group() as tg:
        for client in clients:
            tg.start_soon(get, client)
    # Both proposed a cut against epoch 0; the script took the first and ignored the second.
    assert sorted(spies[0].cuts + spies[1].cuts) == [False, True]
    assert (await fleet_state(redis_client, prefix))["epoch"] == "1"


async def test_slots_held_are_given_back_on_a_cut(redis_server_url: str, prefix: str) -> None:
    spy = SpyBackend(redis_server_url, prefix=prefix)
    async with make_client(spy, answering(429)) as client:
        assert await get(client) == 429
    # The open fleet's lease was two slots; one was spent on the 429's request, the other went
    # back when the cut it proposed was accepted (to be leased again at the new rate).
    assert spy.cuts == [True]
    assert spy.given == [1]


async def test_the_fleet_state_is_on_the_redis_clock(
    redis_server_url: str, redis_client: aioredis.Redis, prefix: str
) -> None:
    clock = FakeClock(epoch=1_000_000_000.0)  # the client believes it is 2001
    client = make_client(RedisRateLimitBackend(redis_server_url, prefix=prefix), answering(429), clock)
    async with client:
        local = clock.time()
        assert await get(client) == 429
    seconds, micros = await redis_client.time()
    redis_now = seconds + micros / 1e6
    state = await fleet_state(redis_client, prefix)
    # The cut's curve starts at the server's TIME (the pause was 0), not at the client's clock.
    assert float(state["since"]) <= redis_now
    assert abs(float(state["since"]) - redis_now) < abs(float(state["since"]) - local)
    assert abs(redis_now - local) > 86_400


async def test_a_cut_by_another_process_reaches_this_one(
    redis_server_url: str, redis_client: aioredis.Redis, prefix: str
) -> None:
    client = make_client(RedisRateLimitBackend(redis_server_url, prefix=prefix), answering())
    async with client:
        assert await get(client) == 200
        assert await get(client) == 200  # the open lease's two slots, spent
        other = textwrap.dedent(
            f"""
            import asyncio
            from asyncapi_client._ratelimit import RedisRateLimitBackend

            async def main():
                backend = RedisRateLimitBackend({redis_server_url!r}, prefix={prefix!r})
                grant = await backend.cut("default", epoch=0, sent_ago=0.0, pause=0.0, granted=0)
                print(grant.accepted, grant.epoch)
                await backend.aclose()

            asyncio.run(main())
            """
        )
        with anyio.fail_after(60):
            out = await anyio.run_process([sys.executable, "-c", other], cwd=ROOT)
        assert out.stdout.decode().split() == ["True", "1"]
        assert await get(client) == 200  # its next lease carries the other process's cut
        assert client.rate_limit_status().rate is not None
        assert (await fleet_state(redis_client, prefix))["epoch"] == "1"


async def test_redis_down_fails_open_or_raises(prefix: str) -> None:
    down = "redis://127.0.0.1:1/0"
    async with make_client(RedisRateLimitBackend(down, prefix=prefix), answering(429)) as client:
        # fail_open (the default): no shared wait; the 429 is answered, its cut just not shared.
        assert await get(client) == 429
        assert await get(client) == 200
    closed = RedisRateLimitBackend(down, prefix=prefix, fail_open=False)
    async with make_client(closed, answering()) as client:
        with pytest.raises(redis.exceptions.ConnectionError):
            await get(client)


# -- paced by the headers (the script alone, on a fresh state per test) -------------------------


async def lease(backend: RedisRateLimitBackend, *, below: bool = False, ceiling: float | None = 50.0) -> Grant:
    grant = await backend.lease("default", 1, granted=0, ceiling=ceiling, burst=9, max_wait=None, below=below)
    assert grant is not None
    return grant


async def test_with_headers_a_mark_sets_the_rate_without_a_curve(
    redis_server_url: str, redis_client: aioredis.Redis, prefix: str
) -> None:
    backend = RedisRateLimitBackend(redis_server_url, prefix=prefix)
    try:
        # The headers gave a burst and a ceiling: the fleet paces at the ceiling from its
        # first lease, not open.
        first = await lease(backend)
        assert first.rate == 50.0
        cut = await backend.cut("default", epoch=first.epoch, sent_ago=0.0, pause=0.0, granted=1, beta=0.95)
        assert cut is not None and cut.accepted
        state = await fleet_state(redis_client, prefix)
        # A rate of its own below what the fleet was sending (no curve: `w_max` stays 0).
        assert float(state["w_max"]) == 0.0
        assert 0.0 < float(state["hrate"]) <= 50.0 * 0.95
        assert cut.rate == pytest.approx(float(state["hrate"]))
    finally:
        await backend.aclose()


@pytest.mark.parametrize(
    ("hrate", "mrate", "cut_ago", "expected"),
    [
        (20.0, 0.0, 10.0, 20.0 * 1.4**2),  # no rate found too fast yet: fast steps
        (20.0, 45.0, 10.0, 20.0 * 1.05**2),  # below the rate found too fast: 5% steps...
        (43.0, 45.0, 10.0, 45.0 * 0.99),  # ...to just below it...
        (45.0, 45.0, 0.5, 45.0 * 1.005**2),  # ...and slowly past it, soon after that event
        (45.0, 45.0, 10.0, 45.0 * 1.05**2),  # long after it: the server may have sped up
        (49.0, 45.0, 10.0, 50.0),  # never past the ceiling
    ],
)
async def test_with_headers_the_rate_steps_up_while_the_server_is_near_full(
    redis_server_url: str,
    redis_client: aioredis.Redis,
    prefix: str,
    hrate: float,
    mrate: float,
    cut_ago: float,
    expected: float,
) -> None:
    backend = RedisRateLimitBackend(redis_server_url, prefix=prefix)
    try:
        await lease(backend)
        seconds, micros = await redis_client.time()
        now = seconds + micros / 1e6
        # The state as an earlier event left it, written as the script keeps it (the last step
        # up long ago: at most two steps' worth compound), on the Redis clock.
        await redis_client.hset(
            f"{prefix}fleet:default",
            mapping={"hrate": hrate, "mrate": mrate, "cut_at": now - cut_ago, "raised_at": 0, "since": 0},
        )
        assert (await lease(backend)).rate == pytest.approx(hrate)  # not near full: no step
        raised = await lease(backend, below=True)
        assert raised.rate == pytest.approx(expected, rel=1e-3)
    finally:
        await backend.aclose()


@pytest.mark.parametrize(
    ("prev", "raised_ago", "expected"),
    [
        (30.0, 0.1, (30.0 * 50.0) ** 0.5),  # the event answers the step up from 30: half way
        (30.0, 5.0, 50.0 * 0.95),  # a step long ago: beta below what the fleet sent
        (49.0, 0.1, 50.0 * 0.95),  # half way would be above beta below it: the cut wins
        (0.0, 0.1, 50.0 * 0.95),  # no step up recorded
    ],
)
async def test_with_headers_an_event_after_a_step_up_lands_between_the_rates_either_side(
    redis_server_url: str,
    redis_client: aioredis.Redis,
    prefix: str,
    prev: float,
    raised_ago: float,
    expected: float,
) -> None:
    backend = RedisRateLimitBackend(redis_server_url, prefix=prefix)
    try:
        first = await lease(backend)  # paced at the ceiling, 50/s: the slots queue on it
        seconds, micros = await redis_client.time()
        now = seconds + micros / 1e6
        await redis_client.hset(
            f"{prefix}fleet:default",
            mapping={"hrate": 50.0, "mrate": 60.0, "prev": prev, "raised_at": now - raised_ago, "tokens": -5},
        )
        cut = await backend.cut("default", epoch=first.epoch, sent_ago=0.0, pause=0.0, granted=1, beta=0.95)
        assert cut is not None and cut.accepted
        assert cut.rate == pytest.approx(expected, rel=1e-3)
        assert float((await fleet_state(redis_client, prefix))["mrate"]) == pytest.approx(50.0)
    finally:
        await backend.aclose()
