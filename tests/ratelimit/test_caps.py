"""Every pause a server sets is capped (`RateLimit.max_pause`, `RedisRateLimitBackend(max_pause)`):
Retry-After in seconds and as a date, X-RateLimit-Reset and the IETF reset with nothing left,
on a 429 and a 503; in this process (virtual time, exact) and in the shared Redis state, its
expiry and a fresh process reading it (a real redis-server)."""

from __future__ import annotations

import email.utils
import json
import sys
import uuid
from collections.abc import Callable

import anyio
import pytest
import redis.asyncio as aioredis

from asyncapi_client import (
    APIError,
    APITimeoutError,
    AsyncClient,
    MockTransport,
    RateLimit,
    RateLimitError,
    Request,
    Response,
    Timeout,
)
from asyncapi_client._ratelimit import RedisRateLimitBackend
from tests.support.virtual_time import VirtualClock, virtual_time

URL = "https://api.example.com"
ENVELOPE = {"error": {"code": "RATE_LIMITED", "message": "slow down", "details": {}}}
USER = {"id": 1, "name": "Ada", "email": "ada@example.com", "created_at": "2024-01-01T00:00:00Z"}

Hostile = Callable[[VirtualClock], Response]


def retry_after_seconds(clock: VirtualClock) -> Response:
    return Response.json_response(429, ENVELOPE, {"retry-after": "1000000000"})


def retry_after_date(clock: VirtualClock) -> Response:
    far = email.utils.formatdate(clock.time() + 10**9, usegmt=True)
    return Response.json_response(429, ENVELOPE, {"retry-after": far})


def retry_after_on_503(clock: VirtualClock) -> Response:
    return Response.json_response(
        503, {"error": {"code": "UNAVAILABLE", "message": "x"}}, {"retry-after": "1000000000"}
    )


