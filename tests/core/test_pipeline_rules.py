"""The pipeline rules of docs/architecture.md, seen from outside: every attempt takes a limiter token, every
response (each retry's included) feeds the limiter, and a limiter refusal is not retried.
(The auth rules, the token valid at send time and one refresh + one replay on a 401, are in
tests/auth/test_oauth.py.)"""

from __future__ import annotations

import pytest

import asyncapi_client as sdk
from asyncapi_client import MockTransport, Request, Response
from asyncapi_client.testing import FakeClock
from tests.support.resources import PROJECT

pytestmark = pytest.mark.anyio



def scripted(statuses: list[int]) -> MockTransport:
    replies = iter(statuses)

    def handler(request: Request) -> Response:
        status = next(replies)
        if status == 200:
            return Response.json_response(200, PROJECT)
        code = "RATE_LIMITED" if status == 429 else "UNAVAILABLE"
        return Response.json_response(status, {"error": {"code": code, "message": "again"}})

    return MockTransport(handler)


async def test_every_attempt_takes_a_limiter_token() -> None:
    clock = FakeClock()
    transport = scripted([503, 503, 200])
    client = sdk.AsyncClient(
        "http://127.0.0.1:1",
        transport=transport,
        clock=clock,
        random=lambda: 0.5,
        timeout=None,
        rate_limit=sdk.RateLimit(rate=0.001, burst=100),
        retry=sdk.RetryPolicy(max_attempts=3),
    )
    async with client:
        await client.projects.get(1)
        tokens = client.rate_limit_status().tokens
    assert len(transport.requests) == 3
    # Three attempts, three tokens (the refill over the backoff sleeps is ~0.001/s).
    assert tokens == pytest.approx(97, abs=0.01)


async def test_every_retry_response_feeds_the_limiter() -> None:
    clock = FakeClock()
    client = sdk.AsyncClient(
        "http://127.0.0.1:1",
        transport=scripted([429, 429, 200]),
        clock=clock,
        random=lambda: 0.5,
        timeout=None,
        rate_limit=sdk.RateLimit(rate=10, burst=10),
        retry=sdk.RetryPolicy(max_attempts=3),
    )
    async with client:
        await client.projects.get(1)
        status = client.rate_limit_status()
    # Both 429s, including the retry's, reached the limiter and slowed the whole client.
    assert client.stats().rate_limited == 2
    assert status.rate_limited == 2
    assert status.adaptive_rate is not None and status.adaptive_rate < 10


async def test_a_limiter_refusal_is_not_retried() -> None:
    clock = FakeClock()
    transport = scripted([200] * 5)
    client = sdk.AsyncClient(
        "http://127.0.0.1:1",
        transport=transport,
        clock=clock,
        timeout=None,
        rate_limit=sdk.RateLimit(rate=0.01, burst=1, max_wait=1.0),
        retry=sdk.RetryPolicy(max_attempts=5),
    )
    async with client:
        await client.projects.get(1)  # spends the one token
        with pytest.raises(sdk.APITimeoutError, match="rate limiter would wait") as info:
            await client.projects.get(1)
    assert info.value.request_sent is False
    assert info.value.retryable is False
    assert len(transport.requests) == 1
    assert client.stats().retries == 0
