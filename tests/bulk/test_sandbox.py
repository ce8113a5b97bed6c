"""Bulk creation against the real sandbox over HTTP: per-item failures at the chunk edges,
conflicts with stored users, and faults and 429s with every index accounted for and no user
created twice (the sandbox's own counters)."""

from __future__ import annotations

from typing import Any

import pytest

from asyncapi_client import (
    AsyncClient,
    BadRequestError,
    BulkResult,
    ConflictError,
    RateLimit,
    RetryPolicy,
    Timeout,
)
from asyncapi_sandbox import Sandbox
from tests.support.sandbox_token import sandbox_client


async def client_for(sb: Any, **kwargs: Any) -> AsyncClient:
    kwargs.setdefault("timeout", Timeout(total=60.0, attempt=20.0))
    return await sandbox_client(sb, **kwargs)


def records(n: int, *, bad: set[int] = frozenset(), prefix: str = "bulk") -> list[dict[str, str]]:  # type: ignore[assignment]
    return [
        {
            "name": f"{prefix} {i}",
            "email": f"{prefix}-{i}@@nowhere" if i in bad else f"{prefix}{i}@example.com",
        }
        for i in range(n)
    ]


def assert_accounted(result: BulkResult, n: int) -> None:
    assert set(result.created) | set(result.failed) == set(range(n))
    assert not set(result.created) & set(result.failed)


async def users_total(sb: Any) -> int:
    """Users stored now (the seeded ones plus the client's own `me` user)."""
    return int((await sb.stats())["users_total"])


async def assert_no_duplicates(sb: Any, client: AsyncClient, result: BulkResult, seeded: int) -> None:
    stats = await sb.stats()
    assert stats["users_created"] == len(result.created)
    assert stats["duplicate_creates"] == 0
    assert stats["users_total"] == seeded + len(result.created)
    async with client.users.list(limit=100, prefetch=4) as pager:
        emails = [u.email async for u in pager]
    assert len(emails) == len(set(emails)) == seeded + len(result.created)
    assert {u.email for u in result.created.values()} <= set(emails)


async def test_bad_items_at_the_start_middle_and_end_of_chunks_and_conflicts() -> None:
    async with Sandbox(users=20, projects=0) as sb, await client_for(sb) as client:
        seeded = [u.email async for u in client.users.list()]
        assert len(seeded) == await users_total(sb)
        data = records(350, bad={0, 50, 99, 100, 101, 199, 349})
        data[150]["email"] = seeded[3]  # exists on the server
        data[260]["email"] = data[10]["email"]  # created earlier in this job
        data[300] = {"name": "no email"}  # fails client-side, never sent
        result = await client.users.bulk_create(data, chunk_size=100, concurrency=4)
        assert_accounted(result, 350)
        # 10 and 260 share an email: whichever chunk lands second conflicts (chunks run concurrently).
        duplicate = ({10, 260} & set(result.failed)).pop()
        assert {10, 260} - {duplicate} <= set(result.created)
        assert set(result.failed) == {0, 50, 99, 100, 101, 199, 349, 150, duplicate, 300}
        for index in (0, 50, 99, 100, 101, 199, 349):
            err = result.failed[index]
            assert isinstance(err, BadRequestError) and err.code == "INVALID_INPUT"
            assert err.details["field"] == "email"
        assert isinstance(result.failed[150], ConflictError) and result.failed[150].code == "CONFLICT"
        assert isinstance(result.failed[duplicate], ConflictError)
        for index, user in result.created.items():
            assert user.email == data[index]["email"] and user.name == data[index]["name"]
        await assert_no_duplicates(sb, client, result, len(seeded))


async def test_async_generator_of_users_streamed_in() -> None:
    async def source() -> Any:
        for record in records(450, prefix="gen"):
            yield record

    async with Sandbox(users=0, projects=0) as sb, await client_for(sb) as client:
        seen = 0
        async with client.users.bulk_create_iter(source(), chunk_size=100, concurrency=3) as outcomes:
            async for outcome in outcomes:
                assert outcome.ok, outcome.error
                seen += 1
        assert seen == 450
        assert (await sb.stats())["users_created"] == 450


@pytest.mark.slow
async def test_under_faults_every_index_is_accounted_for_and_nothing_is_created_twice() -> None:
    # 15% of replies 5xx, 2% of connections dropped (a POST's after the users were made), 2%
    # of bodies truncated (after processing): retries re-send with the same Idempotency-Key.
    policy = RetryPolicy(max_attempts=8, backoff_base=0.005, backoff_max=0.05, budget=None)
    sandbox = Sandbox(users=0, projects=0, fail_rate=0.15, drop_rate=0.02, truncate_rate=0.02, seed=7)
    async with sandbox as sb, await client_for(sb, retry=policy) as client:
        before = await users_total(sb)
        data = records(3000, bad={5, 1234, 2999}, prefix="fault")
        result = await client.users.bulk_create(data, chunk_size=50, concurrency=8)
        assert_accounted(result, 3000)
        assert set(result.failed) >= {5, 1234, 2999}
        stats = await sb.stats()
        assert stats["faults"] if isinstance(stats["faults"], int) else sum(stats["faults"].values())
        await sb.configure(fail_rate=0.0, drop_rate=0.0, truncate_rate=0.0)
        await assert_no_duplicates(sb, client, result, before)
        # With retries on, the faults cost nothing but time.
        assert set(result.failed) == {5, 1234, 2999}


@pytest.mark.slow
async def test_under_a_rate_limit_every_index_is_accounted_for() -> None:
    # The server allows 40 requests/s (burst 10); 16 chunks at a time overrun it, and 429s come
    # back with Retry-After. The limiter and the retry layer absorb them.
    policy = RetryPolicy(max_attempts=10, backoff_base=0.01, backoff_max=0.5, budget=None)
    sandbox = Sandbox(users=0, projects=0, rate=40, burst=10)
    async with sandbox as sb, await client_for(sb, retry=policy, rate_limit=RateLimit()) as client:
        before = await users_total(sb)
        data = records(2000, prefix="limited")
        result = await client.users.bulk_create(data, chunk_size=25, concurrency=16)
        assert_accounted(result, 2000)
        assert result.ok, next(iter(result.failed.values()))
        await sb.configure(rate=0, burst=0)
        await assert_no_duplicates(sb, client, result, before)