def x_ratelimit_reset(clock: VirtualClock) -> Response:
    # Nothing left until a Reset 23 hours away (within a day: learned from, and obeyed capped).
    reset = str(int(clock.time() + 23 * 3600))
    return Response.json_response(
        429, ENVELOPE, {"x-ratelimit-limit": "10", "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
    )


def ietf_reset(clock: VirtualClock) -> Response:
    return Response.json_response(
        429, ENVELOPE, {"ratelimit": '"default";r=0;t=82800', "ratelimit-policy": '"default";q=100;w=86400'}
    )


# (answer, whether the server itself said how long: Retry-After; a Reset with a token bucket's
# refill under way is the time to *full*, and the limiter's own estimate says when one is back)
HOSTILE = {
    "retry-after-seconds": (retry_after_seconds, True),
    "retry-after-date": (retry_after_date, True),
    "retry-after-on-503": (retry_after_on_503, True),
    "x-ratelimit-reset": (x_ratelimit_reset, False),
    "ietf-reset": (ietf_reset, True),
}


@pytest.mark.parametrize(("answer", "said"), list(HOSTILE.values()), ids=list(HOSTILE))
async def test_a_huge_server_pause_holds_for_max_pause_only(answer: Hostile, said: bool) -> None:
    """One answer asks for a pause of years (or hours): the call that got it fails; the pause
    the limiter obeys is max_pause; a call during it whose deadline comes first fails without
    being sent (at once when the server said how long), one that can outlast it waits for it,
    and a call after it goes."""
    with virtual_time() as clock:
        answers = iter([answer(clock)])

        def handler(request: Request) -> Response:
            return next(answers, None) or Response.json_response(200, USER)

        transport = MockTransport(handler)
        client = AsyncClient(URL, transport=transport, clock=clock, rate_limit=RateLimit(max_pause=30))
        start = clock.monotonic()
        with pytest.raises(APIError):
            # The retry layer will not sleep through a Retry-After past max_retry_after (60 s):
            # the call ends at once with the 429 (or the 503). Without a Retry-After its retry
            # meets the limiter's pause, which the 20 s deadline does not outlast.
            await client.with_options(timeout=20).users.me()
        sent = len(transport.requests)
        assert clock.monotonic() - start <= 20
        assert 0 < client.rate_limit_status().paused_for <= 30

        hurried = client.with_options(timeout=Timeout(total=5))
        before = clock.monotonic()
        with pytest.raises(APITimeoutError, match="rate limiter") as info:
            await hurried.users.me()
        assert info.value.request_sent is False and len(transport.requests) == sent
        if said:
            assert "a pause the server set" in str(info.value)
            assert clock.monotonic() == before  # at once
        else:
            assert clock.monotonic() - before == pytest.approx(5)  # until its deadline

        patient = client.with_options(timeout=Timeout(total=120))
        assert (await patient.users.me()).name == "Ada"
        assert clock.monotonic() - start <= 30 + 1e-6  # waited out the capped pause, no longer

        await anyio.sleep(5)
        before = clock.monotonic()
        assert (await client.users.me()).name == "Ada"
        # After the pause: at once, or (when the headers taught a rate of 10 a day) within
        # max_pause, the longest anything the server said may hold a request back.
        assert clock.monotonic() - before <= 30 + 1e-6
        await client.aclose()


@pytest.mark.redis
async def test_the_shared_pause_and_its_expiry_are_capped(redis_server_url: str) -> None:
    """A 429 with Retry-After 10^9 through a shared bucket: the pause written to Redis ends
    within max_pause of the Redis clock, the key expires soon after, and a pause some other
    writer stored without a cap is cut to max_pause when read."""
    prefix = f"test:caps:{uuid.uuid4().hex}:"
    backend = RedisRateLimitBackend(redis_server_url, prefix=prefix, max_pause=2.0)
    answers = iter([retry_after_seconds(VirtualClock())])
    client = AsyncClient(
        URL,
        transport=MockTransport(lambda r: next(answers, None) or Response.json_response(200, USER)),
        rate_limit=RateLimit(rate=100, burst=10, backend=backend, max_pause=2.0),
    )
    raw = aioredis.from_url(redis_server_url)
    try:
        with pytest.raises(RateLimitError):
            await client.users.me()
        key = prefix + "default"
        seconds, micros = await raw.time()
        now = seconds + micros / 1e6
        paused = float(await raw.hget(key, "paused"))
        assert now < paused <= now + 2.0
        assert 0 < await raw.pttl(key) <= (2.0 + 10 / 100 + 1) * 1000

        # Another writer (an older client) stored a pause of 30 years.
        await raw.hset(key, mapping={"paused": repr(now + 10**9), "ts": repr(now), "tokens": "0"})
        wait = await backend.acquire("default", rate=100, burst=10, max_wait=None)
        assert wait is not None and wait <= 2.0 + 1e-3
        assert float(await raw.hget(key, "paused")) <= now + 2.0 + 1.0
        assert await raw.pttl(key) <= (2.0 + 10 / 100 + 1) * 1000 + 1000
    finally:
        await client.aclose()
        await raw.aclose()


_FRESH_PROCESS = """
import asyncio, json, sys
from asyncapi_client import AsyncClient, MockTransport, RateLimit, RedisRateLimitBackend, Response

USER = {"id": 1, "name": "Ada", "email": "ada@example.com", "created_at": "2024-01-01T00:00:00Z"}

async def main() -> None:
    backend = RedisRateLimitBackend(sys.argv[1], prefix=sys.argv[2], max_pause=float(sys.argv[3]))
    transport = MockTransport(lambda request: Response.json_response(200, USER))
    async with AsyncClient("https://api.example.com", transport=transport,
                           rate_limit=RateLimit(rate=100, burst=10, backend=backend)) as client:
        me = await client.users.me()
        print(json.dumps({"name": me.name, "waited": client.stats().limiter_wait_seconds}))

asyncio.run(main())
"""


@pytest.mark.redis
async def test_a_fresh_process_sharing_the_state_gets_through_after_the_cap(redis_server_url: str) -> None:
    """This process is told Retry-After 10^9 and its call fails; a process started afterwards
    on the same Redis state makes a call, which succeeds once the capped pause is over (the
    wait it reports is the one the Redis script handed out, never more than the cap)."""
    prefix = f"test:caps:{uuid.uuid4().hex}:"
    cap = 1.0
    backend = RedisRateLimitBackend(redis_server_url, prefix=prefix, max_pause=cap)
    answers = iter([retry_after_seconds(VirtualClock())])
    async with AsyncClient(
        URL,
        transport=MockTransport(lambda r: next(answers, None) or Response.json_response(200, USER)),
        rate_limit=RateLimit(rate=100, burst=10, backend=backend, max_pause=cap),
    ) as client:
        with pytest.raises(RateLimitError):
            await client.users.me()
    with anyio.fail_after(60):
        result = await anyio.run_process(
            [sys.executable, "-c", _FRESH_PROCESS, redis_server_url, prefix, str(cap)], check=True
        )
    report = json.loads(result.stdout)
    assert report["name"] == "Ada"
    assert report["waited"] <= cap
