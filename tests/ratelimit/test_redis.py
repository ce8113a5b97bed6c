"""The Redis-backed shared bucket against a real redis-server (the `redis_server_url` fixture)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import anyio
import pytest
import redis.asyncio as aioredis

from asyncapi_client import AsyncClient, MockTransport, RateLimit, Response, RetryPolicy
from asyncapi_client._ratelimit import RateLimitBackend, RedisRateLimitBackend

pytestmark = pytest.mark.redis

PREFIX = "test:ratelimit:"


@pytest.fixture
async def backends(redis_server_url: str) -> AsyncIterator[list[RedisRateLimitBackend]]:
    """Three backends, as three processes would have, each with its own connection pool."""
    prefix = f"{PREFIX}{uuid.uuid4().hex}:"
    made = [RedisRateLimitBackend(redis_server_url, prefix=prefix) for _ in range(3)]
    yield made
    for backend in made:
        await backend.aclose()


async def test_instances_share_one_bucket(
    backends: list[RedisRateLimitBackend], redis_server_url: str
) -> None:
    rate, burst = 1.0, 3
    waits = []
    stamps = []  # the server time each reservation was made at (the script stores it as `ts`)
    inspect = aioredis.from_url(redis_server_url)
    key = backends[0]._prefix + "default"
    for i in range(9):
        wait = await backends[i % 3].acquire("default", rate=rate, burst=burst, max_wait=None)
        assert wait is not None
        waits.append(wait)
        stamps.append(float(await inspect.hget(key, "ts")))
    await inspect.aclose()
    # The burst is shared (3, not 3 per instance); then each reservation queues 1/rate behind the
    # one before. The wait is counted from the moment of the call, so the time the calls took
    # (by the server's own clock) is added back: the schedule itself is exact on any machine.
    assert waits[:3] == [0.0, 0.0, 0.0]
    for k, (wait, stamp) in enumerate(zip(waits[3:], stamps[3:], strict=True), start=1):
        assert wait + (stamp - stamps[0]) == pytest.approx(k / rate, abs=1e-3)


async def test_refused_reservation_takes_nothing(backends: list[RedisRateLimitBackend]) -> None:
    a, b, _ = backends
    assert await a.acquire("k", rate=1.0, burst=1, max_wait=None) == 0.0
    assert await b.acquire("k", rate=1.0, burst=1, max_wait=0.5) is None  # would wait ~1 s
    wait = await b.acquire("k", rate=1.0, burst=1, max_wait=2.0)
    assert wait == pytest.approx(1.0, abs=0.05)  # the refused one did not queue


async def test_release_gives_the_token_back(backends: list[RedisRateLimitBackend]) -> None:
    a, b, _ = backends
    await a.acquire("k", rate=1.0, burst=1, max_wait=None)
    queued = await a.acquire("k", rate=1.0, burst=1, max_wait=None)
    assert queued == pytest.approx(1.0, abs=0.05)
    await a.release("k", rate=1.0, burst=1)  # that waiter was cancelled
    wait = await b.acquire("k", rate=1.0, burst=1, max_wait=None)
    assert wait == pytest.approx(1.0, abs=0.05)  # its place, not 2 s


async def test_pause_is_shared(backends: list[RedisRateLimitBackend]) -> None:
    a, b, _ = backends
    await a.pause("k", 5.0, rate=100.0, burst=10)
    wait = await b.acquire("k", rate=100.0, burst=10, max_wait=None)
    assert wait == pytest.approx(5.0, abs=0.05)


async def test_state_is_on_the_redis_clock(
    redis_server_url: str, backends: list[RedisRateLimitBackend]
) -> None:
    await backends[0].acquire("clock", rate=5.0, burst=2, max_wait=None)
    client = aioredis.from_url(redis_server_url)
    try:
        keys = [k async for k in client.scan_iter(match=f"{PREFIX}*clock")]
        assert len(keys) == 1
        raw = await client.hget(keys[0], "ts")
        assert raw is not None
        ts = float(raw)
        seconds, micros = await client.time()
        assert abs((seconds + micros / 1e6) - ts) < 1.0
        assert 0 < await client.pttl(keys[0]) <= 2000  # idle keys expire
    finally:
        await client.aclose()


async def test_garbage_backend_value_rejected() -> None:
    with pytest.raises(TypeError):
        RedisRateLimitBackend(42)
    assert isinstance(RedisRateLimitBackend("redis://127.0.0.1:1/0"), RateLimitBackend)


async def test_clients_pace_together_through_the_middleware(redis_server_url: str) -> None:
    prefix = f"{PREFIX}{uuid.uuid4().hex}:"
    clients = [
        AsyncClient(
            "https://api.example.com",
            transport=MockTransport(lambda r: Response(200, {}, b"{}"), record=False),
            rate_limit=RateLimit(
                rate=200, burst=2, backend=RedisRateLimitBackend(redis_server_url, prefix=prefix)
            ),
            retry=RetryPolicy(max_attempts=1),
        )
        for _ in range(3)
    ]

    async def call(client: AsyncClient) -> None:
        await client.send(client.build_request("GET", "/x"))

    async with anyio.create_task_group() as tg:
        for i in range(30):
            tg.start_soon(call, clients[i % 3])
    waited = sum(c.stats().limiter_wait_seconds for c in clients)
    # 30 reservations on one bucket of burst 2 at 200/s queue up: waits 1/200 ... 28/200 (2.03 s
    # in all, less the time the round trips themselves took). Three separate buckets of burst 2
    # would wait 3 x (1 + ... + 8)/200 = 0.54 s.
    assert 1.0 < waited <= sum(k / 200 for k in range(1, 29)) + 1e-6
    assert all(c.rate_limit_status().shared for c in clients)
    for client in clients:
        await client.aclose()


async def test_cancelled_waiter_releases_its_reservation(redis_server_url: str) -> None:
    prefix = f"{PREFIX}{uuid.uuid4().hex}:"
    backend = RedisRateLimitBackend(redis_server_url, prefix=prefix)
    client = AsyncClient(
        "https://api.example.com",
        transport=MockTransport(lambda r: Response(200, {}, b"{}"), record=False),
        rate_limit=RateLimit(rate=1, burst=1, backend=backend),
        retry=RetryPolicy(max_attempts=1),
    )
    await client.send(client.build_request("GET", "/x"))  # takes the only token
    with anyio.move_on_after(0.05):
        await client.send(client.build_request("GET", "/x"))  # reserves the next, then cancelled
    other = RedisRateLimitBackend(redis_server_url, prefix=prefix)
    wait = await other.acquire("default", rate=1.0, burst=1, max_wait=None)
    assert wait is not None and wait < 1.0  # the cancelled reservation was given back
    await other.aclose()
    await client.aclose()
