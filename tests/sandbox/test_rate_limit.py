"""The per-token bucket: X-RateLimit-* on every authenticated reply, 429 + Retry-After past it."""

from __future__ import annotations

import math

import httpx
import pytest

from asyncapi_sandbox import Sandbox
from tests.support.gather import gather
from tests.support.sandbox_time import SandboxTime
from tests.support.sandbox_token import auth_headers

# On asyncio and on trio (the anyio_backend fixture in conftest.py).
pytestmark = pytest.mark.anyio


async def test_no_limit_headers_without_a_rate(api: httpx.AsyncClient) -> None:
    reply = await api.get("/api/v1/projects")
    assert reply.status_code == 200
    assert not any(name.startswith("x-ratelimit") for name in reply.headers)


async def test_limit_headers_count_down_then_429(
    sb: Sandbox, api: httpx.AsyncClient, sandbox_time: SandboxTime
) -> None:
    await sb.configure(rate=0.5, burst=3)
    seen = []
    for _ in range(3):
        reply = await api.get("/api/v1/users/me")
        assert reply.status_code == 200
        assert reply.headers["x-ratelimit-limit"] == "3"
        seen.append(int(reply.headers["x-ratelimit-remaining"]))
        reset = int(reply.headers["x-ratelimit-reset"])
        # Full again after (3 - tokens) / 0.5 seconds (the sandbox's clock stands still here).
        assert reset == math.ceil(sandbox_time.time() + (3 - seen[-1]) / 0.5)
    assert seen == [2, 1, 0]
    limited = await api.get("/api/v1/users/me")
    assert limited.status_code == 429
    error = limited.json()["error"]
    assert error["code"] == "RATE_LIMITED"
    assert 1 <= int(limited.headers["retry-after"]) <= 2  # one token at 0.5/s takes up to 2 s
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert limited.headers["x-ratelimit-limit"] == "3"
    # Errors are limited like anything else: a 404 also costs a token and carries the headers.
    missing = await api.get("/api/v1/projects/999999")
    assert missing.status_code == 429
    stats = await sb.stats()
    assert stats["rate_limited"] == 2
    assert stats["responses_by_status"]["429"] == 2


async def test_each_access_token_has_its_own_bucket(sb: Sandbox, api: httpx.AsyncClient) -> None:
    await sb.configure(rate=0.1, burst=1)
    assert (await api.get("/api/v1/users/me")).status_code == 200
    assert (await api.get("/api/v1/users/me")).status_code == 429
    other = await auth_headers(sb, api)
    assert (await api.get("/api/v1/users/me", headers=other)).status_code == 200


async def test_429s_under_concurrent_load(sb: Sandbox, api: httpx.AsyncClient) -> None:
    # A refill so slow that none happens during the test: exactly the burst gets through.
    await sb.configure(rate=0.01, burst=10)
    replies = await gather(*(api.get("/api/v1/projects") for _ in range(60)))
    ok = sum(r.status_code == 200 for r in replies)
    limited = [r for r in replies if r.status_code == 429]
    assert ok == 10
    assert len(limited) == 50
    # One token is 100 s away at 0.01/s.
    assert all(r.headers["retry-after"] == "100" for r in limited)
    assert (await sb.stats())["rate_limited"] == len(limited)


async def test_bucket_refills_at_rate(sb: Sandbox, api: httpx.AsyncClient, sandbox_time: SandboxTime) -> None:
    await sb.configure(rate=20, burst=1)
    assert (await api.get("/api/v1/users/me")).status_code == 200
    assert (await api.get("/api/v1/users/me")).status_code == 429
    sandbox_time.advance(0.04)  # less than one token at 20/s
    assert (await api.get("/api/v1/users/me")).status_code == 429
    sandbox_time.advance(0.1)  # 2 tokens' worth, capped at the burst of 1
    assert (await api.get("/api/v1/users/me")).status_code == 200


async def test_rate_without_burst_uses_ceil_rate(http: httpx.AsyncClient) -> None:
    async with Sandbox(rate=2.5) as sb:
        headers = await auth_headers(sb, http)
        reply = await http.get(sb.base_url + "/api/v1/users/me", headers=headers)
        assert reply.headers["x-ratelimit-limit"] == "3"
