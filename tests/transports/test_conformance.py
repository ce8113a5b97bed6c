"""One conformance suite for every transport, on asyncio and trio.

Each case runs against a real loopback server (`_server.TestServer`, its own thread) except for
`ASGITransport`, which calls the same endpoints as an in-process ASGI app. The transports that
are asyncio-only by nature (aiohttp, pyreqwest) are skipped on trio; the optional ones are
skipped when their extra is not installed. Cases use short real timeouts (a transport's timeout
is a real-clock socket deadline) and assert only on outcomes, never on durations, except for an
upper bound that proves a timeout fired at all.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio
import pytest

from asyncapi_client import (
    APIConnectionError,
    APITimeoutError,
    Request,
    ResponseDecodeError,
    ResponseTooLargeError,
)
from asyncapi_client.transports import ACCEPT_ENCODING, ASGITransport, Transport
from tests.support.conformance_server import (
    ENCODED_JSON,
    TestServer,
    asgi_app,
    encode,
    free_port,
    open_sockets_to,
    unaccepting_port,
)
from tests.support.transport_kinds import ASYNCIO_ONLY, make_transport, skip_unless_installed

TRANSPORTS = ["httpcore", "httpcore-pool", "httpcore2", "aiohttp", "pyreqwest", "asgi"]
ASGI_BASE = "http://testserver"


def _cases() -> Iterator[Any]:
    for kind in TRANSPORTS:
        for backend in ("asyncio", "trio"):
            marks = skip_unless_installed(kind)
            if backend == "trio" and kind in ASYNCIO_ONLY:
                marks.append(pytest.mark.skip(reason=f"{kind} runs on asyncio only"))
            yield pytest.param((kind, backend), id=f"{kind}-{backend}", marks=marks)


@pytest.fixture(params=list(_cases()))
def case(request: pytest.FixtureRequest) -> tuple[str, str]:
    value: tuple[str, str] = request.param
    return value


@pytest.fixture(scope="module")
def server() -> Iterator[TestServer]:
    with TestServer() as srv:
        yield srv


Body = Callable[[Transport, str], Awaitable[None]]


def run(
    case: tuple[str, str], server: TestServer, body: Body, *, max_connections: int = 10, **options: Any
) -> None:
    """Run `body(transport, base_url)` on the case's event loop, then close the transport."""
    kind, backend = case
    base = ASGI_BASE if kind == "asgi" else server.url

    async def main() -> None:
        if kind == "asgi":
            transport: Transport = ASGITransport(asgi_app, **options)
        else:
            transport = make_transport(kind, max_connections, **options)
        try:
            with anyio.fail_after(30):
                await body(transport, base)
        finally:
            await transport.aclose()

    anyio.run(main, backend=backend)


def req(method: str, url: str, **kwargs: Any) -> Request:
    kwargs.setdefault("timeout", 10.0)
    return Request(method, url, **kwargs)


# -- requests arrive intact ------------------------------------------------------------------


def test_methods(case: tuple[str, str], server: TestServer) -> None:
    async def body(transport: Transport, base: str) -> None:
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            content = f"payload for {method}".encode() if method in ("POST", "PUT", "PATCH") else None
            response = await transport.send(req(method, f"{base}/echo?x=1&y=two", content=content))
            assert response.status_code == 200
            echo = response.json()
            assert echo["method"] == method
            assert echo["path"] == "/echo"
            assert echo["query"] == "x=1&y=two"
            assert echo["body"] == (content or b"").decode()
            assert response.request is not None and response.request.method == method

    run(case, server, body)


