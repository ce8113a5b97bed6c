"""The limiter against the real sandbox over HTTP (50 requests/s, burst 10). Small counts: the
long runs are in benchmarks/ratelimit.py."""

from __future__ import annotations

import math
import time

import anyio
import pytest

from asyncapi_client import AsyncClient, RateLimit, RetryPolicy
from asyncapi_sandbox import Sandbox
from tests.support.sandbox_token import bearer


async def hammer(client: AsyncClient, n: int, concurrency: int) -> dict[int, int]:
    statuses: dict[int, int] = {}
    jobs = iter(range(n))

    async def worker() -> None:
        for _ in jobs:
            response = await client.send(client.build_request("GET", "/api/v1/users/me"))
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    async with anyio.create_task_group() as tg:
        for _ in range(concurrency):
            tg.start_soon(worker)
    return statuses


@pytest.mark.parametrize("config", [RateLimit(rate=50, burst=10), RateLimit()], ids=["configured", "learned"])
async def test_paces_to_the_sandbox_without_429s(config: RateLimit) -> None:
    async with Sandbox(rate=50, burst=10) as sb:
        async with AsyncClient(
            sb.base_url,
            auth=await bearer(sb),
            rate_limit=config,
            retry=RetryPolicy(max_attempts=1),
            allow_insecure_http=True,
        ) as client:
            n = 110
            statuses = await hammer(client, n, concurrency=16)
            stats = await sb.stats()
            status = client.rate_limit_status()
        # The bound: at most 1% answered 429 (here: 1 of 110; typically none).
        assert stats["rate_limited"] <= n // 100
        assert statuses.get(200, 0) + statuses.get(429, 0) == n
        assert statuses.get(429, 0) == stats["rate_limited"]
        # (How close to 50/s it runs is a figure, not an assertion: benchmarks/ratelimit.py.)
        assert status.limit == 10
        assert status.remaining is not None and 0 <= status.remaining <= 10
        assert status.reset is not None and math.isclose(status.reset, time.time(), abs_tol=3)


async def test_without_the_limiter_the_sandbox_answers_429() -> None:
    """The control: the same load with no limiter spends most of itself on 429s."""
    async with (
        Sandbox(rate=50, burst=10) as sb,
        AsyncClient(
            sb.base_url,
            auth=await bearer(sb),
            retry=RetryPolicy(max_attempts=1),
            allow_insecure_http=True,
        ) as client,
    ):
        statuses = await hammer(client, 60, concurrency=16)
        assert statuses.get(429, 0) >= 20
        assert client.stats().rate_limited == statuses[429]
        assert client.rate_limit_status().limit == 10
