"""The retry layer through `AsyncClient` with a mock transport, a virtual clock and a scripted
random source: exact delays, Retry-After, the budget, deadlines, what is (not) retried, keys."""

from __future__ import annotations

import email.utils
import logging
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import pytest

from asyncapi_client import (
    APIConnectionError,
    APITimeoutError,
    AsyncClient,
    BearerToken,
    CallNext,
    InternalServerError,
    MockTransport,
    RateLimitError,
    Request,
    Response,
    ResponseDecodeError,
    RetryPolicy,
    Timeout,
)
from asyncapi_client._retry import RetryMiddleware
from asyncapi_client.testing import DEFAULT_EPOCH as WALL_EPOCH
from asyncapi_client.testing import FakeClock
from tests.support.scripted_random import ScriptedRandom

BASE = "https://api.example.com"
Outcome = int | Response | BaseException | Callable[[Request], Response]


def script(outcomes: Sequence[Outcome]) -> Callable[[Request], Response]:
    """A handler that plays `outcomes` in order (the last one repeats): a status code, a
    Response, an exception to raise, or a function of the request."""
    state = {"n": 0}

    def handler(request: Request) -> Response:
        outcome = outcomes[min(state["n"], len(outcomes) - 1)]
        state["n"] += 1
        if isinstance(outcome, BaseException):
            raise outcome
        if isinstance(outcome, Response):
            return outcome
        if callable(outcome):
            return outcome(request)
        return Response.json_response(outcome, {"ok": outcome < 400})

    return handler


def make_client(
    outcomes: Sequence[Outcome],
    *,
    clock: FakeClock | None = None,
    random: Callable[[], float] | None = None,
    timeout: Timeout | float | None = None,
    attempt_middleware: Sequence[Any] = (),
    **policy: Any,
) -> tuple[AsyncClient, MockTransport, FakeClock]:
    clock = clock or FakeClock()
    transport = MockTransport(script(outcomes))
    client = AsyncClient(
        BASE,
        transport=transport,
        retry=RetryPolicy(**policy),
        clock=clock,
        random=random or ScriptedRandom([0.5]),
        timeout=timeout,
        attempt_middleware=attempt_middleware,
        rate_limit=None,  # these tests count the retry layer's own sleeps: no limiter pacing
    )
    return client, transport, clock


def retrier(client: AsyncClient) -> RetryMiddleware:
    return client._shared.retry


async def send(client: AsyncClient, method: str = "GET", path: str = "/api/v1/users", **kw: Any) -> Response:
    return await client.send(client.build_request(method, path, **kw))


def attempts_of(transport: MockTransport) -> list[int]:
    return [r.extensions["attempt"] for r in transport.requests]


# -- backoff ---------------------------------------------------------------------------------


async def test_exact_delay_sequence_with_full_jitter() -> None:
    rnd = ScriptedRandom([0.5, 0.25, 0.75, 0.1])
    client, transport, clock = make_client(
        [503], random=rnd, max_attempts=5, backoff_base=1.0, backoff_max=4.0
    )
    response = await send(client)
    # caps 1, 2, 4, 4 (capped) scaled by the scripted draws
    assert clock.sleeps == [0.5, 0.5, 3.0, 0.4]
    assert rnd.calls == 4
    assert response.status_code == 503  # attempts ran out: the last response comes back
    assert attempts_of(transport) == [1, 2, 3, 4, 5]
    stats = client.stats()
    assert (stats.attempts, stats.retries) == (5, 4)


async def test_jitter_bounds_hold_for_every_retry() -> None:
    import random

    rng = random.Random(1234)
    client, _, clock = make_client(
        [503], random=rng.random, max_attempts=40, backoff_base=0.25, backoff_max=5.0, budget=None
    )
    for _ in range(20):
        clock.sleeps.clear()
        await send(client)
        caps = [min(5.0, 0.25 * 2**i) for i in range(39)]
        assert len(clock.sleeps) == 39
        assert all(0.0 <= d < cap for d, cap in zip(clock.sleeps, caps, strict=True))


async def test_delays_stop_growing_at_the_cap() -> None:
    client, _, clock = make_client([503], jitter="none", max_attempts=8, backoff_base=1.0, backoff_max=4.0)
    await send(client)
    assert clock.sleeps == [1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]


async def test_success_after_retries_returns_the_success() -> None:
    client, transport, clock = make_client([503, 502, 200], jitter="none", backoff_base=1.0)
    response = await send(client)
    assert response.status_code == 200
    assert clock.sleeps == [1.0, 2.0]
    assert len(transport.requests) == 3


