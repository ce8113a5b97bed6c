"""`with_options(retry=...)` and `retry=` on a pager or bulk job: their own attempts, the
client's budget. Against the sandbox answering every API call with a 5xx."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from asyncapi_client import AsyncClient, InternalServerError, RetryPolicy
from asyncapi_sandbox import Sandbox
from tests.support.sandbox_token import bearer

pytestmark = pytest.mark.anyio


def attempts(n: int) -> RetryPolicy:
    return RetryPolicy(max_attempts=n, backoff_base=0.0, backoff_max=0.0)


@pytest.fixture
def failing() -> Iterator[Sandbox]:
    with Sandbox(fail_rate=1.0) as sb:
        yield sb


async def server_errors(sb: Sandbox) -> int:
    stats: dict[str, Any] = await sb.stats()
    return sum(n for status, n in stats["responses_by_status"].items() if int(status) >= 500)


async def test_a_view_retries_by_its_own_policy(failing: Sandbox) -> None:
    async with AsyncClient(failing.base_url, auth=await bearer(failing), retry=attempts(3)) as client:
        with pytest.raises(InternalServerError):
            await client.projects.get(1)
        assert await server_errors(failing) == 3

        once = client.with_options(retry=attempts(1))
        with pytest.raises(InternalServerError):
            await once.projects.get(1)
        assert await server_errors(failing) == 4

        # A view of a view keeps the policy it was not told to change.
        with pytest.raises(InternalServerError):
            await once.with_options(timeout=30).projects.get(1)
        assert await server_errors(failing) == 5

        # And the client itself still has its own.
        with pytest.raises(InternalServerError):
            await client.projects.get(1)
        assert await server_errors(failing) == 8


async def test_views_draw_on_the_clients_budget(failing: Sandbox) -> None:
    policy = RetryPolicy(max_attempts=2, backoff_base=0.0, backoff_max=0.0, budget=500)
    async with AsyncClient(failing.base_url, auth=await bearer(failing), retry=policy) as client:
        view = client.with_options(retry=RetryPolicy(max_attempts=4, backoff_base=0.0, backoff_max=0.0))
        with pytest.raises(InternalServerError):
            await view.projects.get(1)
        assert await server_errors(failing) == 4
        assert client._shared.retry.budget_remaining == 500 - 3 * 5  # three retries, 5 tokens each


async def test_a_pager_and_a_bulk_job_take_their_own_policy(failing: Sandbox) -> None:
    async with AsyncClient(failing.base_url, auth=await bearer(failing), retry=attempts(1)) as client:
        pager = client.projects.list(limit=10, retry=attempts(4))
        with pytest.raises(InternalServerError):
            async with pager:
                async for _ in pager:
                    pass
        assert await server_errors(failing) == 4

        users = [{"name": f"u{i}", "email": f"u{i}@example.com"} for i in range(5)]
        result = await client.users.bulk_create(users, retry=attempts(3))
        assert sorted(result.failed) == [0, 1, 2, 3, 4]
        assert all(isinstance(e, InternalServerError) for e in result.failed.values())
        assert await server_errors(failing) == 4 + 3

        # A pager made from a view uses the view's policy without being told.
        pager = client.with_options(retry=attempts(2)).users.list(limit=10)
        with pytest.raises(InternalServerError):
            async with pager:
                async for _ in pager:
                    pass
        assert await server_errors(failing) == 7 + 2


def test_retry_must_be_a_policy() -> None:
    client = AsyncClient("http://127.0.0.1:1")
    with pytest.raises(TypeError, match=r"retry must be a RetryPolicy\(...\), got int"):
        client.with_options(retry=3)  # type: ignore[arg-type]
