"""`PyreqwestTransport`: pyreqwest's Rust client (reqwest + hyper on a tokio runtime). asyncio only.

The connection pool, HTTP parsing and TLS run in Rust, outside the GIL, so it spends the least
Python CPU per request of the transports. Extra `pyreqwest` (Python 3.11 and newer). Redirects
are not followed, bodies are returned as sent (no automatic decompression, like the default
transport), and pyreqwest's own status errors are off: the SDK maps statuses itself.
"""

from __future__ import annotations

import asyncio
import importlib
from datetime import timedelta
from typing import Any

from .._errors import APIConnectionError, APITimeoutError
from .._types import Request, Response
from ._base import connection_lost, not_connected, timed_out
from ._deadline import fail_after

_CONNECT_TIMEOUT = 10.0


def _import(name: str) -> Any:
    try:
        # importlib keeps mypy (and Python 3.10, where pyreqwest does not install) off the module.
        return importlib.import_module(name)
    except ImportError as exc:  # pragma: no cover - depends on the extra
        raise ImportError(
            "PyreqwestTransport needs pyreqwest (Python 3.11+): pip install 'asyncapi-client[pyreqwest]'"
        ) from exc


class PyreqwestTransport:
    """`PyreqwestTransport(max_connections=100, keepalive_expiry=30.0, verify=True)`.

    `max_connections` bounds requests in flight (pyreqwest queues the rest); idle connections are
    kept `keepalive_expiry` seconds. The client is built lazily, inside the running event loop.
    """

    def __init__(
        self,
        *,
        max_connections: int = 100,
        keepalive_expiry: float = 30.0,
        connect_timeout: float = _CONNECT_TIMEOUT,
        verify: bool = True,
    ) -> None:
        if max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, got {max_connections}")
        if keepalive_expiry < 0:
            raise ValueError(f"keepalive_expiry must be >= 0, got {keepalive_expiry}")
        client_module = _import("pyreqwest.client")
        self._exc = _import("pyreqwest.exceptions")
        self.max_connections = max_connections
        self._builder = (
            client_module.ClientBuilder()
            # pyreqwest's own in-flight limit keeps the slot of a cancelled request (measured
            # with 0.15): the transport bounds requests in flight itself, with a semaphore.
            .max_connections(None)
            .pool_max_idle_per_host(max_connections)
            .pool_idle_timeout(timedelta(seconds=keepalive_expiry))
            .connect_timeout(timedelta(seconds=connect_timeout))
            .follow_redirects(False)
            .error_for_status(False)
            .gzip(False)
            .brotli(False)
            .zstd(False)
            .deflate(False)
            .referer(False)
            .danger_accept_invalid_certs(not verify)
        )
        self._client: Any = None
        self._slots: asyncio.Semaphore | None = None
        self._closed = False
        self._timeouts: dict[float, timedelta] = {}
        exc = self._exc
        self._not_sent_timeouts = (exc.ConnectTimeoutError, exc.PoolTimeoutError)
        self._not_sent = (exc.ConnectError, exc.BuilderError, exc.ClientClosedError)

    def _timedelta(self, seconds: float) -> timedelta:
        value = self._timeouts.get(seconds)
        if value is None:
            value = timedelta(seconds=seconds)
            if len(self._timeouts) < 256:
                self._timeouts[seconds] = value
        return value

    async def send(self, request: Request) -> Response:
        """Send through pyreqwest's client (see `Transport.send`)."""
        client = self._client
        if client is None:
            if self._closed:
                raise APIConnectionError(
                    f"the transport is closed ({request.method} {request.url})",
                    request=request,
                    request_sent=False,
                )
            client = self._client = self._builder.build()
            self._slots = asyncio.Semaphore(self.max_connections)
        builder = client.request(request.method, request.url).headers(request.headers)
        if request.content is not None:
            builder = builder.body_bytes(request.content)
        if request.timeout is not None:
            builder = builder.timeout(self._timedelta(request.timeout))
        slots = self._slots
        assert slots is not None
        if slots.locked():
            await self._wait_for_slot(slots, request)
        else:
            await slots.acquire()
        try:
            raw = await builder.build().send()
            body = await raw.bytes()
        except self._exc.PyreqwestError as exc:
            raise self._wrap(exc, request) from None
        finally:
            slots.release()
        return Response._trusted(raw.status, dict(raw.headers.items()), body.to_bytes(), request)

    async def _wait_for_slot(self, slots: asyncio.Semaphore, request: Request) -> None:
        # fail_after (the shared timer wheel), not asyncio.wait_for: wait_for makes a task per
        # waiter, which at concurrency 256 on a pool of 100 doubled the CPU per request.
        try:
            with fail_after(request.timeout):
                await slots.acquire()
        except TimeoutError:
            raise APITimeoutError(
                f"{request.method} {request.url} waited {request.timeout}s for a free connection",
                request=request,
                request_sent=False,
            ) from None

    def _wrap(self, exc: Exception, request: Request) -> APIConnectionError:
        if isinstance(exc, self._exc.RequestTimeoutError):
            return timed_out(request, exc, sent=not isinstance(exc, self._not_sent_timeouts))
        if isinstance(exc, self._not_sent):
            return not_connected(request, exc)
        return connection_lost(request, exc)

    async def aclose(self) -> None:
        """Close the client and its pool. Idempotent."""
        self._closed = True
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    def __repr__(self) -> str:
        return f"PyreqwestTransport(max_connections={self.max_connections})"
