"""Small hostile servers for the reliability tests, each written to misbehave in one way.

Two kinds, each on a free loopback port in a thread of its own (its own event loop, so the
client under test shares nothing with it but the socket):

- `serving(app)`: a bare ASGI app (no framework) served by uvicorn in a thread
  (`tests.support.services.serving_asgi_in_thread`, the suite's one way to do that).
- `RawServer(handler)`: raw sockets, for replies no ASGI server would send (a body cut short of
  its Content-Length). `handler(method, target, headers, body)` returns the bytes to write, and
  the connection is closed after them.

`read_body`, `reply` and `query` keep the ASGI apps short.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from tests.support.services import serving_asgi_in_thread as serving

__all__ = [
    "App",
    "RawServer",
    "Receive",
    "Scope",
    "Send",
    "header",
    "query",
    "read_body",
    "http_reply",
    "reply",
    "serving",
]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def _listening_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    return sock


async def read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def reply(
    send: Send,
    status: int,
    body: Any = b"",
    headers: dict[str, str] | None = None,
    content_type: str = "application/json",
) -> None:
    """Send one whole response; a non-bytes `body` is sent as JSON."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    raw = [(b"content-type", content_type.encode()), (b"content-length", str(len(content)).encode())]
    raw += [(k.lower().encode(), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": content})


def query(scope: Scope) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(scope.get("query_string", b"").decode()).items()}


def header(scope: Scope, name: str) -> str | None:
    wanted = name.lower().encode()
    for key, value in scope.get("headers", []):
        if key.lower() == wanted:
            return str(value.decode("latin-1"))
    return None


RawHandler = Callable[[str, str, dict[str, str], bytes], bytes]


class RawServer:
    """`with RawServer(handler) as url:` a raw-socket HTTP/1.1 server, one reply per connection."""

    def __init__(self, handler: RawHandler) -> None:
        self._handler = handler
        self._sock = _listening_socket()
        self._threads: list[threading.Thread] = []
        self._closing = False

    def __enter__(self) -> str:
        accept = threading.Thread(target=self._accept, daemon=True)
        accept.start()
        self._threads.append(accept)
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def __exit__(self, *exc: object) -> None:
        self._closing = True
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        for thread in self._threads:
            thread.join(10)

    def _accept(self) -> None:
        while not self._closing:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            worker = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            worker.start()
            self._threads.append(worker)

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            while len(body) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                body += chunk
            with contextlib.suppress(OSError):
                conn.sendall(self._handler(method, target, headers, body))


def http_reply(status: int, body: bytes, *, content_length: int | None = None, **headers: str) -> bytes:
    """The bytes of an HTTP/1.1 reply; `content_length` may promise more than `body` holds."""
    lines = [
        f"HTTP/1.1 {status} X",
        "Content-Type: application/json",
        f"Content-Length: {len(body) if content_length is None else content_length}",
        "Connection: close",
        *(f"{k.replace('_', '-')}: {v}" for k, v in headers.items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
