"""The HTTP/1.1 pool under HttpcoreTransport and Httpcore2Transport: reuse, bounds, eviction, expiry.

The conformance suite covers what every transport must do; this covers the pool's own
bookkeeping, which the other transports do not have.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Awaitable, Callable, Iterator

import anyio
import pytest

from asyncapi_client import Request
from asyncapi_client.transports import _h1pool
from asyncapi_client.transports._httpcore import HttpcoreTransport
from tests.support.conformance_server import TestServer

KINDS = [
    "httpx",
    pytest.param(
        "httpx2",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("httpcore2") is None, reason="httpx2 not installed"
        ),
    ),
]


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture()
def server() -> Iterator[TestServer]:
    with TestServer() as srv:
        yield srv


def make(kind: str, **kwargs: float) -> HttpcoreTransport:
    if kind == "httpx2":
        from asyncapi_client.transports import Httpcore2Transport

        return Httpcore2Transport(**kwargs)  # type: ignore[arg-type]
    return HttpcoreTransport(**kwargs)  # type: ignore[arg-type]


class PoolClock:
    """Stands in for the `time` module where the pool and httpcore's connections read it
    (idle times, keep-alive expiry), so that a test moves time on instead of sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def pool_clock(kind: str, monkeypatch: pytest.MonkeyPatch) -> PoolClock:
    clock = PoolClock()
    monkeypatch.setattr(_h1pool, "time", clock)
    core = "httpcore2" if kind == "httpx2" else "httpcore"
    monkeypatch.setattr(importlib.import_module(f"{core}._async.http11"), "time", clock)
    return clock


def run(body: Callable[[], Awaitable[None]]) -> None:
    async def main() -> None:
        with anyio.fail_after(20):
            await body()

    anyio.run(main)


async def get(transport: HttpcoreTransport, url: str) -> int:
    return (await transport.send(Request("GET", url, timeout=5.0))).status_code


def test_sequential_requests_reuse_one_connection(kind: str, server: TestServer) -> None:
    async def body() -> None:
        transport = make(kind)
        try:
            for _ in range(20):
                assert await get(transport, f"{server.url}/echo") == 200
            assert server.connections == 1
            assert transport.pool_status() == (1, 0)
        finally:
            await transport.aclose()
        assert transport.pool_status() == (0, 0)

    run(body)


def test_concurrency_is_bounded_by_max_connections(kind: str, server: TestServer) -> None:
    async def body() -> None:
        transport = make(kind, max_connections=3)
        peak = 0

        async def one() -> None:
            nonlocal peak
            assert await get(transport, f"{server.url}/slow/0.05") == 200
            peak = max(peak, transport.pool_status()[0])

        try:
            async with anyio.create_task_group() as tg:
                for _ in range(12):
                    tg.start_soon(one)
        finally:
            await transport.aclose()
        assert server.connections == 3
        assert peak <= 3

    run(body)


def test_a_full_pool_evicts_an_idle_connection_of_another_origin(kind: str, server: TestServer) -> None:
    async def body() -> None:
        with TestServer() as other:
            transport = make(kind, max_connections=1)
            try:
                assert await get(transport, f"{server.url}/echo") == 200
                assert await get(transport, f"{other.url}/echo") == 200
                assert transport.pool_status() == (1, 0)
                assert await get(transport, f"{server.url}/echo") == 200
            finally:
                await transport.aclose()
            assert (server.connections, other.connections) == (2, 1)

    run(body)


def test_a_connection_the_server_closed_is_not_reused(kind: str, server: TestServer) -> None:
    """Even idle for a moment only (under `_CHECK_IDLE_AFTER`): the socket poll sees the FIN."""

    async def body() -> None:
        transport = make(kind)
        try:
            assert await get(transport, f"{server.url}/close") == 200
            with anyio.fail_after(10):
                while not server.closed:  # noqa: ASYNC110 - the server runs in another thread
                    await anyio.sleep(0.01)
            # Closed on loopback: its FIN is in this side's socket already.
            for _ in range(3):
                assert await get(transport, f"{server.url}/echo") == 200
        finally:
            await transport.aclose()
        assert server.connections == 2

    run(body)


def test_expired_keepalive_connections_are_replaced_and_swept(
    kind: str, server: TestServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_h1pool, "_SWEEP_EVERY", 0.0)
    clock = pool_clock(kind, monkeypatch)

    async def body() -> None:
        transport = make(kind, keepalive_expiry=0.01)
        try:
            for _ in range(3):
                assert await get(transport, f"{server.url}/echo") == 200
                clock.now += 0.05  # past the keep-alive expiry
            assert server.connections == 3
            clock.now += 0.05
            with TestServer() as other:
                assert await get(transport, f"{other.url}/echo") == 200
                # The sweep after that request closed the expired idle connection to `server`.
                assert transport.pool_status() == (1, 0)
        finally:
            await transport.aclose()

    run(body)


def test_http2_option_uses_httpcores_own_pool(kind: str, server: TestServer) -> None:
    pytest.importorskip("h2")

    async def body() -> None:
        transport = make(kind, http2=True)  # type: ignore[arg-type]
        try:
            # Plain http:// never negotiates HTTP/2: this is HTTP/1.1 through httpcore's pool.
            assert await get(transport, f"{server.url}/echo") == 200
            assert transport.pool_status() == (1, 0)
        finally:
            await transport.aclose()

    run(body)
