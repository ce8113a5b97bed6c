"""Serve an ASGI app in-process the way a server does: run its lifespan, then hand each request
a copy of the lifespan state (what uvicorn does; httpx's ASGITransport alone does neither)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from typing import Any

import anyio

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class LifespanFailed(RuntimeError):
    pass


@asynccontextmanager
async def running(app: ASGIApp) -> AsyncIterator[ASGIApp]:
    state: dict[str, Any] = {}
    scope: Scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": state}
    to_app_send, to_app_receive = anyio.create_memory_object_stream[Message](4)
    from_app_send, from_app_receive = anyio.create_memory_object_stream[Message](4)
    failure: list[BaseException] = []

    async def run() -> None:
        try:
            await app(scope, to_app_receive.receive, from_app_send.send)
        except Exception as exc:  # the app reported it as *.failed too
            failure.append(exc)
            await from_app_send.send({"type": "lifespan.failed", "message": repr(exc)})

    async def expect(kind: str) -> str | None:
        """None when the app answered `kind`, else why not."""
        message = await from_app_receive.receive()
        if message["type"] == kind:
            return None
        if message["type"].endswith("failed") and not failure:
            # Starlette sends *.failed, then re-raises: wait for the exception itself.
            await from_app_receive.receive()
        return str(message.get("message", message))

    async def app_with_state(inner: Scope, receive: Receive, send: Send) -> None:
        if inner["type"] in ("http", "websocket"):
            inner = {**inner, "state": dict(state)}
        await app(inner, receive, send)

    startup_error: str | None = None
    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        await to_app_send.send({"type": "lifespan.startup"})
        startup_error = await expect("lifespan.startup.complete")
        if startup_error is None:
            try:
                yield app_with_state
            finally:
                with anyio.CancelScope(shield=True):
                    await to_app_send.send({"type": "lifespan.shutdown"})
                    shutdown_error = await expect("lifespan.shutdown.complete")
                if shutdown_error is not None:
                    raise LifespanFailed(shutdown_error)
    if startup_error is not None:
        raise LifespanFailed(startup_error) from (failure[0] if failure else None)
