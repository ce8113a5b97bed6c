"""The default transport, on httpx's own transport layer (httpcore).

httpx's client layer (URL and header models, event hooks, cookies, redirects) costs more CPU per
request than the network round trip on loopback, and this SDK already does that work once in its
own types. So the transport drives httpcore's connection pool directly: the same connections,
TLS and HTTP/2 as httpx, without paying for the client layer twice. Redirects are not followed
(an `Authorization` header must never reach another origin).

Keep-alive is sized to the pool: httpx's default (100 connections, 20 kept alive) churns TCP
connections under load.
"""

from __future__ import annotations

import ssl
from typing import Any

import anyio
import httpcore

from .._errors import APIConnectionError, APITimeoutError
from .._types import Request, Response
from ._base import origin_and_target, split_origin

_CONNECT_TIMEOUT = 10.0


class HttpxTransport:
    """HTTP/1.1 (and optionally HTTP/2) over httpcore's pool.

    `max_connections` bounds concurrent connections; all of them are kept alive
    (`keepalive_expiry` seconds idle). `verify=False` turns TLS verification off: only for tests.
    """

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
        self.max_connections = max_connections
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=_ssl_context(verify),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=keepalive_expiry,
            http1=True,
            http2=http2,
            retries=0,
        )
        self._urls: dict[str, tuple[bytes, bytes, int, bytes]] = {}

    def _origin(self, origin: str) -> tuple[bytes, bytes, int, bytes]:
        cached = self._urls.get(origin)
        if cached is None:
            scheme, host, port, _ = split_origin(origin + "/")
            netloc = origin.partition("://")[2]
            cached = (scheme.encode(), host.encode(), port, netloc.encode())
            if len(self._urls) < 1024:
                self._urls[origin] = cached
        return cached

    async def send(self, request: Request) -> Response:
        origin, target = origin_and_target(request.url)
        scheme, host, port, host_header = self._origin(origin)
        url = httpcore.URL(scheme=scheme, host=host, port=port, target=target.encode())
        headers: list[tuple[bytes, bytes]] = [(b"host", host_header)]
        headers.extend((k.encode(), v.encode()) for k, v in request.headers.items())
        content = request.content
        if content is not None:
            headers.append((b"content-length", str(len(content)).encode()))
        timeout = request.timeout
        connect = request.extensions.get("connect_timeout") or _CONNECT_TIMEOUT
        if timeout is not None:
            connect = min(connect, timeout)
        extensions: dict[str, Any] = {
            "timeout": {"connect": connect, "read": timeout, "write": timeout, "pool": timeout}
        }
        try:
            with anyio.fail_after(timeout):
                raw = await self._pool.request(
                    request.method, url, headers=headers, content=content, extensions=extensions
                )
        except TimeoutError:
            raise APITimeoutError(
                f"{request.method} {request.url} timed out after {timeout}s",
                request=request,
            ) from None
        except httpcore.TimeoutException as exc:
            sent = not isinstance(exc, (httpcore.ConnectTimeout, httpcore.PoolTimeout))
            raise APITimeoutError(
                f"{request.method} {request.url} timed out ({type(exc).__name__})",
                request=request,
                request_sent=sent,
            ) from None
        except (httpcore.ConnectError, httpcore.UnsupportedProtocol, httpcore.LocalProtocolError) as exc:
            raise APIConnectionError(
                f"could not connect for {request.method} {request.url}: {type(exc).__name__}",
                request=request,
                request_sent=False,
            ) from None
        except (httpcore.NetworkError, httpcore.ProtocolError, OSError) as exc:
            raise APIConnectionError(
                f"connection lost during {request.method} {request.url}: {type(exc).__name__}",
                request=request,
                request_sent=True,
            ) from None
        return Response._trusted(
            raw.status,
            {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw.headers},
            raw.content,
            request,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()

    def pool_status(self) -> tuple[int, int]:
        """(connections open, requests in flight): for tests that look for leaked slots."""
        conns = self._pool.connections
        busy = sum(1 for c in conns if not c.is_idle())
        return len(conns), busy

    def __repr__(self) -> str:
        return f"HttpxTransport(max_connections={self.max_connections})"


def _ssl_context(verify: bool | ssl.SSLContext) -> ssl.SSLContext:
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
