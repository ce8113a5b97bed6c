"""The limiter through `AsyncClient`, on a mock transport in virtual time."""

from __future__ import annotations

import email.utils
import itertools
import math
from collections.abc import Awaitable, Callable
from typing import Union

import anyio
import pytest

from asyncapi_client import (
    APITimeoutError,
    AsyncClient,
    BearerToken,
    MockTransport,
    RateLimit,
    Request,
    Response,
    RetryPolicy,
)
from asyncapi_client._ratelimit import RateLimitStatus, token_partition_key
from asyncapi_client._ratelimit._adaptive import BETA
from tests.support.virtual_time import SimulatedServer, VirtualClock, virtual_time

URL = "https://api.example.com"
Handler = Callable[[Request], Union[Response, Awaitable[Response]]]


def make_client(
    clock: VirtualClock,
    handler: Handler,
    config: RateLimit | None,
    *,
    timeout: float | None = None,
    auth: BearerToken | None = None,
) -> tuple[AsyncClient, MockTransport]:
    transport = MockTransport(handler)
    client = AsyncClient(
        URL,
        transport=transport,
        rate_limit=config,
        clock=clock,
        retry=RetryPolicy(max_attempts=1),
        timeout=timeout,
        auth=auth,
    )
    return client, transport


async def get(client: AsyncClient) -> Response:
    return await client.send(client.build_request("GET", "/api/v1/users/me"))


def ok(**headers: str) -> Response:
    return Response(200, {k.replace("_", "-"): v for k, v in headers.items()}, b"{}")


async def test_configured_rate_paces_after_the_burst() -> None:
    with virtual_time() as clock:
        client, _transport = make_client(clock, lambda r: ok(), RateLimit(rate=10, burst=5))
        start = clock.monotonic()
        for _ in range(15):
            await get(client)
        # 5 at once, then one every 0.1 s.
        assert clock.monotonic() - start == pytest.approx(1.0)
        assert client.stats().limiter_wait_seconds == pytest.approx(1.0)
        status = client.rate_limit_status()
        assert isinstance(status, RateLimitStatus)
        assert status.rate == 10 and status.burst == 5 and status.limit is None


async def test_no_limiter_configured_never_waits_but_counts_429s() -> None:
    with virtual_time() as clock:
        client, _ = make_client(
            clock, lambda r: Response(429, {"retry-after": "30", "x-ratelimit-remaining": "0"}), None
        )
        start = clock.monotonic()
        for _ in range(3):
            await get(client)
        assert clock.monotonic() == start
        assert client.stats().rate_limited == 3
        assert client.rate_limit_status().remaining == 0


async def test_remaining_zero_pauses_until_epoch_reset() -> None:
    with virtual_time() as clock:
        reset = math.ceil(clock.time()) + 5

        def handler(request: Request) -> Response:
            return ok(x_ratelimit_remaining="0", x_ratelimit_reset=str(reset))

        client, _transport = make_client(clock, handler, RateLimit())
        await get(client)
        sent = clock.time()
        await get(client)
        # The second request waited for Reset instead of spending itself on a 429.
        assert clock.time() == pytest.approx(reset)
        assert reset - sent > 4
        status = client.rate_limit_status()
        assert status.remaining == 0 and status.reset == pytest.approx(reset)


async def test_remaining_zero_pauses_for_delta_reset() -> None:
    with virtual_time() as clock:
        client, _ = make_client(
            clock, lambda r: ok(x_ratelimit_remaining="0", x_ratelimit_reset="3"), RateLimit()
        )
        await get(client)
        start = clock.monotonic()
        await get(client)
        assert clock.monotonic() - start == pytest.approx(3.0)


async def test_empty_token_bucket_waits_for_one_token_not_the_full_reset() -> None:
    """Limit 10, Remaining 0, full again in 3 s: the bucket refills at >= 9/3 per second, so the
    next token (plus the one-token reserve) is due in 2/3 s, well before Reset."""
    with virtual_time() as clock:
        client, _ = make_client(
            clock,
            lambda r: ok(x_ratelimit_limit="10", x_ratelimit_remaining="0", x_ratelimit_reset="3"),
            RateLimit(),
        )
        await get(client)
        start = clock.monotonic()
        await get(client)
        assert 0 < clock.monotonic() - start <= 2 / 3 + 1e-9


