"""The sandbox ASGI application: lifespan and the router.

A plain ASGI callable with a small router rather than a framework's request/response objects:
the sandbox is the peer of benchmarks, so its hot path (`GET /api/v1/projects`) stays short.
Every response echoes `X-Request-Id` (or one made up); then the path picks the job:

- `/api/v1/...`: the API gate (`_api.py`: auth, rate limit, routing, faults, idempotency);
- `/oauth/token`: the token endpoint (`_token.py`);
- `/oauth/authorize`: the authorization endpoint and its consent page (`_authorize.py`);
- `/oauth/revoke`, `/oauth/introspect`: RFC 7009 and RFC 7662 (`_revocation.py`);
- `/_sandbox/...`: the admin routes (`_admin.py`), outside the API's counters.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any

import anyio

from ._admin import configure, serve_admin
from ._api import serve_api
from ._asgi import Disconnected, Headers, Receive, Scope, Send, send_error
from ._authorize import serve_authorize
from ._config import SandboxConfig
from ._delivery import DeliveryWorker
from ._errors import ApiError
from ._revocation import serve_revocation
from ._state import State
from ._token import serve_token


class SandboxApp:
    """The ASGI app. `state` is its data; `config` the options in force."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.state = State(config or SandboxConfig())
        self.worker = DeliveryWorker(self.state)

    @property
    def config(self) -> SandboxConfig:
        """The configuration the app runs with now (`configure()` changes it)."""
        return self.state.config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    # -- lifespan -------------------------------------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "lifespan.startup":
            return
        async with anyio.create_task_group() as task_group:
            self.worker.start(task_group)
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
            task_group.cancel_scope.cancel()
        await self.worker.aclose()
        await send({"type": "lifespan.shutdown.complete"})

    # -- router ---------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        request_id = b""
        authorization = b""
        content_type = b""
        idempotency_key: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value
            elif name == b"x-request-id":
                request_id = value
            elif name == b"content-type":
                content_type = value
            elif name == b"idempotency-key":
                idempotency_key = value
        if not request_id or len(request_id) > 200:
            request_id = b"req_" + os.urandom(8).hex().encode()
        base: Headers = [(b"x-request-id", request_id)]
        state = self.state
        if path.startswith("/_sandbox/"):
            with contextlib.suppress(Disconnected):
                await serve_admin(state, scope, receive, send, path, base)
            return
        stats = state.stats
        stats.requests_total += 1
        stats.in_flight += 1
        if stats.in_flight > stats.max_in_flight:
            stats.max_in_flight = stats.in_flight
        try:
            if path.startswith("/api/v1/"):
                await serve_api(
                    state,
                    self.worker,
                    scope,
                    receive,
                    send,
                    path,
                    base,
                    authorization,
                    content_type,
                    idempotency_key,
                )
            elif path == "/oauth/token":
                await serve_token(state, scope, receive, send, base, authorization, content_type)
            elif path == "/oauth/authorize":
                await serve_authorize(state, scope, receive, send, base)
            elif path in ("/oauth/revoke", "/oauth/introspect"):
                await serve_revocation(
                    state,
                    scope,
                    receive,
                    send,
                    base,
                    authorization,
                    content_type,
                    introspect=path == "/oauth/introspect",
                )
            else:
                await send_error(state, send, base, ApiError(404, "NOT_FOUND", f"no such endpoint: {path}"))
        except Disconnected:
            pass
        finally:
            stats.in_flight -= 1

    def configure(self, options: Any) -> SandboxConfig:
        """Change runtime options (`RUNTIME_OPTIONS`); ValueError names what is wrong."""
        return configure(self.state, options)


def create_app(config: SandboxConfig | None = None, **options: Any) -> SandboxApp:
    """The sandbox as an ASGI app: `create_app(SandboxConfig(...))` or `create_app(rate=5, ...)`."""
    if config is not None and options:
        raise TypeError("pass a SandboxConfig or keyword options, not both")
    return SandboxApp(config or SandboxConfig(**options))