def test_request_headers_and_binary_body_arrive_intact(case: tuple[str, str], server: TestServer) -> None:
    payload = bytes(range(256)) * 4 + b"\r\n\r\n\x00 end"
    headers = {
        "x-test-token": "abc DEF 123",
        "content-type": "application/octet-stream",
        "x-quoted": '"quoted", with, commas',
        "authorization": "Bearer secret-value",
    }

    async def body(transport: Transport, base: str) -> None:
        response = await transport.send(req("POST", f"{base}/echo", headers=headers, content=payload))
        echo = response.json()
        for name, value in headers.items():
            assert echo["headers"][name] == value, name
        assert echo["headers"]["content-length"] == str(len(payload))
        assert echo["body"].encode("latin-1") == payload
        assert echo["body_length"] == len(payload)

    run(case, server, body)


def test_empty_body_post(case: tuple[str, str], server: TestServer) -> None:
    async def body(transport: Transport, base: str) -> None:
        response = await transport.send(req("POST", f"{base}/echo", content=b""))
        echo = response.json()
        assert echo["body_length"] == 0
        assert echo["headers"].get("content-length", "0") == "0"

    run(case, server, body)


# -- responses come back intact --------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 204, 400, 404, 418, 429, 500, 503])
def test_status_codes_headers_and_bodies(case: tuple[str, str], server: TestServer, status: int) -> None:
    async def body(transport: Transport, base: str) -> None:
        response = await transport.send(req("GET", f"{base}/status/{status}"))
        assert response.status_code == status
        assert response.headers["x-custom-header"] == "Value-1"
        assert all(key == key.lower() for key in response.headers), list(response.headers)
        assert response.content == (b"" if status == 204 else f"status {status}".encode())

    run(case, server, body)