async def test_a_429_before_reset_means_a_fixed_window_wait_for_reset() -> None:
    """GitHub-style headers look like ours but count a fixed window: a 429 on a request sent
    before Reset (because the bucket model expected a token back) teaches the partition to wait
    for Reset from then on."""
    with virtual_time() as clock:
        first_reset = clock.time() + 10
        calls: list[float] = []

        def handler(request: Request) -> Response:
            now = clock.time()
            calls.append(now)
            if now >= first_reset:
                return ok(
                    x_ratelimit_limit="10", x_ratelimit_remaining="9", x_ratelimit_reset=f"{now + 10:.0f}"
                )
            left = "9" if len(calls) == 1 else "0"
            return Response(
                429 if len(calls) > 2 else 200,
                {
                    "x-ratelimit-limit": "10",
                    "x-ratelimit-remaining": left,
                    "x-ratelimit-reset": f"{first_reset:.0f}",
                },
            )

        client, _ = make_client(clock, handler, RateLimit(adaptive=False))
        for _ in range(4):
            await get(client)
        assert calls[2] < first_reset  # the bucket model's guess: one 429...
        assert client.stats().rate_limited == 1
        assert calls[3] == pytest.approx(first_reset)  # ...and then it waited for Reset


async def test_ietf_fields_pause_too() -> None:
    with virtual_time() as clock:
        client, _ = make_client(
            clock,
            lambda r: ok(ratelimit='"default";r=0;t=7', ratelimit_policy='"default";q=100;w=60'),
            RateLimit(),
        )
        await get(client)
        start = clock.monotonic()
        await get(client)
        assert clock.monotonic() - start == pytest.approx(7.0)
        status = client.rate_limit_status()
        assert status.server_rate == pytest.approx(100 / 60)


async def test_ietf_policy_spreads_the_quota() -> None:
    with virtual_time() as clock:
        client, _ = make_client(
            clock,
            lambda r: ok(ratelimit='"d";r=50;t=60', ratelimit_policy='"d";q=100;w=60'),
            RateLimit(),
        )
        start = clock.monotonic()
        for _ in range(12):
            await get(client)
        # 100 per 60 s is about 1.7/s, with a burst of about 1 s worth: not 12 at once.
        assert clock.monotonic() - start > 4.0


@pytest.mark.parametrize("form", ["seconds", "http-date"])
async def test_retry_after_always_wins(form: str) -> None:
    with virtual_time() as clock:
        calls = []

        def handler(request: Request) -> Response:
            calls.append(clock.monotonic())
            if len(calls) == 1:
                value = "4" if form == "seconds" else email.utils.formatdate(clock.time() + 4, usegmt=True)
                # Remaining says 5 left: Retry-After still wins.
                return Response(429, {"retry-after": value, "x-ratelimit-remaining": "5"})
            return ok()

        client, _ = make_client(clock, handler, RateLimit(rate=100, burst=10))
        await get(client)
        await get(client)
        assert calls[1] - calls[0] >= 4.0 - 1.0  # an HTTP-date has whole seconds
        assert calls[1] - calls[0] == pytest.approx(4.0, abs=1.0)
        assert client.stats().rate_limited == 1


async def test_retry_after_pauses_concurrent_callers() -> None:
    with virtual_time() as clock:
        first = [True]
        sent: list[float] = []

        async def handler(request: Request) -> Response:
            sent.append(clock.monotonic())
            if first[0]:
                first[0] = False
                return Response(429, {"retry-after": "2"})
            return ok()

        client, _ = make_client(clock, handler, RateLimit(rate=1000, burst=100))
        start = clock.monotonic()
        await get(client)
        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(get, client)
        assert all(t - start >= 2.0 for t in sent[1:])


async def test_garbage_headers_are_ignored() -> None:
    with virtual_time() as clock:
        client, _ = make_client(
            clock,
            lambda r: ok(
                x_ratelimit_limit="lots",
                x_ratelimit_remaining="-4",
                x_ratelimit_reset="whenever",
                retry_after="later",
                ratelimit='"x;;r=',
            ),
            RateLimit(),
        )
        start = clock.monotonic()
        for _ in range(5):
            assert (await get(client)).status_code == 200
        assert clock.monotonic() == start


async def test_429_cuts_the_rate_and_it_recovers() -> None:
    with virtual_time() as clock:
        fail = [False]

        def handler(request: Request) -> Response:
            return Response(429) if fail[0] else ok()

        client, _ = make_client(clock, handler, RateLimit(rate=10, burst=1))
        for _ in range(20):  # two seconds at the configured 10/s
            await get(client)
        fail[0] = True
        await get(client)
        fail[0] = False
        status = client.rate_limit_status()
        assert status.rate == pytest.approx(10 * BETA)  # multiplicative decrease
        assert status.rate_limited == 1
        # The whole client slows: the next calls are spaced at 1/8 s, not 1/10 s.
        t0 = clock.monotonic()
        await get(client)
        await get(client)
        # (the bucket was empty after the 429: two tokens at ~8/s, versus 0.2 s at 10/s)
        assert 0.2 < clock.monotonic() - t0 < 2 / (10 * BETA) + 1e-9
        # CUBIC: back to 10/s after K = cbrt(10 * (1 - BETA) / 0.4) ~ 1.7 s of successes.
        for _ in range(40):
            await get(client)
        status = client.rate_limit_status()
        assert status.rate == 10 and status.adaptive_rate is None


