"""The pipeline's four rules (docs/architecture.md), seen from outside: (1) every attempt, the
401 replay included, takes a limiter token; (2) every attempt carries the access token valid
when it is sent, however long it waited in the limiter; (3) a 401 leads to one refresh and one
resend; (4) every response (each retry's and the 401 included) feeds the limiter. And a limiter
refusal is not retried. (More of the auth rules are in tests/auth.)"""

from __future__ import annotations

import anyio
import pytest

import asyncapi_client as sdk
from asyncapi_client import MockTransport, Request, Response
from asyncapi_client.testing import FakeClock
from tests.support.resources import PROJECT
from tests.support.virtual_time import VirtualClock, virtual_time

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
        with pytest.raises(sdk.APITimeoutError, match=r"rate limiter waited 1\.000s") as info:
            await client.projects.get(1)
    assert info.value.request_sent is False
    assert info.value.retryable is False
    assert len(transport.requests) == 1
    assert client.stats().retries == 0


TOKEN_URL = "https://auth.example.com/oauth/token"
# virtual_time() drives asyncio's loop: these run on asyncio only.
on_asyncio = pytest.mark.parametrize("anyio_backend", ["asyncio"])


class ExpiringTokens:
    """A token endpoint and an API on the virtual clock: each token lives `lifetime` seconds;
    the API answers 401 to a token that has expired when the request arrives (or is in
    `revoked`), 200 otherwise. Records each API request's token, its arrival and its verdict."""

    def __init__(self, clock: VirtualClock, lifetime: float) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.expiry: dict[str, float] = {}
        self.revoked: set[str] = set()
        self.token_requests = 0
        self.seen: list[tuple[str, float, int]] = []

    async def __call__(self, request: Request) -> Response:
        now = self.clock.monotonic()
        if request.url == TOKEN_URL:
            self.token_requests += 1
            token = f"tok-{self.token_requests}"
            self.expiry[token] = now + self.lifetime
            return Response.json_response(
                200, {"access_token": token, "token_type": "Bearer", "expires_in": self.lifetime}
            )
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        ok = now < self.expiry.get(token, -1.0) and token not in self.revoked
        status = 200 if ok else 401
        self.seen.append((token, now, status))
        if ok:
            return Response.json_response(200, PROJECT)
        return Response.json_response(401, {"error": {"code": "UNAUTHENTICATED", "message": "expired"}})


@on_asyncio
async def test_a_call_that_waits_long_in_the_limiter_leaves_with_a_token_valid_then() -> None:
    """Rule 2: tokens live 4 s; 20 calls queue in a limiter of 1 request/s, so the last waits
    ~19 s. The limiter waits before auth chooses the token: every request arrives with a
    valid token, no 401 happens at all, and a token is fetched once per lifetime, not per call."""
    with virtual_time() as clock:
        server = ExpiringTokens(clock, lifetime=4.0)
        auth = sdk.ClientCredentials(TOKEN_URL, "id", "secret", clock=clock)
        client = sdk.AsyncClient(
            "https://api.example.com",
            transport=MockTransport(server, record=False),
            auth=auth,
            clock=clock,
            timeout=None,
            rate_limit=sdk.RateLimit(rate=1, burst=1),
        )
        start = clock.monotonic()
        async with client, anyio.create_task_group() as tg:
            for _ in range(20):
                tg.start_soon(client.projects.get, 1)
        duration = clock.monotonic() - start
    assert len(server.seen) == 20 and all(status == 200 for _, _, status in server.seen)
    assert client.stats().limiter_wait_seconds >= 19 * 18 / 2  # they did wait, up to 19 s each
    assert server.token_requests <= duration / 4.0 + 1


@on_asyncio
async def test_the_401_replay_takes_a_limiter_token_and_its_own_fresh_token() -> None:
    """Rules 1-3: the server revokes the token in use; the 401 leads to one refresh and one
    resend, the resend takes a limiter token of its own (here a wait of 4 s at 0.25/s), and
    it waited for that token *before* the refresh, so the token it carries is the new one,
    still valid when it arrives; the 401 itself passed the limiter (rule 4: its
    X-RateLimit-Remaining is what the limiter last saw)."""
    with virtual_time() as clock:
        server = ExpiringTokens(clock, lifetime=3.0)
        auth = sdk.ClientCredentials(TOKEN_URL, "id", "secret", clock=clock)
        first = [True]

        async def handler(request: Request) -> Response:
            response = await server(request)
            if request.url != TOKEN_URL and first[0]:
                first[0] = False
                server.revoked.add(server.seen[-1][0])
                server.seen[-1] = (server.seen[-1][0], server.seen[-1][1], 401)
                return Response.json_response(
                    401,
                    {"error": {"code": "UNAUTHENTICATED", "message": "revoked"}},
                    {"x-ratelimit-limit": "100", "x-ratelimit-remaining": "42"},
                )
            return response

        client = sdk.AsyncClient(
            "https://api.example.com",
            transport=MockTransport(handler, record=False),
            auth=auth,
            clock=clock,
            timeout=None,
            rate_limit=sdk.RateLimit(rate=0.25, burst=1),
            retry=sdk.RetryPolicy(max_attempts=1),
        )
        async with client:
            start = clock.monotonic()
            await client.projects.get(1)
            elapsed = clock.monotonic() - start
            status = client.rate_limit_status()
    (first_token, _, first_status), (replay_token, replay_at, replay_status) = server.seen
    assert (first_status, replay_status) == (401, 200)
    assert replay_token != first_token and server.token_requests == 2  # one refresh
    assert elapsed == pytest.approx(4.0)  # the replay's own limiter token: 1 / 0.25 s
    assert replay_at < server.expiry[replay_token]
    assert status.remaining == 42 and status.limit == 100
    assert client.stats().attempts == 1  # one attempt, two sends: the retry layer saw one
