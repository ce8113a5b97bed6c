"""Transport failures become APIConnectionError / APITimeoutError, never a raw library error.

Uses respx on the default transport (httpcore underneath) and a closed port for a real refusal.
"""

from __future__ import annotations

import socket

import httpcore
import pytest
import respx

import asyncapi_client as sdk
from asyncapi_client import HttpcoreTransport

pytestmark = pytest.mark.anyio

PROJECT = {
    "id": 3,
    "name": "p",
    "description": "d",
    "created_at": "2024-01-01T00:00:00Z",
    "updated_at": "2024-01-01T00:00:00Z",
}


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_connection_refused_is_api_connection_error_not_sent() -> None:
    base = f"http://127.0.0.1:{unused_port()}"
    async with sdk.AsyncClient(base, retry=sdk.RetryPolicy(max_attempts=1), timeout=5) as client:
        with pytest.raises(sdk.APIConnectionError) as info:
            await client.projects.get(3)
    assert info.value.request_sent is False
    assert not isinstance(info.value, sdk.APITimeoutError)


@respx.mock(using="httpcore")
async def test_respx_status_mapping_on_default_transport(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("https://api.example.com/api/v1/projects/3").respond(200, json=PROJECT)
    respx_mock.get("https://api.example.com/api/v1/projects/4").respond(
        404, json={"error": {"code": "NOT_FOUND", "message": "no project 4", "details": {"id": 4}}}
    )
    async with sdk.AsyncClient("https://api.example.com", auth=sdk.BearerToken("tkn")) as client:
        project = await client.projects.get(3)
        with pytest.raises(sdk.NotFoundError) as info:
            await client.projects.get(4)
    assert project.id == 3
    assert info.value.details == {"id": 4}
    assert respx_mock.calls[0].request.headers["authorization"] == "Bearer tkn"


@pytest.mark.parametrize(
    ("raised", "expected", "sent"),
    [
        (httpcore.ConnectError("refused"), sdk.APIConnectionError, False),
        (httpcore.ConnectTimeout("slow"), sdk.APITimeoutError, False),
        (httpcore.ReadTimeout("slow"), sdk.APITimeoutError, True),
        (httpcore.RemoteProtocolError("Server disconnected"), sdk.APIConnectionError, True),
        (httpcore.ReadError("reset"), sdk.APIConnectionError, True),
    ],
)
async def test_httpcore_failures_are_wrapped(raised: Exception, expected: type, sent: bool) -> None:
    with respx.mock(using="httpcore") as router:
        router.get("https://api.example.com/api/v1/projects/3").mock(side_effect=raised)
        async with sdk.AsyncClient(
            "https://api.example.com", retry=sdk.RetryPolicy(max_attempts=1)
        ) as client:
            with pytest.raises(expected) as info:
                await client.projects.get(3)
    assert type(info.value) is expected
    assert info.value.request_sent is sent
    # The library's exception stays the cause, so a traceback shows what happened underneath.
    assert info.value.__cause__ is raised


async def test_custom_transport_pool_size_is_validated() -> None:
    with pytest.raises(ValueError, match="max_connections"):
        HttpcoreTransport(max_connections=0)
