"""The engine shared by `HttpxTransport` (httpcore) and `Httpx2Transport` (httpcore2).

httpx's client layer (URL and header models, event hooks, cookies, redirects) costs more CPU per
request than the network round trip on loopback, and this SDK already does that work once in its
own types. So both transports drive the connection pool of httpx's transport layer directly: the
same connections, TLS and HTTP/2 as the client, without paying for the client layer twice.
httpcore2 (httpx2's transport layer) is a fork with the same API, so one class serves both,
parametrised by the module.

The hot path builds the pool's own `Request` (skipping `pool.request()`'s argument checks, which
re-validate what the SDK's types already guarantee), caches the per-origin URL parts, and reads
the body inside the same cancel scope that bounds the attempt. Redirects are not followed (an
`Authorization` header must never reach another origin).
"""

from __future__ import annotations

import ssl
from types import ModuleType
from typing import Any

from .._config import format_seconds
from .._errors import APIConnectionError, APITimeoutError
from .._types import Request, Response
from ._base import connection_lost, not_connected, split_origin, timed_out
from ._deadline import fail_after
from ._h1pool import Http1Pool

_CONNECT_TIMEOUT = 10.0
_MAX_CACHED_ORIGINS = 1024


class HttpcoreTransport:
    """HTTP/1.1 (and optionally HTTP/2) over an httpcore-API connection pool.

    `max_connections` bounds concurrent connections; all of them are kept alive
    (`keepalive_expiry` seconds idle). `verify=False` turns TLS verification off: only for tests.
    """

    _core: ModuleType  # httpcore or httpcore2, set by the subclass
    _name = "HttpcoreTransport"

    def __init__(
        self,
        *,
        max_connections: int = 100,
        keepalive_expiry: float = 30.0,
        http2: bool = False,
        verify: bool | ssl.SSLContext = True,
    ) -> None:
        if max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, got {max_connections}")
        if keepalive_expiry < 0:
            raise ValueError(f"keepalive_expiry must be >= 0, got {keepalive_expiry}")
        core = self._core
        self.max_connections = max_connections
        context = ssl_context(verify)
        # HTTP/1.1: our O(1) pool over httpcore's connections (see _h1pool.py). HTTP/2
        # multiplexes streams on one connection: that stays with httpcore's own pool.
        self._h1: Http1Pool | None = None
        self._pool: Any = None
        if http2:
            self._pool = core.AsyncConnectionPool(
                ssl_context=context,
                max_connections=max_connections,
                max_keepalive_connections=max_connections,
                keepalive_expiry=keepalive_expiry,
                http1=True,
                http2=True,
                retries=0,
            )
        else:
            self._h1 = Http1Pool(
                core, ssl_context=context, max_connections=max_connections, keepalive_expiry=keepalive_expiry
            )
        # origin string -> (scheme, host, port, Host header, httpcore Origin), for the URL.
        self._origins: dict[str, tuple[bytes, bytes, int, bytes, Any]] = {}
        self._Origin = core.Origin
        self._URL = core.URL
        self._Request = core.Request
        self._timeout_exc: type[BaseException] = core.TimeoutException
        self._not_sent_timeouts: tuple[type[BaseException], ...] = (core.ConnectTimeout, core.PoolTimeout)
        self._not_sent: tuple[type[BaseException], ...] = (
            core.ConnectError,
            core.UnsupportedProtocol,
            core.LocalProtocolError,
        )
        self._lost: tuple[type[BaseException], ...] = (core.NetworkError, core.ProtocolError, OSError)

    def _origin(self, origin: str) -> tuple[bytes, bytes, int, bytes, Any]:
        scheme, host, port, _ = split_origin(origin + "/")
        netloc = origin.partition("://")[2]
        parts = (scheme.encode(), host.encode(), port)
        cached = (*parts, netloc.encode(), self._Origin(*parts))
        if len(self._origins) < _MAX_CACHED_ORIGINS:
            self._origins[origin] = cached
        return cached

    async def send(self, request: Request) -> Response:
        url_text = request.url
        # origin = scheme://netloc, target = /path?query (inlined origin_and_target).
        slash = url_text.find("/", url_text.find("//") + 2)
        if slash < 0:
            origin, target = url_text, "/"
        else:
            origin, target = url_text[:slash], url_text[slash:]
        parts = self._origins.get(origin)
        if parts is None:
            parts = self._origin(origin)
        scheme, host, port, host_header, core_origin = parts
        url = self._URL(scheme=scheme, host=host, port=port, target=target.encode())
        headers: list[tuple[bytes, bytes]] = [(b"host", host_header)]
        headers += [(k.encode(), v.encode()) for k, v in request.headers.items()]
        content = request.content
        if content is not None:
            headers.append((b"content-length", str(len(content)).encode()))
        else:
            content = b""
        timeout = request.timeout
        connect = request.extensions.get("connect_timeout") or _CONNECT_TIMEOUT
        if timeout is not None and timeout < connect:
            connect = timeout
        core_request = self._Request(
            request.method,
            url,
            headers=headers,
            content=content,
            extensions={"timeout": {"connect": connect, "read": timeout, "write": timeout, "pool": timeout}},
        )
        try:
            # One scope bounds the whole attempt: waiting for a slot, connecting, sending and
            # reading the body. httpcore's own timeouts bound each socket operation inside it.
            with fail_after(timeout):
                if self._h1 is not None:
                    raw, body = await self._h1.request(origin, core_origin, core_request)
                else:
                    raw = await self._pool.handle_async_request(core_request)
                    try:
                        body = await raw.aread()
                    finally:
                        await raw.aclose()
        except TimeoutError:
            raise APITimeoutError(
                f"{request.method} {url_text} timed out after {format_seconds(timeout)}",
                request=request,
            ) from None
        except Exception as exc:
            wrapped = self._wrap(exc, request)
            if wrapped is None:
                raise
            raise wrapped from None
        return Response._trusted(
            raw.status,
            {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw.headers},
            body,
            request,
        )

    def _wrap(self, exc: Exception, request: Request) -> APIConnectionError | None:
        if isinstance(exc, self._timeout_exc):
            return timed_out(request, exc, sent=not isinstance(exc, self._not_sent_timeouts))
        if isinstance(exc, self._not_sent):
            return not_connected(request, exc)
        if isinstance(exc, self._lost):
            return connection_lost(request, exc)
        return None

    async def aclose(self) -> None:
        """Close every pooled connection. Idempotent."""
        if self._h1 is not None:
            await self._h1.aclose()
        else:
            await self._pool.aclose()

    def pool_status(self) -> tuple[int, int]:
        """(connections open, requests in flight): for tests that look for leaked slots."""
        if self._h1 is not None:
            return self._h1.status()
        conns = self._pool.connections
        busy = sum(1 for c in conns if not c.is_idle())
        return len(conns), busy

    def __repr__(self) -> str:
        return f"{self._name}(max_connections={self.max_connections})"


def ssl_context(verify: bool | ssl.SSLContext) -> ssl.SSLContext:
    if isinstance(verify, ssl.SSLContext):
        return verify
    if not verify:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    try:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:  # pragma: no cover - httpx depends on certifi
        return ssl.create_default_context()