async def test_repeated_429s_keep_cutting() -> None:
    """Each 429 here answers a request sent after the last cut: each is a congestion event."""
    with virtual_time() as clock:
        fail = [False]
        client, _ = make_client(
            clock, lambda r: Response(429) if fail[0] else ok(), RateLimit(rate=10, burst=1)
        )
        for _ in range(20):
            await get(client)
        fail[0] = True
        rates = []
        for _ in range(4):
            await get(client)
            rates.append(client.rate_limit_status().rate)
        assert rates[0] == pytest.approx(10 * BETA)
        assert all(b < a for a, b in itertools.pairwise(rates))


async def test_a_burst_of_429s_in_flight_together_cuts_once() -> None:
    """64 requests leave at once; the server takes 10 and answers the other 54 with 429: one
    congestion event, one cut (BETA x the 64/s sent), not 54 of them (BETA^54)."""
    with virtual_time() as clock:
        accepted = [0]

        async def handler(request: Request) -> Response:
            await anyio.sleep(0.01)  # all 64 are in flight together
            if accepted[0] < 10:
                accepted[0] += 1
                return ok()
            return Response(429)

        client, _ = make_client(clock, handler, RateLimit(respect_headers=False))
        async with anyio.create_task_group() as tg:
            for _ in range(64):
                tg.start_soon(get, client)
        status = client.rate_limit_status()
        assert status.rate_limited == 54
        congestion = client._shared.limiter._partitions.default.estimator.congestion
        assert congestion.events == 1
        assert congestion.cubic is not None and congestion.cubic.w_max == 64


async def test_token_partitions_are_independent() -> None:
    with virtual_time() as clock:
        sent: dict[str, list[float]] = {"a": [], "b": []}

        def handler(request: Request) -> Response:
            who = request.headers["authorization"][-1]
            sent[who].append(clock.monotonic())
            if who == "a" and len(sent["a"]) == 1:
                return Response(429, {"retry-after": "10"})
            return ok()

        client, _ = make_client(clock, handler, RateLimit(rate=100, burst=10, partition="token"))
        a = client.with_options(auth=BearerToken("secret-token-a"))
        b = client.with_options(auth=BearerToken("secret-token-b"))
        start = clock.monotonic()
        await get(a)
        await get(b)
        await get(b)
        assert all(t == start for t in sent["b"])  # b is not paused by a's 429
        await get(a)
        assert sent["a"][1] - start == pytest.approx(10.0)
        status = client.rate_limit_status()
        assert status.partitions == 3  # default + two tokens
        limiter = client._shared.limiter
        keys = list(limiter._partitions)
        assert all("secret" not in key for key in keys)
        key_a = token_partition_key(Request("GET", URL, {"authorization": "Bearer secret-token-a"}))
        assert key_a in keys
        assert limiter.status(key_a).rate_limited == 1


async def test_callable_partition_and_lru_bound() -> None:
    with virtual_time() as clock:
        config = RateLimit(rate=100, burst=1, partition=lambda r: r.headers.get("x-tenant"), max_partitions=3)
        client, _ = make_client(clock, lambda r: ok(), config)
        for tenant in ["t1", "t2", "t3", "t4", "t5"]:
            await client.send(client.build_request("GET", "/x", headers={"x-tenant": tenant}))
        limiter = client._shared.limiter
        assert len(limiter._partitions) == 3
        assert "default" in limiter._partitions and "t5" in limiter._partitions
        assert "t1" not in limiter._partitions


async def test_deadline_raises_at_once_instead_of_sleeping_past_it() -> None:
    with virtual_time() as clock:
        client, transport = make_client(
            clock, lambda r: Response(429, {"retry-after": "30"}), RateLimit(rate=10, burst=1), timeout=5.0
        )
        await get(client)
        start = clock.monotonic()
        with pytest.raises(APITimeoutError, match="rate limiter would wait"):
            await get(client)
        assert clock.monotonic() == start
        assert len(transport.requests) == 1


async def test_max_wait() -> None:
    with virtual_time() as clock:
        client, _ = make_client(clock, lambda r: ok(), RateLimit(rate=1, burst=1, max_wait=0.5))
        await get(client)
        with pytest.raises(APITimeoutError, match="max_wait"):
            await get(client)


async def test_first_request_probes_alone() -> None:
    with virtual_time() as clock:
        inflight = [0]
        peak: list[int] = []

        async def handler(request: Request) -> Response:
            inflight[0] += 1
            peak.append(inflight[0])
            await anyio.sleep(0.01)
            inflight[0] -= 1
            return ok(x_ratelimit_limit="3", x_ratelimit_remaining="2", x_ratelimit_reset="1")

        client, _ = make_client(clock, handler, RateLimit())
        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(get, client)
        assert peak[0] == 1 and peak[1] == 1  # nobody went with the probe


