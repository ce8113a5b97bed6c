"""Client lifecycle, configuration, views, middleware order and the raw response."""

from __future__ import annotations

import inspect
import json
from typing import Any
from unittest.mock import create_autospec

import pytest

import asyncapi_client as sdk
from asyncapi_client import CallNext, MockTransport, Request, Response
from tests.support.resources import USER

pytestmark = pytest.mark.anyio


def ok_user(request: Request) -> Response:
    return Response.json_response(
        200, USER, headers={"X-Request-Id": "rid-1", "X-RateLimit-Remaining": "9", "X-RateLimit-Limit": "10"}
    )


def make_client(transport: sdk.Transport | None = None, **kwargs: Any) -> sdk.AsyncClient:
    return sdk.AsyncClient(
        "http://127.0.0.1:1", transport=transport or MockTransport(ok_user), timeout=None, **kwargs
    )


async def test_closed_client_raises_clear_error() -> None:
    transport = MockTransport(ok_user)
    client = make_client(transport)
    async with client:
        await client.users.me()
    assert client.is_closed
    assert transport.closed
    with pytest.raises(sdk.ClientClosedError, match="closed"):
        await client.users.me()
    # A view of a closed client is closed too.
    with pytest.raises(sdk.ClientClosedError):
        await client.with_options(timeout=3).users.me()
    await client.aclose()  # idempotent


async def test_cannot_reenter_closed_client() -> None:
    client = make_client()
    await client.aclose()
    with pytest.raises(sdk.ClientClosedError):
        async with client:
            pass


async def test_with_options_shares_transport_state_and_stats() -> None:
    transport = MockTransport(ok_user)
    async with make_client(transport, auth=sdk.BearerToken("base-token")) as client:
        view = client.with_options(auth=sdk.BearerToken("user-token"), headers={"X-Tenant": "t1"}, timeout=5)
        assert view.transport is client.transport
        assert view._shared is client._shared
        await client.users.me()
        await view.users.me()
        assert client.stats().requests == 2
        assert view.stats().requests == 2
    base_req, view_req = transport.requests
    assert base_req.headers["authorization"] == "Bearer base-token"
    assert view_req.headers["authorization"] == "Bearer user-token"
    assert view_req.headers["x-tenant"] == "t1"
    assert "x-tenant" not in base_req.headers
    # The attempt may take what is left of the view's 5 s deadline.
    assert view_req.timeout is not None and 4 < view_req.timeout <= 5
    # Closing the base closes every view: they share one pool.
    assert view.is_closed


async def test_user_middleware_runs_in_list_order_outside_the_retry_layer() -> None:
    seen: list[str] = []

    def tag(name: str) -> Any:
        async def middleware(request: Request, call_next: CallNext) -> Response:
            seen.append(f"{name}:in")
            response = await call_next(request.with_header(f"x-{name}", "1"))
            seen.append(f"{name}:out")
            return response

        return middleware

    transport = MockTransport(ok_user)
    async with make_client(transport, middleware=[tag("first"), tag("second")]) as client:
        await client.users.me()
    assert seen == ["first:in", "second:in", "second:out", "first:out"]
    sent = transport.requests[0]
    assert sent.headers["x-first"] == "1" and sent.headers["x-second"] == "1"


async def test_raw_response_beside_parsed_model() -> None:
    async with make_client() as client:
        raw = await client.users.with_raw_response.me()
    assert raw.parsed == sdk.User(id=1, name="Ada", email="ada@example.com", created_at=raw.parsed.created_at)
    assert raw.status_code == 200
    assert raw.request_id == "rid-1"
    assert raw.rate_limit == {"x-ratelimit-remaining": "9", "x-ratelimit-limit": "10"}


async def test_requests_carry_json_body_and_default_headers() -> None:
    transport = MockTransport(lambda r: Response.json_response(201, USER))
    async with make_client(transport, headers={"X-Custom": "yes"}) as client:
        await client.users.create("Ada", "ada@example.com")
    sent = transport.requests[0]
    assert sent.method == "POST"
    assert sent.url == "http://127.0.0.1:1/api/v1/users"
    assert json.loads(sent.content or b"") == {"name": "Ada", "email": "ada@example.com"}
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["x-custom"] == "yes"
    assert sent.headers["user-agent"].startswith("asyncapi-client/")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base_url": "ftp://example.com"}, "http:// or https://"),
        ({"base_url": "http://api.example.com"}, "allow_insecure_http"),
        ({"base_url": "https://user:pw@api.example.com"}, "credentials"),
        ({"base_url": "https://api.example.com", "timeout": -1}, "positive"),
        ({"base_url": "https://api.example.com", "auth": "a-token-string"}, "auth strategy"),
        ({"base_url": "https://api.example.com", "middleware": [42]}, "middleware"),
        ({"base_url": "https://api.example.com", "transport": object()}, r"send\(\) and aclose\(\)"),
    ],
)
def test_bad_configuration_fails_at_construction(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        sdk.AsyncClient(**kwargs)


def test_plain_http_allowed_for_loopback_and_on_request() -> None:
    sdk.AsyncClient("http://localhost:8000", transport=MockTransport(ok_user))
    sdk.AsyncClient("http://[::1]:8000", transport=MockTransport(ok_user))
    sdk.AsyncClient("http://api.example.com", transport=MockTransport(ok_user), allow_insecure_http=True)


def test_reprs_never_show_tokens() -> None:
    auth = sdk.BearerToken("super-secret-token")
    client = make_client(auth=auth)
    request = client.build_request("GET", "/api/v1/users/me")
    for text in (repr(auth), str(auth), repr(client), repr(request), repr(sdk.Secret("super-secret-token"))):
        assert "super-secret-token" not in text


def test_secret_masks_and_compares() -> None:
    secret = sdk.Secret("abc")
    assert str(secret) == "***" and f"{secret}" == "***"
    assert secret.get() == "abc"
    assert secret == sdk.Secret("abc") and secret != sdk.Secret("abd")
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(secret)


def test_timeout_coercion() -> None:
    assert sdk.Timeout.coerce(10) == sdk.Timeout(total=10, attempt=10, connect=10)
    assert sdk.Timeout.coerce(None).attempt_timeout() is None
    assert sdk.Timeout(total=5, attempt=30).attempt_timeout() == 5


async def test_send_and_request_are_coroutine_functions_for_a_users_autospec_mock() -> None:
    """A user's tests mock the client with `create_autospec`, which makes an `AsyncMock` only of
    what `inspect.iscoroutinefunction` calls a coroutine function."""
    assert inspect.iscoroutinefunction(sdk.AsyncClient.send)
    assert inspect.iscoroutinefunction(sdk.AsyncClient.request)
    mock = create_autospec(sdk.AsyncClient, instance=True)
    mock.request.return_value = ok_user(Request("GET", "http://127.0.0.1:1/api/v1/users/me"))
    response = await mock.request("GET", "/api/v1/users/me")
    assert response.status_code == 200
    mock.request.assert_awaited_once_with("GET", "/api/v1/users/me")
