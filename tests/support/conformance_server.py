"""A tiny HTTP/1.1 server for the transport conformance suite, and the same endpoints as ASGI.

The TCP server runs its own asyncio loop in a thread on a free loopback port, so each transport
under test (on asyncio or trio) talks to a real socket. Endpoints:

    /echo            200 JSON: method, path, query, headers, body (latin-1, up to 64 KiB), its length and sha256
    /status/{code}   that status, with `X-Custom-Header: Value-1` and body `status {code}`
    /big/{n}         200 with n bytes of body
    /slow/{seconds}  200 after sleeping (the sleep ends when the server stops)
    /drop            promises 1000 bytes, sends 10, closes the connection
    /redirect        302 to /echo
    /close           200, then the server closes the connection (no `Connection: close` header:
                     what a keep-alive timeout on the server looks like to the client)
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

_REASONS = {200: "OK", 201: "Created", 204: "No Content", 302: "Found", 404: "Not Found"}


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _big_body(n: int) -> bytes:
    pattern = bytes(range(256))
    return (pattern * (n // 256 + 1))[:n]


def _route(
    method: str, target: str, headers: dict[str, str], body: bytes
) -> tuple[int, list[tuple[str, str]], bytes] | tuple[str, float]:
    """(status, headers, body) for a plain reply, or ("slow", seconds) / ("drop" | "close", 0)."""
    path, _, query = target.partition("?")
    if path == "/echo":
        payload = {
            "method": method,
            "path": path,
            "query": query,
            "headers": headers,
            "body": body.decode("latin-1") if len(body) <= 65536 else None,
            "body_length": len(body),
            "body_sha256": hashlib.sha256(body).hexdigest(),
        }
        return 200, [("Content-Type", "application/json")], json.dumps(payload).encode()
    if path.startswith("/status/"):
        code = int(path.rsplit("/", 1)[1])
        content = b"" if code in (204, 304) else f"status {code}".encode()
        return code, [("X-Custom-Header", "Value-1"), ("Content-Type", "text/plain")], content
    if path.startswith("/big/"):
        return 200, [("Content-Type", "application/octet-stream")], _big_body(int(path.rsplit("/", 1)[1]))
    if path.startswith("/slow/"):
        return "slow", float(path.rsplit("/", 1)[1])
    if path == "/drop":
        return "drop", 0.0
    if path == "/close":
        return "close", 0.0
    if path == "/redirect":
        return 302, [("Location", "/echo"), ("Content-Type", "text/plain")], b"see /echo"
    return 404, [("Content-Type", "text/plain")], b"no such endpoint"


class TestServer:
    """`with TestServer() as server:` -> `server.url` (http://127.0.0.1:PORT)."""

    __test__ = False

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.ssl_context = ssl_context
        self.port = 0
        self.connections = 0
        self.closed = 0  # connections the server has closed (their FIN sent)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="conformance-server", daemon=True)

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    def __enter__(self) -> TestServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("test server did not start")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        tasks: set[asyncio.Task[None]] = set()

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            tasks.add(task)
            self.connections += 1
            try:
                await self._serve(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError, ssl.SSLError):
                pass
            finally:
                tasks.discard(task)
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
                self.closed += 1

        server = await asyncio.start_server(on_connect, "127.0.0.1", 0, ssl=self.ssl_context)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()
            for task in list(tasks):
                task.cancel()
            await asyncio.sleep(0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers: dict[str, str] = {}
            for line in lines[1:]:
                if line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0") or 0)
            body = await reader.readexactly(length) if length else b""
            routed = _route(method, target, headers, body)
            if routed[0] == "slow":
                await asyncio.sleep(float(routed[1]))
                routed = (200, [("Content-Type", "text/plain")], b"slow done")
            elif routed[0] == "close":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nclosed")
                await writer.drain()
                await asyncio.sleep(0.05)
                return
            elif routed[0] == "drop":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n0123456789")
                await writer.drain()
                writer.transport.abort()
                return
            status, reply_headers, content = routed  # type: ignore[misc]
            out = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
            out += [f"{k}: {v}" for k, v in reply_headers]
            out.append(f"Content-Length: {len(content)}")
            writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + content)
            await writer.drain()
            if headers.get("connection", "").lower() == "close":
                return


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


async def asgi_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The same endpoints as an ASGI app (backend-neutral: sleeps through anyio)."""
    import anyio

    assert scope["type"] == "http"
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body", False):
            break
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
    target = scope["raw_path"].decode() + (
        "?" + scope["query_string"].decode() if scope["query_string"] else ""
    )
    routed = _route(scope["method"], target, headers, body)
    if routed[0] == "slow":
        await anyio.sleep(float(routed[1]))
        routed = (200, [("Content-Type", "text/plain")], b"slow done")
    elif routed[0] == "close":
        routed = (200, [], b"closed")
    elif routed[0] == "drop":
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"1000")]})
        await send({"type": "http.response.body", "body": b"0123456789", "more_body": True})
        raise ConnectionResetError("the app dropped the connection")
    status, reply_headers, content = routed  # type: ignore[misc]
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in reply_headers]
    raw_headers.append((b"content-length", str(len(content)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": content})


@contextlib.contextmanager
def running_server() -> Iterator[TestServer]:
    with TestServer() as server:
        yield server
