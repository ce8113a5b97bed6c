"""Against the real sandbox: short-lived tokens, many concurrent calls, several expiries."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from asyncapi_client import AsyncClient, ClientCredentials, RefreshToken, TokenSet
from asyncapi_client.testing import FakeClock
from tests.support.sandbox_time import SandboxTime, freeze_sandbox_time
from tests.support.sandbox_token import token_reply

pytestmark = pytest.mark.slow


async def hammer(
    client: AsyncClient, clocks: tuple[FakeClock, SandboxTime], *, workers: int, steps: int
) -> int:
    """`workers` concurrent calls at each of `steps` instants `STEP` seconds apart, moving the
    client's clock and the sandbox's together between them (no real time: the expiries are the
    same on a loaded machine). The clients run without pacing (`rate_limit=None`): the limiter
    would sleep on the stand-in clock, which moves only between the steps."""
    for _ in range(steps):
        async with anyio.create_task_group() as tg:
            for _ in range(workers):
                tg.start_soon(client.users.me)
        for clock in clocks:
            clock.advance(STEP)


# A power of two: the instants are exact, so no refresh lands a step early or late by rounding.
STEP = 0.125


@pytest.mark.parametrize(("token_ttl", "expected"), [(2.0, 3), (1.5, 5)])
async def test_concurrent_calls_across_several_expiries_make_one_token_request_per_expiry(
    token_ttl: float, expected: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from asyncapi_sandbox import Sandbox

    sandbox_time = freeze_sandbox_time(monkeypatch)
    clock = FakeClock(sandbox_time.now)
    async with Sandbox(token_ttl=token_ttl) as sb:
        auth = ClientCredentials(sb.token_url, sb.client_id, sb.client_secret, clock=clock)
        async with AsyncClient(sb.base_url, auth=auth, clock=clock, rate_limit=None) as client:
            await hammer(client, (clock, sandbox_time), workers=20, steps=34)  # 4.25 s
        stats = await sb.stats()
    # The sandbox states expires_in rounded down to whole seconds (2, and 1 for a 1.5 s token),
    # and the client refreshes a token that short-lived (the 30 s margin is over a tenth of it)
    # when it expires: at the first step at or past 2 s (0, 2, 4: 3 tokens) or 1 s (0, 1, 2, 3,
    # 4: 5 tokens).
    assert stats["token_requests"]["client_credentials"] == auth.refresh_count == expected
    # Refreshed by its expiry every time: no call needed a 401 to learn of it.
    assert set(stats["responses_by_status"]) == {"200"}


async def test_refresh_token_rotation_across_expiries_against_the_sandbox(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from asyncapi_sandbox import Sandbox

    sandbox_time = freeze_sandbox_time(monkeypatch)
    clock = FakeClock(sandbox_time.now)
    async with Sandbox(token_ttl=1.0) as sb:
        first_refresh = (await token_reply(sb))["refresh_token"]
        received: list[TokenSet] = []

        def persist(token_set: TokenSet) -> None:
            received.append(token_set)

        auth: Any = RefreshToken(
            sb.token_url,
            sb.client_id,
            first_refresh,
            client_secret=sb.client_secret,
            on_token=persist,
            clock=clock,
        )
        async with AsyncClient(sb.base_url, auth=auth, clock=clock, rate_limit=None) as client:
            await hammer(client, (clock, sandbox_time), workers=10, steps=26)  # 3.25 s
        stats = await sb.stats()
    # Every refresh used the previous rotation (the sandbox accepts a refresh token once): the
    # first at the first call, then one each second (1 s tokens refreshed at 0.9 s).
    assert stats["token_requests"]["refresh_token"] == len(received) == auth.refresh_count == 4
    assert stats["token_errors"] == 0
    rotated = [t.refresh_token.get() for t in received if t.refresh_token]
    assert len(set(rotated)) == len(received) and first_refresh not in rotated
    assert auth.refresh_token.get() == rotated[-1]