async def test_max_attempts_one_turns_retrying_off() -> None:
    client, transport, clock = make_client([503], max_attempts=1)
    assert (await send(client)).status_code == 503
    assert len(transport.requests) == 1 and clock.sleeps == []


# -- Retry-After -----------------------------------------------------------------------------


def r429(retry_after: str | None, **extra: str) -> Response:
    headers = {"x-request-id": "req-42", **extra}
    if retry_after is not None:
        headers["retry-after"] = retry_after
    body = {"error": {"code": "RATE_LIMITED", "message": "slow down", "details": {"limit": 10}}}
    return Response.json_response(429, body, headers)


async def test_retry_after_seconds_replaces_the_backoff() -> None:
    client, _, clock = make_client([r429("3"), 200], backoff_base=0.1, backoff_max=0.2)
    assert (await send(client)).status_code == 200
    assert clock.sleeps == [3.0]


async def test_retry_after_http_date_is_read_on_the_wall_clock() -> None:
    date = email.utils.formatdate(WALL_EPOCH + 7, usegmt=True)
    client, _, clock = make_client([r429(date), 200])
    assert (await send(client)).status_code == 200
    assert clock.sleeps == [pytest.approx(7.0)]


async def test_retry_after_on_a_503_is_honoured_too() -> None:
    resp = Response.json_response(503, {}, {"retry-after": "2"})
    client, _, clock = make_client([resp, 200])
    assert (await send(client)).status_code == 200
    assert clock.sleeps == [2.0]


async def test_retry_after_over_the_cap_raises_rate_limit_error_at_once() -> None:
    client, transport, clock = make_client([r429("120"), 200], max_retry_after=60.0)
    with pytest.raises(RateLimitError) as info:
        await send(client)
    err = info.value
    assert err.retry_after == 120.0
    assert err.request_id == "req-42" and err.details == {"limit": 10} and err.code == "RATE_LIMITED"
    assert len(transport.requests) == 1 and clock.sleeps == []
    assert retrier(client).budget_remaining == 500  # nothing spent on a retry that never ran


async def test_retry_after_http_date_over_the_cap_raises_at_once() -> None:
    date = email.utils.formatdate(WALL_EPOCH + 300, usegmt=True)
    client, transport, clock = make_client([r429(date), 200], max_retry_after=60.0)
    with pytest.raises(RateLimitError) as info:
        await send(client)
    assert info.value.retry_after == pytest.approx(300.0)
    assert len(transport.requests) == 1 and clock.sleeps == []


async def test_retry_after_past_the_deadline_raises_rate_limit_error_at_once() -> None:
    client, transport, clock = make_client([r429("30"), 200], timeout=Timeout(total=10.0))
    with pytest.raises(RateLimitError) as info:
        await send(client)
    assert info.value.retry_after == 30.0
    assert len(transport.requests) == 1 and clock.sleeps == []


async def test_a_503_with_a_too_long_retry_after_ends_with_its_response() -> None:
    resp = Response.json_response(503, {}, {"retry-after": "600"})
    client, transport, _ = make_client([resp, 200])
    assert (await send(client)).status_code == 503
    assert len(transport.requests) == 1


async def test_a_malformed_retry_after_falls_back_to_the_backoff() -> None:
    client, _, clock = make_client([r429("soon"), 200], jitter="none", backoff_base=0.5)
    assert (await send(client)).status_code == 200
    assert clock.sleeps == [0.5]


async def test_service_call_out_of_attempts_on_429_raises_rate_limit_error() -> None:
    client, transport, _ = make_client([r429("1")], max_attempts=2)
    with pytest.raises(RateLimitError) as info:
        await client.users.get(1)
    assert info.value.retry_after == 1.0 and len(transport.requests) == 2


# -- the budget ------------------------------------------------------------------------------


async def test_budget_drains_then_stops_retries() -> None:
    client, transport, _ = make_client([503], budget=20, max_attempts=3)
    r = retrier(client)
    await send(client)  # two retries: 20 -> 10
    assert (len(transport.requests), r.budget_remaining) == (3, 10)
    await send(client)  # 10 -> 0
    assert (len(transport.requests), r.budget_remaining) == (6, 0)
    await send(client)  # empty: one attempt, fail fast
    await send(client)
    assert (len(transport.requests), r.budget_remaining) == (8, 0)
    assert client.stats().retries == 4