async def test_a_probe_that_never_leaves_hands_over() -> None:
    """The probe times out in the limiter (before sending): the next waiter probes instead of
    everyone waiting forever."""
    with virtual_time() as clock:
        client, transport = make_client(
            clock, lambda r: ok(x_ratelimit_limit="5", x_ratelimit_remaining="4"), RateLimit(rate=1, burst=1)
        )
        client._shared.limiter._partitions.default.bucket.pause_until(clock.monotonic() + 10)
        hurried = client.with_options(timeout=1.0)
        results: list[str] = []

        async def call(c: AsyncClient, name: str) -> None:
            try:
                await get(c)
                results.append(name)
            except APITimeoutError:
                results.append(name + " timed out")

        async with anyio.create_task_group() as tg:
            tg.start_soon(call, hurried, "probe")
            await anyio.sleep(0.001)
            tg.start_soon(call, client, "patient")
        assert results == ["probe timed out", "patient"]
        assert len(transport.requests) == 1


@pytest.mark.parametrize("config", [RateLimit(rate=50, burst=10), RateLimit()], ids=["configured", "learned"])
@pytest.mark.parametrize("reset_format", ["epoch", "delta"])
async def test_sustains_the_server_rate_without_429s(config: RateLimit, reset_format: str) -> None:
    with virtual_time() as clock:
        server = SimulatedServer(clock, rate=50, burst=10, reset_format=reset_format)
        client, _ = make_client(clock, server, config, auth=BearerToken("t"))
        n = 600
        jobs = iter(range(n))

        async def worker() -> None:
            for _ in jobs:
                await get(client)

        start = clock.monotonic()
        async with anyio.create_task_group() as tg:
            for _ in range(64):
                tg.start_soon(worker)
        rate = n / (clock.monotonic() - start)
        assert server.ok == n
        assert server.limited <= n // 100
        floor = 0.95 if reset_format == "epoch" or config.rate else 0.85
        assert rate >= floor * 50, rate
        assert rate <= 50 * 1.02 + 10 / (n / 50)


async def test_learns_the_server_rate_from_headers() -> None:
    with virtual_time() as clock:
        server = SimulatedServer(clock, rate=20, burst=10)
        client, _ = make_client(clock, server, RateLimit())
        for _ in range(400):
            await get(client)
        status = client.rate_limit_status()
        assert status.server_rate is not None
        assert 20 <= status.server_rate < 24


async def test_a_changed_limit_or_reset_is_seen_between_full_observations() -> None:
    """Most answers of a server with plenty left take the settled path (nothing but the sync),
    with Limit and Reset remembered as sent: a Remaining that moves, a new Reset and a new
    Limit still reach the status at the answer that tells them."""
    with virtual_time() as clock:
        base = math.ceil(clock.time())
        told = {"limit": "1000", "remaining": 999, "reset": str(base + 5)}

        def handler(request: Request) -> Response:
            told["remaining"] = int(told["remaining"]) - 1
            return ok(
                x_ratelimit_limit=str(told["limit"]),
                x_ratelimit_remaining=str(told["remaining"]),
                x_ratelimit_reset=str(told["reset"]),
            )

        client, _ = make_client(clock, handler, RateLimit())
        for _ in range(5):
            await get(client)
        status = client.rate_limit_status()
        assert (status.limit, status.remaining, status.reset) == (1000, 994, base + 5)
        told["reset"] = str(base + 9)
        await get(client)
        status = client.rate_limit_status()
        assert (status.limit, status.remaining, status.reset) == (1000, 993, base + 9)
        told["limit"] = "2000"
        await get(client)
        status = client.rate_limit_status()
        assert (status.limit, status.remaining, status.reset) == (2000, 992, base + 9)
        await get(client)
        assert client.rate_limit_status().remaining == 991


async def test_config_validation() -> None:
    with pytest.raises(ValueError, match="positive"):
        RateLimit(rate=0)
    with pytest.raises(ValueError, match="positive"):
        RateLimit(rate=-1)
    with pytest.raises(ValueError, match="positive"):
        RateLimit(rate=float("inf"))
    with pytest.raises(ValueError, match="at least 1"):
        RateLimit(rate=1, burst=0)
    with pytest.raises(TypeError):
        RateLimit(burst=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="reset_format"):
        RateLimit(reset_format="iso")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="partition"):
        RateLimit(partition="tenant")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_wait"):
        RateLimit(max_wait=-1)
    with pytest.raises(TypeError, match="backend"):
        RateLimit(rate=1, backend=object())  # type: ignore[arg-type]
