"""Measure one transport's memory against hostile replies, in a process of its own:
`python -m tests.support.rss_probe KIND BASE_URL` prints one JSON line.

After a warm-up, the peak resident set (VmHWM) is reset (Linux's /proc/self/clear_refs) and
the transport, with its default `max_response_bytes`, fetches the huge server's three replies
(500 MiB chunked, 500 MiB with its length, a 256 MiB gzip bomb). It reports the resident set
before, the peak during, and what each fetch raised.
"""

from __future__ import annotations

import asyncio
import gc
import json
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from asyncapi_client import Request
from asyncapi_client.transports import ASGITransport, Transport
from tests.support.huge_server import HUGE, gzip_bomb
from tests.support.transport_kinds import make_transport

PATHS = ("/huge", "/huge-declared", "/bomb")


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # resets VmHWM to the current resident set
    except OSError:
        return False
    return True


def huge_app() -> Callable[..., Awaitable[None]]:
    """The huge server's replies as an ASGI app (for ASGITransport), streamed the same way."""
    piece = bytes(1024 * 1024)
    bomb = gzip_bomb()

    async def app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        await receive()
        path = scope["path"]
        headers = [(b"content-type", b"application/json")]
        if path == "/bomb":
            headers += [(b"content-encoding", b"gzip"), (b"content-length", str(len(bomb)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": bomb})
            return
        if path == "/small":
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b'{"ok": true}'})
            return
        if path == "/huge-declared":
            headers.append((b"content-length", str(HUGE).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for _ in range(HUGE // len(piece)):
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    return app


async def probe(kind: str, base: str) -> dict[str, Any]:
    transport: Transport = ASGITransport(huge_app()) if kind == "asgi" else make_transport(kind, 4)
    try:
        for _ in range(3):
            await transport.send(Request("GET", f"{base}/small", timeout=30.0))
        gc.collect()
        baseline = _status_kib("VmRSS")
        reset = _reset_peak()
        outcomes: dict[str, str] = {}
        for path in PATHS:
            try:
                response = await transport.send(Request("GET", f"{base}{path}", timeout=60.0))
            except Exception as exc:
                outcomes[path] = type(exc).__name__
            else:
                outcomes[path] = f"{response.status_code} with {len(response.content)} bytes"
                del response
        peak = _status_kib("VmHWM")
    finally:
        await transport.aclose()
    return {"baseline_kib": baseline, "peak_kib": peak, "peak_was_reset": reset, "outcomes": outcomes}


if __name__ == "__main__":
    print(json.dumps(asyncio.run(probe(sys.argv[1], sys.argv[2]))))