async def test_budget_refills_one_per_first_try_success_up_to_capacity() -> None:
    outcomes: list[Outcome] = [*[503] * 3, *[200] * 7, 503]
    client, transport, _ = make_client(outcomes, budget=10, max_attempts=3)
    r = retrier(client)
    await send(client)  # 503 x3: 10 -> 0
    assert r.budget_remaining == 0
    for expected in range(1, 6):
        await send(client)  # first-try successes refund 1 each
        assert r.budget_remaining == expected
    await send(client)
    await send(client)
    assert r.budget_remaining == 7
    # Enough for one retry again (5), not two.
    n = len(transport.requests)
    await send(client)
    assert len(transport.requests) - n == 2 and r.budget_remaining == 2
    # Capacity bounds the refills.
    client2, _, _ = make_client([200], budget=10)
    for _ in range(30):
        await send(client2)
    assert retrier(client2).budget_remaining == 10


async def test_a_success_after_a_retry_refunds_that_retrys_cost() -> None:
    client, _, _ = make_client([503, 503, 200, 200], budget=12, max_attempts=3)
    r = retrier(client)
    assert (await send(client)).status_code == 200  # 12 -5 -5 = 2, then +5 for the success
    assert r.budget_remaining == 7
    await send(client)
    assert r.budget_remaining == 8


async def test_non_2xx_final_answers_refund_nothing() -> None:
    client, _, _ = make_client([503, 404], budget=12)
    r = retrier(client)
    assert (await send(client)).status_code == 404
    assert r.budget_remaining == 7


async def test_timeouts_cost_more_budget() -> None:
    boom = APITimeoutError("read timeout", request_sent=True)
    client, transport, _ = make_client([boom], budget=15, max_attempts=5)
    with pytest.raises(APITimeoutError) as info:
        await send(client)
    assert info.value is boom
    assert len(transport.requests) == 2  # 15 - 10 = 5 left, not enough for another timeout retry
    assert retrier(client).budget_remaining == 5


async def test_no_budget_means_unlimited_retries() -> None:
    client, transport, _ = make_client([503], budget=None, max_attempts=4)
    for _ in range(200):
        await send(client)
    assert len(transport.requests) == 800
    assert retrier(client).budget_remaining is None


async def test_views_share_one_budget() -> None:
    client, _, _ = make_client([503], budget=10, max_attempts=3)
    view = client.with_options(headers={"x-tenant": "a"})
    await send(view)
    assert retrier(client).budget_remaining == 0


# -- deadlines -------------------------------------------------------------------------------


def slow_attempts(clock: FakeClock, seconds: float) -> Callable[[Request, CallNext], Any]:
    async def middleware(request: Request, call_next: CallNext) -> Response:
        clock.advance(seconds)
        return await call_next(request)

    return middleware


async def test_attempt_timeouts_are_cut_to_what_is_left_and_no_sleep_passes_the_deadline() -> None:
    clock = FakeClock(start=100.0)
    client, transport, _ = make_client(
        [503],
        clock=clock,
        timeout=Timeout(total=10.0, attempt=8.0),
        attempt_middleware=[slow_attempts(clock, 2.0)],
        max_attempts=10,
        jitter="none",
        backoff_base=1.0,
    )
    response = await send(client)
    # t=0 attempt 1 (8s), t=2 sleep 1, t=3 attempt 2 (7s), t=5 sleep 2, t=7 attempt 3 (3s),
    # t=9: the next wait (4s) would end past the deadline at t=10, so the call ends now.
    assert [r.timeout for r in transport.requests] == [8.0, 7.0, 3.0]
    assert clock.sleeps == [1.0, 2.0]
    assert clock.now == pytest.approx(109.0)
    assert response.status_code == 503
    assert all(r.extensions["deadline"] == 110.0 for r in transport.requests)


async def test_deadline_ends_with_the_last_exception() -> None:
    clock = FakeClock()
    boom = APIConnectionError("refused", request_sent=False)
    client, transport, _ = make_client(
        [boom],
        clock=clock,
        timeout=Timeout(total=3.0),
        attempt_middleware=[slow_attempts(clock, 1.0)],
        max_attempts=10,
        jitter="none",
        backoff_base=1.0,
    )
    with pytest.raises(APIConnectionError) as info:
        await send(client)
    assert info.value is boom
    assert clock.sleeps == [1.0] and len(transport.requests) == 2
    assert clock.now <= 3.0


async def test_a_deadline_gone_before_the_first_attempt_raises_timeout() -> None:
    clock = FakeClock()

    async def stall(request: Request, call_next: CallNext) -> Response:
        clock.advance(5.0)  # a slow user middleware, outside the retry layer
        return await call_next(request)

    transport = MockTransport(script([200]))
    client = AsyncClient(
        BASE, transport=transport, clock=clock, timeout=Timeout(total=5.0), middleware=[stall]
    )
    with pytest.raises(APITimeoutError) as info:
        await send(client)
    assert info.value.request_sent is False
    assert transport.requests == []


