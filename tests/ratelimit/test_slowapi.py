"""The default client against a third-party sliding-window limiter: slowapi on the `limits`
library (its `moving-window` strategy, a true sliding log, and its `fixed-window`), with
`headers_enabled=True`, guarding a small Starlette app of the test's own served by uvicorn.

slowapi tells `X-RateLimit-Reset` as Unix epoch seconds with a fraction (`reset_format="auto"`
must read it as epoch, not as a delta) and sends `Retry-After` on every answer, granted or not
(only a 429's may pause the client).

Counts only, from the server's side (a loaded machine moves the rate; the rate is
benchmarks/ratelimit.py's `slowapi` figure): every call succeeds and few requests are refused.
"""

from __future__ import annotations

import time

import anyio
import pytest

from asyncapi_client import AsyncClient, BearerToken
from asyncapi_client._ratelimit._headers import parse_rate_limit_headers
from tests.support.services import serving_asgi
from tests.support.slowapi_peer import SlowapiPeer

CALLS = 40
CONCURRENCY = 8


@pytest.mark.parametrize("strategy", ["moving-window", "fixed-window"])
async def test_default_client_against_slowapi(strategy: str) -> None:
    peer = SlowapiPeer("20/second", strategy)
    async with serving_asgi(peer.app) as url:
        ok = 0
        async with AsyncClient(url, auth=BearerToken("t"), allow_insecure_http=True) as client:
            calls = iter(range(CALLS))

            async def worker() -> None:
                nonlocal ok
                for _ in calls:
                    await client.users.me()  # any error fails the test
                    ok += 1

            async with anyio.create_task_group() as tg:
                for _ in range(CONCURRENCY):
                    tg.start_soon(worker)
            status = client.rate_limit_status()
            stats = client.stats()
    assert ok == CALLS
    assert peer.answered[200] == CALLS
    assert stats.rate_limited == peer.answered[429]
    # A few (about one per window of 20, when its slots come back before the Reset slowapi
    # tells); a client that did not pace would see most of its requests refused.
    assert peer.answered[429] <= CALLS // 10, peer.answered
    assert status.limit == 20


async def test_slowapis_reset_is_read_as_an_epoch() -> None:
    """Its Reset (epoch seconds with a fraction) read as such under `reset_format="auto"`:
    seconds away, not decades."""
    peer = SlowapiPeer("20/second", "moving-window")
    async with (
        serving_asgi(peer.app) as url,
        AsyncClient(url, rate_limit=None, allow_insecure_http=True) as client,
    ):
        sent_wall = time.time()  # before the server reads its clock: its Reset is later than this
        response = await client.send(client.build_request("GET", "/api/v1/users/me"))
        status = client.rate_limit_status()
    assert "." in response.headers["x-ratelimit-reset"]
    info = parse_rate_limit_headers(response.headers, sent_wall)
    assert info is not None and info.limit == 20 and info.remaining == 19
    # Seconds away, not decades (a delta misread) nor past (milliseconds misread); the upper
    # bound is loose so that a stalled machine cannot fail it.
    assert info.reset_after is not None and 0 < info.reset_after < 60
    assert status.reset == pytest.approx(float(response.headers["x-ratelimit-reset"]), abs=0.01)