def test_large_bodies_both_ways(case: tuple[str, str], server: TestServer) -> None:
    size = 3 * 1024 * 1024 + 17
    upload = hashlib.sha256(b"seed").digest() * (size // 32 + 1)
    upload = upload[:size]

    async def body(transport: Transport, base: str) -> None:
        response = await transport.send(req("PUT", f"{base}/echo", content=upload))
        echo = json.loads(response.content)
        assert echo["body_length"] == size
        assert echo["body_sha256"] == hashlib.sha256(upload).hexdigest()
        big = await transport.send(req("GET", f"{base}/big/{size}"))
        assert big.status_code == 200
        assert len(big.content) == size
        assert big.content == (bytes(range(256)) * (size // 256 + 1))[:size]

    run(case, server, body)


def test_redirects_are_not_followed(case: tuple[str, str], server: TestServer) -> None:
    async def body(transport: Transport, base: str) -> None:
        response = await transport.send(req("GET", f"{base}/redirect", headers={"authorization": "Bearer x"}))
        assert response.status_code == 302
        assert response.headers["location"] == "/echo"
        assert response.content == b"see /echo"

    run(case, server, body)


# -- failures ---------------------------------------------------------------------------------


def test_timeout_is_api_timeout_error(case: tuple[str, str], server: TestServer) -> None:
    async def body(transport: Transport, base: str) -> None:
        with anyio.fail_after(5):  # proves the transport's own 0.3 s timeout fired
            with pytest.raises(APITimeoutError) as info:
                await transport.send(req("GET", f"{base}/slow/20", timeout=0.3))
        assert info.value.request is not None
        assert info.value.request.url.endswith("/slow/20")

    run(case, server, body)


def test_connection_refused(case: tuple[str, str], server: TestServer) -> None:
    if case[0] == "asgi":
        pytest.skip("ASGITransport opens no connection: nothing can refuse it")

    async def body(transport: Transport, base: str) -> None:
        url = f"http://127.0.0.1:{free_port()}/echo"
        with pytest.raises(APIConnectionError) as info:
            await transport.send(req("GET", url, timeout=5.0))
        assert not isinstance(info.value, APITimeoutError)
        assert info.value.request_sent is False

    run(case, server, body)


def test_server_drops_connection_mid_response(case: tuple[str, str], server: TestServer) -> None:
    async def body(transport: Transport, base: str) -> None:
        with pytest.raises(APIConnectionError) as info:
            await transport.send(req("GET", f"{base}/drop", timeout=5.0))
        assert not isinstance(info.value, APITimeoutError)
        assert info.value.request_sent is not False

    run(case, server, body)


# -- the pool ---------------------------------------------------------------------------------

POOL = 2


def test_cancellation_releases_pool_slots(case: tuple[str, str], server: TestServer) -> None:
    """Cancel 4 requests in flight on a pool of 2 (2 on the wire, 2 queued), then 6 more succeed."""

    async def body(transport: Transport, base: str) -> None:
        started = 0

        async def slow() -> None:
            nonlocal started
            started += 1
            # 4 s: long past the cancellation; also what pyreqwest's aclose() waits for them.
            await transport.send(req("GET", f"{base}/slow/20", timeout=4.0))
            raise AssertionError("a cancelled request completed")

        async with anyio.create_task_group() as tg:
            for _ in range(4):
                tg.start_soon(slow)
            await anyio.wait_all_tasks_blocked()  # 2 waiting on the wire, 2 for a pool slot
            assert started == 4
            tg.cancel_scope.cancel()

        results: list[int] = []

        async def fast(i: int) -> None:
            response = await transport.send(req("GET", f"{base}/echo?i={i}", timeout=5.0))
            results.append(response.status_code)

        async with anyio.create_task_group() as tg:
            for i in range(6):
                tg.start_soon(fast, i)
        assert results == [200] * 6
        _assert_no_busy_slots(transport)

    run(case, server, body, max_connections=POOL)


def test_pool_is_released_after_errors(case: tuple[str, str], server: TestServer) -> None:
    async def body(transport: Transport, base: str) -> None:
        for _ in range(3):
            with pytest.raises(APITimeoutError):
                await transport.send(req("GET", f"{base}/slow/20", timeout=0.2))
        for _ in range(3):
            with pytest.raises(APIConnectionError):
                await transport.send(req("GET", f"{base}/drop", timeout=5.0))
        for _ in range(3):
            assert (await transport.send(req("GET", f"{base}/status/500"))).status_code == 500
        statuses = []

        async def fast() -> None:
            statuses.append((await transport.send(req("GET", f"{base}/echo", timeout=5.0))).status_code)

        async with anyio.create_task_group() as tg:
            for _ in range(2 * POOL):
                tg.start_soon(fast)
        assert statuses == [200] * (2 * POOL)
        _assert_no_busy_slots(transport)

    run(case, server, body, max_connections=POOL)


def test_concurrent_requests_share_a_small_pool(case: tuple[str, str], server: TestServer) -> None:
    async def body(transport: Transport, base: str) -> None:
        seen: list[int] = []

        async def one(i: int) -> None:
            response = await transport.send(req("GET", f"{base}/echo?i={i}"))
            seen.append(int(response.json()["query"].split("=")[1]))

        async with anyio.create_task_group() as tg:
            for i in range(40):
                tg.start_soon(one, i)
        assert sorted(seen) == list(range(40))

    run(case, server, body, max_connections=POOL)


def test_aclose_is_idempotent(case: tuple[str, str], server: TestServer) -> None:
    async def body(transport: Transport, base: str) -> None:
        assert (await transport.send(req("GET", f"{base}/echo"))).status_code == 200
        await transport.aclose()
        await transport.aclose()

    run(case, server, body)


def _assert_no_busy_slots(transport: Transport) -> None:
    status = getattr(transport, "pool_status", None)
    if status is not None:
        _, busy = status()
        assert busy == 0


# -- what httpx's client layer gave users: headers, encodings, limits ---------------------------


def test_repeated_response_headers_are_joined(case: tuple[str, str], server: TestServer) -> None:
    async def body(transport: Transport, base: str) -> None:
        response = await transport.send(req("GET", f"{base}/dup-headers"))
        assert response.headers["x-dup"] == "a, b"
        assert response.headers["set-cookie"] == "a=1, b=2"

    run(case, server, body)


def test_accept_encoding_is_sent_unless_the_caller_set_one(case: tuple[str, str], server: TestServer) -> None:
    if case[0] == "asgi":
        pytest.skip("ASGITransport decodes but does not ask for compression: in-process it only costs CPU")

    async def body(transport: Transport, base: str) -> None:
        echo = (await transport.send(req("GET", f"{base}/echo"))).json()
        assert echo["headers"]["accept-encoding"] == ACCEPT_ENCODING
        own = await transport.send(req("GET", f"{base}/echo", headers={"Accept-Encoding": "identity"}))
        assert own.json()["headers"]["accept-encoding"] == "identity"

    run(case, server, body)


CODINGS = ["gzip", "x-gzip", "deflate", "raw-deflate", "br", "zstd", "gzip-br"]


@pytest.mark.parametrize("coding", CODINGS)
def test_content_encodings_are_decoded(case: tuple[str, str], server: TestServer, coding: str) -> None:
    async def body(transport: Transport, base: str) -> None:
        response = await transport.send(req("GET", f"{base}/encoded/{coding}"))
        assert response.status_code == 200
        assert response.content == ENCODED_JSON
        assert response.json()["data"][199]["name"] == "project 199"

    run(case, server, body)


@pytest.mark.parametrize("coding", ["compress", "x-unknown", "corrupt-gzip"])
def test_an_undecodable_body_is_a_decode_error(
    case: tuple[str, str], server: TestServer, coding: str
) -> None:
    async def body(transport: Transport, base: str) -> None:
        with pytest.raises(ResponseDecodeError) as info:
            await transport.send(req("GET", f"{base}/encoded/{coding}"))
        assert not isinstance(info.value, ResponseTooLargeError)
        assert info.value.status_code == 200
        # The next request is fine: the connection was closed or is reusable, never poisoned.
        assert (await transport.send(req("GET", f"{base}/echo"))).status_code == 200

    run(case, server, body)


def test_a_body_over_the_limit_is_refused_by_its_length(case: tuple[str, str], server: TestServer) -> None:
    async def body(transport: Transport, base: str) -> None:
        with pytest.raises(ResponseTooLargeError) as info:
            await transport.send(req("GET", f"{base}/big/200000"))
        assert info.value.limit == 100_000
        assert "Content-Length is 200,000" in str(info.value)
        assert (await transport.send(req("GET", f"{base}/big/100000"))).content == _big(100_000)

    run(case, server, body, max_response_bytes=100_000)


def test_a_chunked_body_over_the_limit_is_cut_while_reading(
    case: tuple[str, str], server: TestServer
) -> None:
    async def body(transport: Transport, base: str) -> None:
        with pytest.raises(ResponseTooLargeError):
            await transport.send(req("GET", f"{base}/chunked/5000000"))
        # The cut connection was closed, not handed to the next request mid-body.
        assert (await transport.send(req("GET", f"{base}/chunked/100000"))).content == _big(100_000)
        _assert_no_busy_slots(transport)

    run(case, server, body, max_response_bytes=100_000)


def test_decompressed_bytes_count_against_the_limit(case: tuple[str, str], server: TestServer) -> None:
    compressed = len(encode("gzip", ENCODED_JSON))
    assert compressed < 2_000 < len(ENCODED_JSON)

    async def body(transport: Transport, base: str) -> None:
        with pytest.raises(ResponseTooLargeError) as info:
            await transport.send(req("GET", f"{base}/encoded/gzip"))
        assert "decodes to more" in str(info.value)

    run(case, server, body, max_response_bytes=2_000)


# -- failures say why, and "sent or not" is right ------------------------------------------------


def test_a_request_that_got_no_reply_counts_as_sent(case: tuple[str, str], server: TestServer) -> None:
    """The server read the request and closed without a reply: it may have acted on it, so the
    error must not say `request_sent=False` (a PATCH would be retried and applied again)."""

    async def body(transport: Transport, base: str) -> None:
        before = server.requests.get("/no-reply", 0)
        with pytest.raises(APIConnectionError) as info:
            await transport.send(req("PATCH", f"{base}/no-reply", content=b'{"name": "x"}'))
        assert info.value.request_sent is not False
        assert not isinstance(info.value, APITimeoutError)
        if case[0] != "asgi":
            assert server.requests.get("/no-reply", 0) - before == 1

    run(case, server, body)


def test_refused_connection_says_so_and_keeps_the_cause(case: tuple[str, str], server: TestServer) -> None:
    if case[0] == "asgi":
        pytest.skip("ASGITransport opens no connection")

    async def body(transport: Transport, base: str) -> None:
        port = free_port()
        with pytest.raises(APIConnectionError) as info:
            await transport.send(req("GET", f"http://127.0.0.1:{port}/echo", timeout=5.0))
        assert f"connection refused by 127.0.0.1:{port}" in str(info.value)
        assert info.value.__cause__ is not None
        assert info.value.retryable is True

    run(case, server, body)


def test_dns_failure_says_so(case: tuple[str, str], server: TestServer) -> None:
    if case[0] == "asgi":
        pytest.skip("ASGITransport opens no connection")

    async def body(transport: Transport, base: str) -> None:
        with pytest.raises(APIConnectionError) as info:
            await transport.send(req("GET", "http://no-such-host.invalid/echo", timeout=5.0))
        assert "DNS lookup failed for no-such-host.invalid:80" in str(info.value)
        assert info.value.request_sent is False
        assert info.value.__cause__ is not None

    run(case, server, body)


def test_connect_timeout_is_honoured(case: tuple[str, str], server: TestServer) -> None:
    """A host that never answers the SYN: the request's connect timeout (0.3 s) fires, well
    before its attempt timeout (20 s), and nothing was sent."""
    if case[0] == "asgi":
        pytest.skip("ASGITransport opens no connection")

    async def body(transport: Transport, base: str) -> None:
        with unaccepting_port() as port:
            with anyio.fail_after(10):  # the bound proves it was not the 20 s attempt timeout
                with pytest.raises(APITimeoutError) as info:
                    await transport.send(
                        req(
                            "GET",
                            f"http://127.0.0.1:{port}/echo",
                            timeout=20.0,
                            extensions={"connect_timeout": 0.3},
                        )
                    )
        assert info.value.request_sent is False

    run(case, server, body)


def test_no_socket_left_after_cancellations_and_aclose(case: tuple[str, str], server: TestServer) -> None:
    """300 calls (6 waves of 50 on 8 connections) cancelled at random points (waiting for a slot,
    connecting, waiting for a reply due in 0.1 s or 2 s, reading it), then `aclose()`: the
    process holds no socket to the server any more."""
    kind, backend = case
    if kind == "asgi":
        pytest.skip("ASGITransport opens no connection")
    rng = random.Random(14)

    async def main() -> None:
        transport = make_transport(kind, 8)
        try:
            with anyio.fail_after(60):
                for _ in range(6):
                    async with anyio.create_task_group() as tg:
                        for _ in range(50):
                            delay = rng.choice(("0.1", "2"))
                            tg.start_soon(
                                _cancelled_call, transport, f"{server.url}/slow/{delay}", rng.random() * 0.2
                            )
                assert (await transport.send(req("GET", f"{server.url}/echo"))).status_code == 200
        finally:
            await transport.aclose()
        # pyreqwest's sockets are closed by its Rust runtime's thread a moment after the client
        # goes: wait (well below the 2 s a detached request would keep one) for the kernel to
        # list none.
        with anyio.move_on_after(1.0):
            while open_sockets_to(server.port):  # noqa: ASYNC110 - the kernel's table: no event
                await anyio.sleep(0.01)
        assert open_sockets_to(server.port) == 0

    anyio.run(main, backend=backend)


async def _cancelled_call(transport: Transport, url: str, after: float) -> None:
    with anyio.move_on_after(after):
        await transport.send(req("GET", url, timeout=5.0))


def _big(n: int) -> bytes:
    return (bytes(range(256)) * (n // 256 + 1))[:n]