async def test_without_a_deadline_the_attempt_timeout_is_left_alone() -> None:
    client, transport, _ = make_client([503, 200], timeout=Timeout(total=None, attempt=4.0))
    await send(client)
    assert [r.timeout for r in transport.requests] == [4.0, 4.0]


# -- what is and is not retried --------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
@pytest.mark.parametrize("method", ["GET", "POST", "PATCH", "DELETE"])
async def test_transient_statuses_are_retried(status: int, method: str) -> None:
    client, transport, _ = make_client([status, 200])
    assert (await send(client, method)).status_code == 200
    assert len(transport.requests) == 2


@pytest.mark.parametrize("status", [200, 201, 204, 301, 400, 401, 403, 404, 409, 422, 501, 505])
async def test_other_statuses_are_not_retried(status: int) -> None:
    client, transport, clock = make_client([status, 200])
    assert (await send(client, "GET")).status_code == status
    assert len(transport.requests) == 1 and clock.sleeps == []


async def test_401_is_never_retried_even_with_auth() -> None:
    transport = MockTransport(script([401, 200]))
    client = AsyncClient(BASE, transport=transport, auth=BearerToken("t0k"), clock=FakeClock())
    assert (await send(client)).status_code == 401
    assert len(transport.requests) == 1


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
async def test_connection_failures_before_sending_are_retried_for_any_method(method: str) -> None:
    for exc in (APIConnectionError(request_sent=False), APITimeoutError(request_sent=False)):
        client, transport, _ = make_client([exc, 200])
        assert (await send(client, method)).status_code == 200
        assert len(transport.requests) == 2


@pytest.mark.parametrize("sent", [True, None])
@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "POST"])
async def test_dropped_or_timed_out_idempotent_requests_are_retried(sent: bool | None, method: str) -> None:
    # POST counts: the retry layer gives every POST an Idempotency-Key.
    for exc in (APIConnectionError(request_sent=sent), APITimeoutError(request_sent=sent)):
        client, transport, _ = make_client([exc, 200])
        assert (await send(client, method)).status_code == 200
        assert len(transport.requests) == 2


@pytest.mark.parametrize("sent", [True, None])
async def test_a_dropped_patch_is_retried_under_its_own_key(sent: bool | None) -> None:
    exc = APIConnectionError("dropped", request_sent=sent)
    client, transport, _ = make_client([exc, 200])
    response = await send(client, "PATCH")
    assert response.status_code == 200 and len(transport.requests) == 2
    keys = {r.headers["idempotency-key"] for r in transport.requests}
    assert len(keys) == 1  # the server applies it once and replays its first answer
    # A key the caller gives is kept as given.
    client, transport, _ = make_client([exc, 200])
    response = await send(client, "PATCH", headers={"Idempotency-Key": "patch-1"})
    assert [r.headers["idempotency-key"] for r in transport.requests] == ["patch-1", "patch-1"]


@pytest.mark.parametrize(
    "exc", [ValueError("bug"), ResponseDecodeError("bad body"), KeyError("x"), RuntimeError("x")]
)
async def test_other_exceptions_are_not_retried(exc: Exception) -> None:
    client, transport, _ = make_client([exc, 200])
    with pytest.raises(type(exc)):
        await send(client)
    assert len(transport.requests) == 1


async def test_out_of_attempts_on_an_exception_reraises_the_last_one() -> None:
    errors = [APIConnectionError(f"refused {i}", request_sent=False) for i in range(3)]
    client, transport, _ = make_client(errors)
    with pytest.raises(APIConnectionError) as info:
        await send(client)
    assert info.value is errors[2]
    assert len(transport.requests) == 3


# -- idempotency keys ------------------------------------------------------------------------


async def test_every_attempt_of_a_post_carries_the_same_fresh_key() -> None:
    client, transport, _ = make_client([503, APIConnectionError(request_sent=True), 201])
    response = await send(client, "POST", json_body={"name": "a", "email": "a@x.io"})
    assert response.status_code == 201
    keys = [r.headers.get("idempotency-key") for r in transport.requests]
    assert len(keys) == 3 and len(set(keys)) == 1 and keys[0] is not None
    assert uuid.UUID(keys[0]).version == 4
    await send(client, "POST", json_body={})
    assert transport.requests[-1].headers["idempotency-key"] != keys[0]


