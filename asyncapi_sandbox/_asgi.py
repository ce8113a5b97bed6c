"""ASGI plumbing shared by the sandbox's endpoints: message types, JSON bodies, replies.

A plain ASGI callable rather than a framework's request/response objects: the sandbox is the
peer of benchmarks, so its hot path stays short.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

from ._errors import ApiError
from ._state import State

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

JSON: Final = b"application/json"
MAX_BODY: Final = 1 << 20


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def envelope(code: str, message: str, details: dict[str, Any]) -> bytes:
    return dumps({"error": {"code": code, "message": message, "details": details}})


class Disconnected(Exception):
    """The client went away while sending its body: there is no one to reply to."""


async def reply(
    state: State, send: Send, status: int, body: bytes, headers: Headers, content_type: bytes = JSON
) -> None:
    state.stats.responses_by_status[status] += 1
    headers.append((b"content-length", str(len(body)).encode()))
    if body or status != 204:
        headers.append((b"content-type", content_type))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_error(state: State, send: Send, headers: Headers, error: ApiError) -> None:
    headers.extend(error.headers)
    await reply(state, send, error.status, envelope(error.code, error.message, error.details), headers)


async def read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise ApiError(413, "PAYLOAD_TOO_LARGE", f"the request body exceeds {MAX_BODY} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
