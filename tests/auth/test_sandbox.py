"""Against the real sandbox: short-lived tokens, many concurrent calls, several expiries."""

from __future__ import annotations

import math
import time
from typing import Any

import anyio
import pytest

from asyncapi_client import AsyncClient, ClientCredentials, RefreshToken, TokenSet
from tests.support.sandbox_token import token_reply

pytestmark = pytest.mark.slow


async def hammer(client: AsyncClient, *, workers: int, seconds: float) -> tuple[int, float]:
    """`workers` tasks calling users.me() back to back for `seconds`; returns (calls, the time
    the last call started)."""
    done = 0
    start = time.monotonic()
    last_start = 0.0

    async def worker() -> None:
        nonlocal done, last_start
        while (now := time.monotonic() - start) < seconds:
            last_start = max(last_start, now)
            await client.users.me()
            done += 1

    async with anyio.create_task_group() as tg:
        for _ in range(workers):
            tg.start_soon(worker)
    return done, last_start


@pytest.mark.parametrize("token_ttl", [2.0, 1.5])
async def test_concurrent_calls_across_several_expiries_make_one_token_request_per_expiry(
    token_ttl: float,
) -> None:
    from asyncapi_sandbox import Sandbox

    async with Sandbox(token_ttl=token_ttl) as sb:
        auth = ClientCredentials(sb.token_url, sb.client_id, sb.client_secret)
        async with AsyncClient(sb.base_url, auth=auth) as client:
            calls, last_start = await hammer(client, workers=20, seconds=4.2)
        stats = await sb.stats()
    requests = stats["token_requests"]["client_credentials"]
    assert calls > 100
    assert requests == auth.refresh_count
    # The sandbox states expires_in rounded down to whole seconds (1 for a 1.5 s token), so the
    # client refreshes ahead, at 0.9 of the announced lifetime (the 30 s margin capped to a tenth
    # of it), and no call ever needs a 401 to learn of expiry.
    # Each period also takes the time from expiry to the next call and the token request's round
    # trip: up to 0.3 s on a loaded 2-core machine.
    period = int(token_ttl) * 0.9
    context = (requests, last_start, stats["responses_by_status"])
    low = math.floor(last_start / (period + 0.3)) + 1
    assert low <= requests <= math.floor(last_start / period) + 1, context
    # Only a call still in flight when its token expires may see a 401 (and is replayed).
    assert stats["responses_by_status"].get("401", 0) <= calls // 100, context


async def test_refresh_token_rotation_across_expiries_against_the_sandbox() -> None:
    from asyncapi_sandbox import Sandbox

    async with Sandbox(token_ttl=1.0) as sb:
        first_refresh = (await token_reply(sb))["refresh_token"]
        received: list[TokenSet] = []

        def persist(token_set: TokenSet) -> None:
            received.append(token_set)

        auth: Any = RefreshToken(
            sb.token_url, sb.client_id, first_refresh, client_secret=sb.client_secret, on_token=persist
        )
        async with AsyncClient(sb.base_url, auth=auth) as client:
            await hammer(client, workers=10, seconds=3.2)
        stats = await sb.stats()
    # Every refresh used the previous rotation (the sandbox accepts a refresh token once).
    assert stats["token_requests"]["refresh_token"] == len(received) == auth.refresh_count >= 3
    assert stats["token_errors"] == 0
    rotated = [t.refresh_token.get() for t in received if t.refresh_token]
    assert len(set(rotated)) == len(received) and first_refresh not in rotated
    assert auth.refresh_token.get() == rotated[-1]
