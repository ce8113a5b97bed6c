"""`client.stats()` counts calls, attempts, retries and errors across the client and its views."""

from __future__ import annotations

import pytest

import asyncapi_client as sdk
from asyncapi_client import Request, Response
from tests.support.mock_client import mock_client
from tests.support.resources import PROJECT, USER


async def test_stats_count_requests_attempts_retries_and_errors() -> None:
    answers = {"/api/v1/users/me": [503, 200], "/api/v1/projects/42": [200], "/api/v1/projects/7": [404]}

    def handler(request: Request) -> Response:
        path = request.url.split("api.example.test", 1)[1]
        status = answers[path].pop(0)
        if status == 404:
            return Response.json_response(404, {"error": {"code": "NOT_FOUND", "message": "no project 7"}})
        if status == 503:
            return Response.json_response(503, {"error": {"code": "UNAVAILABLE", "message": "later"}})
        return Response.json_response(200, USER if "users" in path else PROJECT)

    client, transport = mock_client(handler)
    async with client:
        assert client.stats() == sdk.StatsSnapshot(
            requests=0,
            attempts=0,
            retries=0,
            rate_limited=0,
            limiter_wait_seconds=0.0,
            token_refreshes=0,
            errors=0,
        )
        await client.users.me()  # 503 then 200: one call, two attempts, one retry
        view = client.with_options(auth=sdk.BearerToken("user-token"))
        await view.projects.get(42)
        with pytest.raises(sdk.NotFoundError):
            await view.projects.get(7)
        stats = client.stats()
    assert len(transport.requests) == 4
    assert (stats.requests, stats.attempts, stats.retries, stats.errors) == (3, 4, 1, 1)
    assert view.stats().requests == 3  # views share the counters
    # A snapshot is frozen: later calls do not change it.
    with pytest.raises(AttributeError):
        stats.requests = 10  # type: ignore[misc]


async def test_stats_count_transport_failures_as_errors() -> None:
    def handler(request: Request) -> Response:
        raise sdk.APIConnectionError("refused", request=request, request_sent=False)

    client, transport = mock_client(
        handler, retry=sdk.RetryPolicy(max_attempts=2, backoff_base=0.0, backoff_max=0.0)
    )
    async with client:
        with pytest.raises(sdk.APIConnectionError):
            await client.users.me()
        stats = client.stats()
    assert len(transport.requests) == 2
    assert (stats.requests, stats.attempts, stats.retries, stats.errors) == (1, 2, 1, 1)
