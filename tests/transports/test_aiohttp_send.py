"""`AiohttpTransport` sends through `ClientSession._request`, the coroutine its public `request`
wraps in a context manager, on aiohttp 3 (whose wrapper does nothing else); on any other
version, or without `_request`, through the public method. Both send the same request."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from asyncapi_client import Request
from tests.support.conformance_server import TestServer

aiohttp = pytest.importorskip("aiohttp")

from asyncapi_client.transports import AiohttpTransport  # noqa: E402


@pytest.fixture(scope="module")
def server() -> Iterator[TestServer]:
    with TestServer() as running:
        yield running


def echo(transport: AiohttpTransport, base: str) -> dict[str, object]:
    async def main() -> dict[str, object]:
        try:
            request = Request("POST", f"{base}/echo?q=1", {"x-a": "1"}, b"payload", 5.0)
            response = await transport.send(request)
            assert response.status_code == 200 and response.request is request
            echoed: dict[str, object] = response.json()
            return echoed
        finally:
            await transport.aclose()

    return asyncio.run(main())


def test_on_aiohttp_3_the_sending_coroutine_is_called_directly(server: TestServer) -> None:
    transport = AiohttpTransport()
    assert transport._direct is aiohttp.__version__.startswith("3.")
    echoed = echo(transport, server.url)
    assert (echoed["method"], echoed["query"], echoed["body"]) == ("POST", "q=1", "payload")
    assert transport._send is None  # dropped with the session


def test_without_it_the_public_request_sends_the_same(
    server: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    public = aiohttp.ClientSession.request

    def counted(self: object, method: str, url: str, **kwargs: object) -> object:
        calls.append(method)
        return public(self, method, url, **kwargs)

    monkeypatch.setattr(aiohttp.ClientSession, "request", counted)
    direct = echo(AiohttpTransport(), server.url)
    assert calls == []  # the direct call does not pass the public method
    transport = AiohttpTransport()
    transport._direct = False
    assert echo(transport, server.url) == direct
    assert calls == ["POST"]
