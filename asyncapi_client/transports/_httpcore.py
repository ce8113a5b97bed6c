"""`HttpcoreTransport`, the default: httpcore's connections, without httpx's client layer.

httpx's client layer (URL and header models, event hooks, cookies, redirects) costs more CPU per
request than the network round trip on loopback, and this SDK already does that work once in its
own types. So the transport drives httpcore (httpx's transport layer) directly: the same
connections, TLS, HTTP/2 and proxy support as httpx, without paying for the client layer twice.
`Httpcore2Transport` (`_httpcore2.py`) is the same class over httpcore2, httpx2's fork of it.

Where a request goes, decided once per origin and cached:

- direct, HTTP/1.1: our O(1) pool (`_h1pool.Http1Pool`) over httpcore's connection objects, when
  the httpcore installed is one whose internals it was tested against (`fast_path_problem`);
  otherwise httpcore's public `AsyncConnectionPool`, which is slower, never wrong;
- direct, HTTP/2 (`http2=True`): httpcore's `AsyncConnectionPool` (one connection, many streams);
- through a proxy (`proxy=` or the environment, see `_proxy.py`): httpcore's `AsyncHTTPProxy`, one
  pool per proxy (absolute-form requests for http, a `CONNECT` tunnel for https).

The hot path builds httpcore's own `Request` (skipping `pool.request()`'s argument checks, which
re-validate what the SDK's types already guarantee) and reads the body through `BodyReader`
(decoding, size limit) inside the same deadline that bounds the attempt. Redirects are not
followed (an `Authorization` header must never reach another origin).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, ClassVar

import httpcore

from .._config import format_seconds
from .._errors import APIConnectionError, APITimeoutError
from .._types import Request, Response, new_response
from ._base import connection_lost, not_connected, split_origin, timed_out
from ._body import ACCEPT_ENCODING, DEFAULT_MAX_RESPONSE_BYTES, BodyReader
from ._deadline import fail_after
from ._h1pool import Http1Pool, fast_path_problem
from ._options import DEFAULT_CONNECT_TIMEOUT, TransportOptions
from ._proxy import Proxy
from ._tls import CertTypes, VerifyTypes

_MAX_CACHED_ORIGINS = 1024
_ACCEPT_ENCODING = (b"accept-encoding", ACCEPT_ENCODING.encode())


class HttpcoreTransport:
    """HTTP/1.1 (and HTTP/2 with `http2=True`, which needs `h2`) over httpcore: the default.

    `max_connections` bounds concurrent connections (per pool: direct, and per proxy), and all
    of them are kept alive (`keepalive_expiry` seconds idle). `connect_timeout` bounds connecting
    when a request does not say (the client's `Timeout.connect` does). `verify`, `cert`,
    `trust_env`, `proxy` and `max_response_bytes`: see docs/transports.md.
    """

    bounds_each_send: ClassVar[bool] = True
    """Every `send` ends by `request.timeout`, on the real clock, whatever the server does (the
    client relies on it to leave out its backstop: see `_shared_state.pipeline_bounded`)."""
    _core: ModuleType = httpcore  # httpcore2 in Httpcore2Transport
    _name = "HttpcoreTransport"

    def __init__(
        self,
        *,
        max_connections: int = 100,
        keepalive_expiry: float = 30.0,
        http2: bool = False,
        verify: VerifyTypes = True,
        cert: CertTypes | None = None,
        trust_env: bool = True,
        proxy: str | None = None,
        max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> None:
        options = TransportOptions(
            self._name,
            max_connections=max_connections,
            keepalive_expiry=keepalive_expiry,
            connect_timeout=connect_timeout,
            verify=verify,
            cert=cert,
            trust_env=trust_env,
            proxy=proxy,
            max_response_bytes=max_response_bytes,
        )
        if not isinstance(http2, bool):
            raise TypeError(f"{self._name}: http2 must be True or False, got {http2!r}")
        core = self._core
        self.max_connections = options.max_connections
        self._options = options
        self._http2 = http2
        self._limit = options.max_response_bytes
        self._connect_timeout = options.connect_timeout
        self._ssl_context = options.ssl_context()
        #: Why the fast HTTP/1.1 pool is not used (None: it is). See `fast_path_problem`.
        self.fast_path_problem = "HTTP/2 is on: httpcore's own pool" if http2 else fast_path_problem(core)
        self._h1: Http1Pool | None = None
        self._pool: Any = None
        if self.fast_path_problem is None:
            self._h1 = Http1Pool(
                core,
                ssl_context=self._ssl_context,
                max_connections=self.max_connections,
                keepalive_expiry=options.keepalive_expiry,
            )
        else:
            self._pool = core.AsyncConnectionPool(**self._pool_options())
        self._proxy_pools: dict[Proxy, Any] = {}
        # origin string -> (scheme, host, port, Host header, httpcore Origin, pool or None: ours)
        self._origins: dict[str, tuple[bytes, bytes, int, bytes, Any, Any]] = {}
        self._Origin = core.Origin
        self._URL = core.URL
        self._Request = core.Request
        self._timeout_exc: type[BaseException] = core.TimeoutException
        self._not_sent_timeouts: tuple[type[BaseException], ...] = (core.ConnectTimeout, core.PoolTimeout)
        self._not_sent: tuple[type[BaseException], ...] = (
            core.ConnectError,
            core.UnsupportedProtocol,
            core.LocalProtocolError,
            core.ProxyError,
        )
        self._lost: tuple[type[BaseException], ...] = (core.NetworkError, core.ProtocolError, OSError)

    def _pool_options(self) -> dict[str, Any]:
        return {
            "ssl_context": self._ssl_context,
            "max_connections": self.max_connections,
            "max_keepalive_connections": self.max_connections,
            "keepalive_expiry": self._options.keepalive_expiry,
            "http1": True,
            "http2": self._http2,
            "retries": 0,
        }

    def _proxy_pool(self, proxy: Proxy) -> Any:
        pool = self._proxy_pools.get(proxy)
        if pool is None:
            pool = self._proxy_pools[proxy] = self._core.AsyncHTTPProxy(
                proxy_url=proxy.url,
                proxy_auth=proxy.auth,
                proxy_ssl_context=self._ssl_context if proxy.scheme == "https" else None,
                **self._pool_options(),
            )
        return pool

    def _origin(self, origin: str) -> tuple[bytes, bytes, int, bytes, Any, Any]:
        scheme, host, port, _ = split_origin(origin + "/")
        netloc = origin.partition("://")[2]
        proxy = self._options.proxy_for(scheme, host, port)
        pool = self._proxy_pool(proxy) if proxy is not None else self._pool
        parts = (scheme.encode(), host.encode(), port)
        cached = (*parts, netloc.encode(), self._Origin(*parts), pool)
        if len(self._origins) < _MAX_CACHED_ORIGINS:
            self._origins[origin] = cached
        return cached

    async def send(self, request: Request) -> Response:
        """Send over httpcore's connections (see `Transport.send`)."""
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
        scheme, host, port, host_header, core_origin, pool = parts
        url = self._URL(scheme=scheme, host=host, port=port, target=target.encode())
        request_headers = request.headers
        headers: list[tuple[bytes, bytes]] = [(b"host", host_header)]
        headers += [(k.encode(), v.encode()) for k, v in request_headers.items()]
        if "accept-encoding" not in request_headers:
            headers.append(_ACCEPT_ENCODING)
        content = request.content
        if content is not None:
            headers.append((b"content-length", str(len(content)).encode()))
        else:
            content = b""
        timeout = request.timeout
        connect = request.extensions.get("connect_timeout") or self._connect_timeout
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
            # One deadline bounds the whole attempt: waiting for a slot, connecting, sending and
            # reading the body. httpcore's own timeouts bound each socket operation inside it.
            with fail_after(timeout):
                if pool is None:
                    assert self._h1 is not None
                    return await self._h1.request(origin, core_origin, core_request, self._read, request)
                raw = await pool.handle_async_request(core_request)
                try:
                    return await self._read(raw, request)
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
            raise wrapped from exc

    async def _read(self, raw: Any, request: Request) -> Response:
        """The response: headers merged (a repeated one joined with ", "), body decoded and
        counted against the size limit as it streams in."""
        headers: dict[str, str] = {}
        for key, value in raw.headers:
            name = key.decode("latin-1").lower()
            if name in headers:
                headers[name] += ", " + value.decode("latin-1")
            else:
                headers[name] = value.decode("latin-1")
        reader = BodyReader(request, raw.status, headers, self._limit)
        async for chunk in raw.aiter_stream():
            reader.feed(chunk)
        return new_response(raw.status, headers, reader.finish(), request)

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
        for pool in self._proxy_pools.values():
            await pool.aclose()

    def pool_status(self) -> tuple[int, int]:
        """(connections open, requests in flight), over every pool: for tests that look for
        leaked slots."""
        opened, busy = self._h1.status() if self._h1 is not None else _public_status(self._pool)
        for pool in self._proxy_pools.values():
            more_open, more_busy = _public_status(pool)
            opened += more_open
            busy += more_busy
        return opened, busy

    def __repr__(self) -> str:
        proxies = self._options.proxies.proxies
        shown = f", proxy={proxies[0].url!r}" if len(proxies) == 1 else ""
        return f"{self._name}(max_connections={self.max_connections}{shown})"


def _public_status(pool: Any) -> tuple[int, int]:
    conns = pool.connections
    return len(conns), sum(1 for c in conns if not c.is_idle())
