"""Each attempt's headers are its own: the retry layer copies the call's for every attempt, so
the auth layer may set `Authorization` in them in place (when no attempt middleware runs between
the two). Nothing set so reaches the caller's `Request`, the view's default headers, or another
attempt; with attempt middleware, auth copies the request as every middleware must."""

from __future__ import annotations

import pytest

import asyncapi_client as sdk
from asyncapi_client import MockTransport, Request, Response
from asyncapi_client._pipeline import CallNext
from asyncapi_client.testing import FakeClock
from tests.support.resources import PROJECT

pytestmark = pytest.mark.anyio

TOKEN = "tok-123"


class Recording:
    """Answers 503 until the last of `statuses`; keeps each attempt's headers dict and a copy of
    it taken when that attempt was sent."""

    def __init__(self, statuses: list[int]) -> None:
        self.replies = iter(statuses)
        self.sent: list[tuple[dict[str, str], dict[str, str]]] = []

    def __call__(self, request: Request) -> Response:
        self.sent.append((request.headers, dict(request.headers)))
        status = next(self.replies)
        if status == 200:
            return Response.json_response(200, PROJECT)
        return Response.json_response(status, {"error": {"code": "UNAVAILABLE", "message": "again"}})


def client_over(server: Recording, **kwargs: object) -> sdk.AsyncClient:
    return sdk.AsyncClient(
        "https://api.example.com",
        transport=MockTransport(server),
        auth=sdk.BearerToken(TOKEN),
        clock=FakeClock(),
        timeout=None,
        rate_limit=None,
        retry=sdk.RetryPolicy(max_attempts=3, backoff_base=0.0, backoff_max=0.0),
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_the_callers_request_stays_unchanged_across_retries(method: str) -> None:
    server = Recording([503, 503, 200])
    client = client_over(server)
    async with client:
        request = client.build_request(method, "/api/v1/projects/1")
        headers, extensions = dict(request.headers), dict(request.extensions)
        await client.send(request)
        later = client.build_request(method, "/api/v1/projects/1")
    assert request.headers == headers and "authorization" not in request.headers
    assert dict(request.extensions) == extensions
    assert "authorization" not in later.headers  # nor the view's default headers
    assert len(server.sent) == 3
    for seen, at_send in server.sent:
        assert seen is not request.headers
        assert at_send["authorization"] == f"Bearer {TOKEN}"
        assert seen == at_send  # not changed by a later attempt
    assert len({id(seen) for seen, _ in server.sent}) == 3  # one dict per attempt
    if method == "POST":  # one idempotency key across the attempts, none in the caller's request
        assert len({at_send["idempotency-key"] for _, at_send in server.sent}) == 1


async def test_a_service_call_sets_the_header_in_its_attempts_only() -> None:
    server = Recording([503, 200])
    client = client_over(server)
    async with client:
        await client.projects.get(1)
        later = client.build_request("GET", "/api/v1/projects/1")
    assert "authorization" not in later.headers
    assert [at_send["authorization"] for _, at_send in server.sent] == [f"Bearer {TOKEN}"] * 2
    assert server.sent[0][0] is not server.sent[1][0]


async def test_with_attempt_middleware_auth_copies_the_request() -> None:
    """An attempt middleware may hand down a request whose headers it keeps: auth then leaves
    them alone and sends a copy with its header."""
    kept: list[dict[str, str]] = []

    def keep(request: Request, call_next: CallNext) -> object:
        kept.append(request.headers)
        return call_next(request)

    server = Recording([503, 200])
    client = client_over(server, attempt_middleware=[keep])
    async with client:
        await client.projects.get(1)
    assert len(kept) == 2
    assert all("authorization" not in headers for headers in kept)
    assert [at_send["authorization"] for _, at_send in server.sent] == [f"Bearer {TOKEN}"] * 2


async def test_auth_middleware_alone_copies_the_request_it_is_given() -> None:
    """`AuthMiddleware` sets headers in place only when told the requests are its own."""
    from asyncapi_client.auth import AuthMiddleware

    seen: list[Request] = []

    async def send(request: Request) -> Response:
        seen.append(request)
        return Response(200)

    request = Request("GET", "https://api.example.com/x", extensions={"auth": sdk.BearerToken(TOKEN)})
    await AuthMiddleware(MockTransport(lambda r: Response(200)))(request, send)
    assert "authorization" not in request.headers
    assert seen[0] is not request and seen[0].headers["authorization"] == f"Bearer {TOKEN}"

    owned = Request("GET", "https://api.example.com/x", extensions={"auth": sdk.BearerToken(TOKEN)})
    await AuthMiddleware(MockTransport(lambda r: Response(200)), owns_headers=True)(owned, send)
    assert seen[1] is owned and owned.headers["authorization"] == f"Bearer {TOKEN}"


async def test_a_services_request_is_what_build_request_makes() -> None:
    """The services build their plain calls with `_bare_request`: the same Request as
    `build_request` gives, its headers a dict of its own."""
    client = sdk.AsyncClient(
        "https://api.example.com",
        transport=MockTransport(lambda r: Response(200)),
        auth=sdk.BearerToken(TOKEN),
        clock=FakeClock(),
        headers={"x-team": "blue"},
        timeout=sdk.Timeout(total=20, attempt=5, connect=2),
        retry=sdk.RetryPolicy(max_attempts=2),
    ).with_options(retry=sdk.RetryPolicy(max_attempts=1))
    async with client:
        for method, path in (("GET", "/api/v1/projects?page=2&limit=10"), ("DELETE", "/api/v1/projects/3")):
            bare = client._bare_request(method, path)
            built = client.build_request(method, path)
            fields = ("method", "url", "headers", "content", "timeout")
            assert [getattr(bare, f) for f in fields] == [getattr(built, f) for f in fields]
            assert dict(bare.extensions) == dict(built.extensions)
            assert bare.headers is not built.headers and bare.headers is not client._headers