async def test_a_caller_supplied_key_is_kept() -> None:
    client, transport, _ = make_client([503, 201])

    def created(request: Request) -> Response:
        return Response.json_response(
            201, {"id": 1, "name": "a", "email": "a@x.io", "created_at": "2026-01-01T00:00:00Z"}
        )

    transport._handler = script([503, created])
    await client.users.create("a", "a@x.io", idempotency_key="my-key-1")
    assert [r.headers["idempotency-key"] for r in transport.requests] == ["my-key-1", "my-key-1"]


@pytest.mark.parametrize("method", ["GET", "PUT", "POST", "PATCH", "DELETE"])
async def test_posts_patches_and_deletes_get_a_key(method: str) -> None:
    client, transport, _ = make_client([200])
    await send(client, method)
    assert ("idempotency-key" in transport.requests[0].headers) is (method in ("POST", "PATCH", "DELETE"))


async def test_the_callers_request_is_not_mutated() -> None:
    client, _, _ = make_client([200])
    request = client.build_request("POST", "/api/v1/users", json_body={})
    await client.send(request)
    assert "idempotency-key" not in request.headers and "attempt" not in request.extensions


# -- logging, cancellation, trio -------------------------------------------------------------


async def test_each_retry_is_logged_without_secrets(caplog: pytest.LogCaptureFixture) -> None:
    transport = MockTransport(script([503, APIConnectionError(request_sent=False), 200]))
    client = AsyncClient(
        BASE,
        transport=transport,
        auth=BearerToken("sekrit-token-value"),
        retry=RetryPolicy(jitter="none", backoff_base=0.25),
        clock=FakeClock(),
    )
    with caplog.at_level(logging.DEBUG, logger="asyncapi_client.retry"):
        await send(client, params={"page": 2, "access_token": "qs-secret"})
    records = [r for r in caplog.records if r.name == "asyncapi_client.retry"]
    assert len(records) == 2
    text = "\n".join(r.getMessage() for r in records)
    assert "GET https://api.example.com/api/v1/users?page=2&access_token=***" in text
    assert "attempt 1 failed (status 503); attempt 2 of 3 in 0.250s" in text
    assert "attempt 2 failed (APIConnectionError, request not sent); attempt 3 of 3 in 0.500s" in text
    assert "sekrit" not in text and "qs-secret" not in text and "Bearer" not in text
    assert all(r.levelno == logging.DEBUG for r in records)


async def test_giving_up_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    client, _, _ = make_client([503], budget=0)
    with caplog.at_level(logging.DEBUG, logger="asyncapi_client.retry"):
        await send(client)
    assert "the retry budget is spent" in caplog.text


async def test_cancelling_a_backoff_sleep_propagates_and_returns_the_budget() -> None:
    clock = FakeClock(block=True)
    client, transport, _ = make_client([503], clock=clock, budget=50)
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(send, client)
            await clock.sleeping.wait()
            assert retrier(client).budget_remaining == 45
            scope.cancel()
    assert scope.cancelled_caught
    assert len(transport.requests) == 1
    assert retrier(client).budget_remaining == 50


async def test_cancelling_an_attempt_propagates_without_retrying() -> None:
    started = anyio.Event()

    async def hang(request: Request) -> Response:
        started.set()
        await anyio.sleep_forever()
        raise AssertionError

    transport = MockTransport(hang)
    client = AsyncClient(BASE, transport=transport, clock=FakeClock(), timeout=None)
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(send, client)
            await started.wait()
            scope.cancel()
    assert scope.cancelled_caught and len(transport.requests) == 1
    assert retrier(client).budget_remaining == 500


def test_runs_on_trio() -> None:
    import trio

    async def main() -> tuple[int, list[float]]:
        client, _, clock = make_client([503, 503, 200], jitter="none", backoff_base=0.5)
        response = await send(client)
        return response.status_code, clock.sleeps

    assert trio.run(main) == (200, [0.5, 1.0])


# -- direct use of the middleware ------------------------------------------------------------


async def test_middleware_validates_its_arguments() -> None:
    from asyncapi_client._stats import ClientStats

    with pytest.raises(TypeError, match="RetryPolicy"):
        RetryMiddleware(object(), clock=FakeClock(), stats=ClientStats())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="random"):
        RetryMiddleware(RetryPolicy(), clock=FakeClock(), stats=ClientStats(), random=0.5)  # type: ignore[arg-type]


async def test_service_call_out_of_attempts_on_503_raises_the_typed_error() -> None:
    body = {"error": {"code": "UNAVAILABLE", "message": "down", "details": None}}
    client, transport, _ = make_client([Response.json_response(503, body, {"x-request-id": "r9"})])
    with pytest.raises(InternalServerError) as info:
        await client.users.get(7)
    assert info.value.status_code == 503 and info.value.request_id == "r9"
    assert len(transport.requests) == 3
