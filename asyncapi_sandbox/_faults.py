"""Fault injection on /api/v1: one seeded draw per request decides a fault, if any.

`fail` (500/502/503), `malformed` (a 200 whose body is not JSON) and `drop` on a GET are served
*before* processing: nothing changes. `drop` on a POST, PATCH or DELETE and `truncate` on any
method happen *after* processing: the change is made and its reply is lost, which is the case
`Idempotency-Key` exists for.
"""

from __future__ import annotations

from typing import Any, Final

import anyio
import anyio.lowlevel

from ._asgi import Headers, Send, reply, send_error
from ._config import SandboxConfig
from ._errors import ApiError, ConnectionDropped
from ._state import State

_FAIL_REPLIES: Final = (
    (500, "INTERNAL", "injected fault: internal server error"),
    (502, "BAD_GATEWAY", "injected fault: bad gateway"),
    (503, "UNAVAILABLE", "injected fault: service unavailable"),
)
_MALFORMED_BODY: Final = b'{"data": [{"id": 1, "name": "<html><body>upstream said no</body></html>'


def draw_fault(state: State, config: SandboxConfig) -> str | None:
    total = config.fail_rate + config.drop_rate + config.malformed_rate + config.truncate_rate
    if total <= 0:
        return None
    draw = state.fault_random.random()
    if draw >= total:
        return None
    draw -= config.fail_rate
    if draw < 0:
        return "fail"
    draw -= config.drop_rate
    if draw < 0:
        return "drop"
    draw -= config.malformed_rate
    return "malformed" if draw < 0 else "truncate"


def after_processing(fault: str | None, method: str) -> bool:
    """Whether `fault` loses the reply of a request that was processed (else nothing changes)."""
    return fault == "truncate" or (fault == "drop" and method in ("POST", "PATCH", "DELETE"))


async def sleep_latency(state: State, config: SandboxConfig) -> None:
    delay = config.latency_ms
    if config.jitter_ms:
        delay += state.fault_random.uniform(0, config.jitter_ms)
    if delay > 0:
        await anyio.sleep(delay / 1000)


async def serve_fault_before(state: State, send: Send, fault: str, headers: Headers) -> None:
    """Serve a fault in place of processing: a dropped connection, a malformed 200, or a 5xx."""
    state.stats.faults[fault] += 1
    if fault == "drop":
        await drop(send)
    elif fault == "malformed":
        await reply(state, send, 200, _MALFORMED_BODY, headers)
    else:
        status, code, message = _FAIL_REPLIES[state.fault_random.randrange(3)]
        await send_error(state, send, headers, ApiError(status, code, message))


async def serve_fault_after(
    state: State, send: Send, fault: str, status: int, body: bytes, headers: Headers, content_type: bytes
) -> None:
    """Lose the reply of a processed request: drop the connection, or cut the body short."""
    state.stats.faults[fault] += 1
    if fault == "drop":
        await drop(send)
    else:
        await _truncate(state, send, status, body, headers, content_type)


def _transport(send: Send) -> Any:
    # uvicorn's `send` is a bound method of its request cycle, which holds the socket's
    # asyncio transport: aborting it closes the connection with no reply at all (uvicorn
    # would answer 500 to an app that returns without replying).
    cycle = getattr(send, "__self__", None)
    return getattr(cycle, "transport", None)


async def drop(send: Send) -> None:
    transport = _transport(send)
    if transport is None:
        raise ConnectionDropped("sandbox fault: connection dropped")
    transport.abort()
    # Let the server see the lost connection before this app returns.
    await anyio.lowlevel.checkpoint()
    await anyio.lowlevel.checkpoint()


async def _truncate(
    state: State, send: Send, status: int, body: bytes, headers: Headers, content_type: bytes
) -> None:
    state.stats.responses_by_status[status] += 1
    full = body or b"{}"
    headers.append((b"content-length", str(len(full) + 16).encode()))
    headers.append((b"content-type", content_type))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": full[: len(full) // 2], "more_body": True})
    await drop(send)
