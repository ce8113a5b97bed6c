"""The call's backstop deadline: entered only where a layer could outlive the call's deadline.

A call the client builds needs no backstop when every layer holds the deadline itself (the SDK's
retry layer, local limiter and a transport of its own, on the system clock) and the view's auth
does no I/O. These tests hold that decision to its rule, and prove against a silent server (a
raw socket that accepts and never answers) that such a call still ends with the SDK's timeout.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

import asyncapi_client as sdk
import asyncapi_client._client as client_module
from asyncapi_client._clock import SYSTEM_CLOCK
from asyncapi_client._pipeline import CallNext
from asyncapi_client._shared_state import pipeline_bounded
from asyncapi_client.testing import FakeClock
from tests.support.services import running_nginx
from tests.support.silent_server import silent_server

pytestmark = pytest.mark.anyio


async def _passing(request: sdk.Request, call_next: CallNext) -> sdk.Response:
    return await call_next(request)


class _SubclassedTransport(sdk.HttpcoreTransport):
    """A user's subclass: its send may do anything, so it is not trusted to end in time."""


class _OwnAuth(sdk.Auth):
    """A user's strategy: it may do I/O (fetch a token) that the call's deadline does not bound."""

    def authenticate(
        self, request: sdk.Request, call_next: CallNext, transport: sdk.Transport
    ) -> Awaitable[sdk.Response]:
        return call_next(request)


def _bounded(**changes: Any) -> bool:
    arguments: dict[str, Any] = {
        "transport": sdk.HttpcoreTransport(),
        "middleware": (),
        "attempt_middleware": (),
        "rate_limit": sdk.RateLimit(),
        "clock": SYSTEM_CLOCK,
    }
    arguments.update(changes)
    return pipeline_bounded(
        arguments["transport"],
        arguments["middleware"],
        arguments["attempt_middleware"],
        rate_limit=arguments["rate_limit"],
        clock=arguments["clock"],
    )


@pytest.mark.parametrize(
    ("changes", "bounded"),
    [
        ({}, True),
        ({"rate_limit": None}, True),
        ({"middleware": (_passing,)}, False),
        ({"attempt_middleware": (_passing,)}, False),
        ({"transport": sdk.MockTransport(lambda request: sdk.Response(200))}, False),
        ({"transport": _SubclassedTransport()}, False),
        ({"clock": FakeClock()}, False),
        ({"rate_limit": sdk.RateLimit(rate=5, backend=sdk.RedisRateLimitBackend("redis://127.0.0.1:1"))}, False),
    ],
    ids=["sdk-layers", "no-limiter", "middleware", "attempt-middleware", "mock", "subclass", "fake-clock", "shared-limiter"],
)
def test_only_the_sdks_own_layers_on_the_system_clock_are_bounded(changes: dict[str, Any], bounded: bool) -> None:
    assert _bounded(**changes) is bounded


@pytest.fixture
def backstops(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float | None]]:
    """The seconds of every backstop the client enters."""
    entered: list[float | None] = []
    real = client_module.fail_after

    def recording(seconds: float | None) -> AbstractContextManager[Any]:
        entered.append(seconds)
        return real(seconds)

    monkeypatch.setattr(client_module, "fail_after", recording)
    yield entered


@pytest.fixture(scope="module")
def nginx_url() -> Iterator[str]:
    with running_nginx("location / { default_type application/json; return 200 '{}'; }") as port:
        yield f"http://127.0.0.1:{port}"


async def _calls(client: sdk.AsyncClient) -> list[Callable[[], Awaitable[object]]]:
    return [
        lambda: client.request("GET", "/x"),
        lambda: client.send(client.build_request("GET", "/x")),
        lambda: client.with_options(auth=_OwnAuth()).request("GET", "/x"),
        lambda: client.with_options(auth=None).request("GET", "/x"),
    ]


async def test_a_built_call_has_no_backstop_when_nothing_can_outlive_its_deadline(
    nginx_url: str, backstops: list[float | None]
) -> None:
    async with sdk.AsyncClient(
        nginx_url, auth=sdk.BearerToken("t"), transport=sdk.HttpcoreTransport(), timeout=5.0
    ) as client:
        for call in await _calls(client):
            backstops.append(None)  # a marker between calls
            await call()
    # request(): none; send() of any request: one; a view with its own auth strategy: one; auth=None: none.
    assert backstops == [None, None, 6.0, None, 6.0, None]


async def test_every_call_has_a_backstop_when_a_middleware_could_outlive_the_deadline(
    nginx_url: str, backstops: list[float | None]
) -> None:
    async with sdk.AsyncClient(
        nginx_url, transport=sdk.HttpcoreTransport(), timeout=5.0, middleware=[_passing]
    ) as client:
        for call in await _calls(client):
            backstops.append(None)
            await call()
    assert backstops == [None, 6.0] * 4


async def test_without_the_backstop_a_call_to_a_silent_server_ends_with_the_sdks_timeout(
    backstops: list[float | None],
) -> None:
    with silent_server() as url:
        async with sdk.AsyncClient(
            url,
            auth=sdk.BearerToken("t"),
            transport=sdk.HttpcoreTransport(),
            timeout=sdk.Timeout(total=0.3, attempt=0.2),
        ) as client:
            with pytest.raises(sdk.APITimeoutError):
                await client.projects.get(1)
    assert backstops == []
