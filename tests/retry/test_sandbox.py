"""Retries against the real sandbox over HTTP: 20% of replies 5xx and 2% of connections dropped.

A POST that is dropped *after* the sandbox made the record is the case idempotency keys exist
for: the retry carries the same key and gets the first reply back instead of a second record.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from asyncapi_client import AsyncClient, RetryPolicy, Timeout, User
from asyncapi_sandbox import Sandbox
from tests.support.sandbox_token import bearer

pytestmark = pytest.mark.slow

# A thousand tasks at once queue for the transport's 100 connections, and that wait counts
# against each attempt's timeout: give them room, this is not a latency test.
TIMEOUT = Timeout(total=120.0, attempt=60.0)


def fast(max_attempts: int, budget: int | None = 500) -> RetryPolicy:
    """Quick backoff: these tests are about what gets retried, not about waiting."""
    return RetryPolicy(max_attempts=max_attempts, budget=budget, backoff_base=0.005, backoff_max=0.05)


async def client_for(sb: Any, policy: RetryPolicy) -> AsyncClient:
    return AsyncClient(sb.base_url, auth=await bearer(sb), retry=policy, timeout=TIMEOUT)


def server_errors(stats: dict[str, Any]) -> int:
    return sum(n for status, n in stats["responses_by_status"].items() if int(status) >= 500)


@pytest.fixture
async def flaky() -> AsyncIterator[Any]:
    async with Sandbox(fail_rate=0.2, drop_rate=0.02) as sb:
        yield sb


async def run_all(n: int, call: Any) -> list[Any]:
    results: list[Any] = [None] * n

    async def one(i: int) -> None:
        results[i] = await call(i)

    async with anyio.create_task_group() as tg:
        for i in range(n):
            tg.start_soon(one, i)
    return results


async def test_a_thousand_gets_all_succeed(flaky: Any) -> None:
    async with await client_for(flaky, fast(10)) as client:
        before = await flaky.stats()
        pages = await run_all(1000, lambda i: client.projects.list_page(page=i % 10 + 1, limit=10))
        after = await flaky.stats()
        stats = client.stats()
    assert all(len(page.data) == 10 for page in pages)
    # The faults really happened, and each one cost a retry.
    failures = server_errors(after) - server_errors(before)
    drops = after["faults"]["drop"] - before["faults"]["drop"]
    assert failures > 100 and drops > 0
    assert stats.retries == failures + drops
    assert stats.attempts == 1000 + stats.retries


async def test_a_thousand_concurrent_creates_make_exactly_a_thousand_records(flaky: Any) -> None:
    async with await client_for(flaky, fast(10)) as client:
        before = await flaky.stats()
        users: list[User] = await run_all(
            1000, lambda i: client.users.create(f"Retry User {i}", f"retry-{i}@example.com")
        )
        after = await flaky.stats()
        # Every record, read back: each email exactly once.
        emails: list[str] = []
        page = 1
        while True:
            listing = await client.users.list_page(page=page, limit=100)
            emails.extend(u.email for u in listing.data)
            if not listing.data:
                break
            page += 1
        stats = client.stats()
    assert after["users_created"] - before["users_created"] == 1000
    assert after.get("duplicate_creates", 0) == before.get("duplicate_creates", 0)
    assert len({u.id for u in users}) == 1000
    assert sorted(u.email for u in users) == sorted(f"retry-{i}@example.com" for i in range(1000))
    created = [e for e in emails if e.startswith("retry-")]
    assert len(created) == 1000 and len(set(created)) == 1000
    # Drops of a POST happen after the record is made: those retries were replays, not creates.
    drops = after["faults"]["drop"] - before["faults"]["drop"]
    assert drops > 0 and after["idempotent_replays"] - before["idempotent_replays"] >= 1
    assert stats.retries > 100


async def test_the_budget_stops_a_retry_storm() -> None:
    calls, max_attempts, budget, cost = 300, 3, 500, 5
    async with Sandbox(fail_rate=1.0) as sb:
        async with await client_for(sb, fast(max_attempts, budget)) as c:
            before = await sb.stats()
            responses = await run_all(calls, lambda i: _raw(c))
            after = await sb.stats()
            stats = c.stats()
        # Without a budget the same calls would send calls * max_attempts = 900 requests. With it,
        # retries stop once the quota is spent: no 2xx ever refills it, so at most budget / cost.
        bound = calls + budget // cost
        seen = server_errors(after) - server_errors(before)
        assert all(r.status_code >= 500 for r in responses)
        assert seen == bound == 400
        assert after["requests_total"] - before["requests_total"] <= bound + 2  # + the stats call
        assert stats.retries == budget // cost
        assert c._shared.retry.budget_remaining == 0

        # The same storm without a budget, for comparison: every call retries to the end.
        async with await client_for(sb, fast(max_attempts, None)) as c:
            before = await sb.stats()
            await run_all(100, lambda i: _raw(c))
            after = await sb.stats()
        assert server_errors(after) - server_errors(before) == 100 * max_attempts


async def _raw(client: AsyncClient) -> Any:
    return await client.send(client.build_request("GET", "/api/v1/projects"))
