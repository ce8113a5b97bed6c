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
    /no-reply        reads the request, then closes the connection without a byte of reply
    /dup-headers     200 with `X-Dup: a` and `X-Dup: b` (and two `Set-Cookie`)
    /encoded/{c}     200, `ENCODED_JSON` in content coding c (gzip, x-gzip, deflate, raw-deflate
                     (sent as deflate), br, zstd, gzip-br (both, applied in that order)), or
                     `Content-Encoding: {c}` over plain bytes for any other c (`compress`, ...);
                     `corrupt-gzip` sends gzip's magic number and then garbage
    /chunked/{n}     200 with n bytes of body in chunked transfer coding (no Content-Length)
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import json
import os
import socket
import ssl
import threading
import zlib
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

_REASONS = {200: "OK", 201: "Created", 204: "No Content", 302: "Found", 404: "Not Found"}
ENCODED_JSON = json.dumps({"data": [{"id": i, "name": f"project {i}"} for i in range(200)]}).encode()


def encode(coding: str, data: bytes) -> bytes:
    """`data` in a content coding (the names of `/encoded/{c}`)."""
    if coding in ("gzip", "x-gzip"):
        return gzip.compress(data)
    if coding == "deflate":
        return zlib.compress(data)
    if coding == "raw-deflate":
        compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
        return compressor.compress(data) + compressor.flush()
    if coding == "br":
        import brotli

        return bytes(brotli.compress(data))
    if coding == "zstd":
        import zstandard

        return bytes(zstandard.ZstdCompressor().compress(data))
    if coding == "gzip-br":
        return encode("br", encode("gzip", data))
    if coding == "corrupt-gzip":
        return b"\x1f\x8b\x08\x00" + b"not really gzip at all" * 10
    return data


def _header_coding(coding: str) -> str:
    return {"raw-deflate": "deflate", "gzip-br": "gzip, br", "corrupt-gzip": "gzip"}.get(coding, coding)


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
    if path == "/no-reply":
        return "no-reply", 0.0
    if path == "/dup-headers":
        headers = [("X-Dup", "a"), ("X-Dup", "b"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]
        return 200, [*headers, ("Content-Type", "text/plain")], b"dup"
    if path.startswith("/encoded/"):
        coding = path.rsplit("/", 1)[1]
        return (
            200,
            [("Content-Type", "application/json"), ("Content-Encoding", _header_coding(coding))],
            encode(coding, ENCODED_JSON),
        )
    if path.startswith("/chunked/"):
        return "chunked", float(path.rsplit("/", 1)[1])
    return 404, [("Content-Type", "text/plain")], b"no such endpoint"


class TestServer:
    """`with TestServer() as server:` -> `server.url` (http://127.0.0.1:PORT)."""

    __test__ = False

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self.ssl_context = ssl_context
        self.port = 0
        self.connections = 0
        self.closed = 0  # connections the server has closed (their FIN sent)
        self.requests: dict[str, int] = {}  # path -> requests that arrived
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
            path = target.partition("?")[0]
            self.requests[path] = self.requests.get(path, 0) + 1
            routed = _route(method, target, headers, body)
            if routed[0] == "slow":
                await asyncio.sleep(float(routed[1]))
                routed = (200, [("Content-Type", "text/plain")], b"slow done")
            elif routed[0] == "close":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nclosed")
                await writer.drain()
                await asyncio.sleep(0.05)
                return
            elif routed[0] == "no-reply":
                writer.transport.abort()
                return
            elif routed[0] == "chunked":
                await self._chunked(writer, int(routed[1]))
                continue
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

    @staticmethod
    async def _chunked(writer: asyncio.StreamWriter, size: int) -> None:
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        piece = _big_body(min(size, 65536))
        left = size
        while left:
            part = piece[: min(left, len(piece))]
            writer.write(b"%x\r\n%s\r\n" % (len(part), part))
            left -= len(part)
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()


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
    elif routed[0] == "chunked":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        size = int(routed[1])
        await send({"type": "http.response.body", "body": _big_body(size)[: size // 2], "more_body": True})
        await send({"type": "http.response.body", "body": _big_body(size)[size // 2 :]})
        return
    elif routed[0] == "no-reply":
        raise ConnectionResetError("the app closed the connection without a reply")
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


@contextlib.contextmanager
def unaccepting_port() -> Iterator[int]:
    """A port whose listener never accepts and whose queue is full: connecting to it hangs (the
    kernel drops the SYN), which is what an unreachable host looks like, on loopback."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = int(listener.getsockname()[1])
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
            fillers.append(filler)
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def open_sockets_to(port: int, *, states: set[str] | None = None) -> int:
    """How many TCP sockets this process holds open (any thread, Rust's included) to `port`,
    in any state or in `states` (/proc/net/tcp's codes: "01" established, "08" close-wait)."""
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if int(fields[2].rsplit(":", 1)[1], 16) == port and fields[9] in inodes:
                    count += states is None or fields[3] in states
    return count
