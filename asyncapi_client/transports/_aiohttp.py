"""`AiohttpTransport`: aiohttp's client, the fast path for ingestion jobs. asyncio only.

aiohttp is imported here and nowhere else, so `import asyncapi_client` does not pay for it.
Redirects are not followed, so `Authorization` never reaches another origin. aiohttp's own
decompression is off: the body goes through the same `BodyReader` as every transport's (one
set of encodings, counted against `max_response_bytes`). Proxies are chosen by `_proxy.py`, not
by aiohttp's `trust_env`, and passed per request without credentials in the URL.
"""

from __future__ import annotations

import asyncio
import inspect
import math
from typing import Any, ClassVar

from .._types import Request, Response, new_response
from ._base import connection_lost, not_connected, split_origin, timed_out
from ._body import ACCEPT_ENCODING, DEFAULT_MAX_RESPONSE_BYTES, BodyReader, plain_within, response_headers
from ._deadline import fail_after
from ._options import DEFAULT_CONNECT_TIMEOUT, TransportOptions
from ._tls import CertTypes, VerifyTypes

_MAX_CACHED_ORIGINS = 1024
_Route = tuple[str | None, dict[str, str] | None, dict[str, str] | None]
_DIRECT: _Route = (None, None, None)


class AiohttpTransport:
    """One `aiohttp.ClientSession`, created lazily inside the running event loop.

    Options as `HttpcoreTransport`'s (no `http2`: aiohttp speaks HTTP/1.1 only).
    """

    bounds_each_send: ClassVar[bool] = True
    """Every `send` ends by `request.timeout`, on the real clock, whatever the server does (the
    client relies on it to leave out its backstop: see `_shared_state.pipeline_bounded`)."""

    def __init__(
        self,
        *,
        max_connections: int = 100,
        keepalive_expiry: float = 30.0,
        verify: VerifyTypes = True,
        cert: CertTypes | None = None,
        trust_env: bool = True,
        proxy: str | None = None,
        max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    ) -> None:
        try:
            import aiohttp
        except ImportError as exc:  # pragma: no cover - depends on the extra
            raise ImportError(
                "AiohttpTransport needs aiohttp: pip install 'asyncapi-client[aiohttp]'"
            ) from exc
        options = TransportOptions(
            "AiohttpTransport",
            max_connections=max_connections,
            keepalive_expiry=keepalive_expiry,
            connect_timeout=connect_timeout,
            verify=verify,
            cert=cert,
            trust_env=trust_env,
            proxy=proxy,
            max_response_bytes=max_response_bytes,
        )
        self.max_connections = options.max_connections
        self._options = options
        self._limit = options.max_response_bytes
        self._connect_timeout = options.connect_timeout
        self._ssl = options.ssl_context()
        self._session: Any = None
        self._timeouts: dict[int, Any] = {}
        # origin -> (proxy URL, headers for its CONNECT, headers to add to a plain-http request),
        # or (None, None, None): decided once per origin.
        self._proxy_of: dict[str, _Route] = {}
        # Looked up once: the hot path neither imports nor builds tuples.
        self._timeout_errors: tuple[type[BaseException], ...] = (
            asyncio.TimeoutError,
            aiohttp.ServerTimeoutError,
        )
        self._connect_timeout_error: type[BaseException] = aiohttp.ConnectionTimeoutError
        self._not_sent_errors: tuple[type[BaseException], ...] = (
            aiohttp.ClientConnectorError,
            aiohttp.ClientHttpProxyError,
            aiohttp.InvalidURL,
        )
        self._lost_errors: tuple[type[BaseException], ...] = (aiohttp.ClientError, OSError)
        # `session.request(...)` wraps `session._request(...)` (the coroutine that sends) in a
        # context manager, through a `**kwargs` call: awaited, that is three Python calls a
        # request for nothing. On aiohttp 3, whose wrapper does nothing else, the coroutine is
        # called directly; on any other version (or without it), the public method.
        private = getattr(aiohttp.ClientSession, "_request", None)
        self._direct = aiohttp.__version__.startswith("3.") and inspect.iscoroutinefunction(private)
        self._send: Any = None  # the session's request call, bound with the session

    def _get_session(self) -> Any:
        import aiohttp

        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self.max_connections,
                limit_per_host=0,
                keepalive_timeout=self._options.keepalive_expiry,
                ssl=self._ssl,
            )
            # No skip_auto_headers: the SDK always sends its own User-Agent, and skipping costs
            # about 4 microseconds a request (measured).
            # DummyCookieJar: an API client keeps no cookies; with one session shared by every
            # view (one per user), a cookie jar would carry one user's cookies to the next.
            # The session's Accept-Encoding is a default: a request's own one wins.
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                headers={"Accept-Encoding": ACCEPT_ENCODING},
                trust_env=False,
            )
            self._send = self._session._request if self._direct else self._session.request
        return self._session

    def _proxy(self, origin: str) -> _Route:
        scheme, host, port, _ = split_origin(origin + "/")
        proxy = self._options.proxy_for(scheme, host, port)
        found = _DIRECT
        if proxy is not None:
            authorization = proxy.authorization()
            if authorization is None:
                found = (proxy.url, None, None)
            elif scheme == "https":  # aiohttp sends proxy_headers on the CONNECT only
                found = (proxy.url, {"Proxy-Authorization": authorization}, None)
            else:  # plain http goes to the proxy as the request itself: the header goes on it
                found = (proxy.url, None, {"proxy-authorization": authorization})
        if len(self._proxy_of) < _MAX_CACHED_ORIGINS:
            self._proxy_of[origin] = found
        return found

    def _timeout(self, connect: float) -> Any:
        """aiohttp's ClientTimeout for this connect bound, cached.

        Only `connect` goes to aiohttp (the attempt is bounded by our deadline), and it is cached
        by its value rounded up to 10 ms: the retry layer cuts each attempt's timeout to what is
        left of the call, so keying on that float made a new ClientTimeout per request."""
        import aiohttp

        key = math.ceil(connect * 100)
        timeout = self._timeouts.get(key)
        if timeout is None:
            timeout = aiohttp.ClientTimeout(total=None, connect=key / 100)
            if len(self._timeouts) < 1024:
                self._timeouts[key] = timeout
        return timeout

    async def send(self, request: Request) -> Response:
        """Send through the aiohttp session (see `Transport.send`)."""
        if self._session is None:
            self._get_session()
        url = request.url
        timeout = request.timeout
        connect = request.extensions.get("connect_timeout") or self._connect_timeout
        if timeout is not None and timeout < connect:
            connect = timeout
        client_timeout = self._timeouts.get(math.ceil(connect * 100))
        if client_timeout is None:
            client_timeout = self._timeout(connect)
        slash = url.find("/", url.find("//") + 2)
        origin = url if slash < 0 else url[:slash]
        route = self._proxy_of.get(origin)
        if route is None:
            route = self._proxy(origin)
        headers = request.headers
        if route[2] is not None:
            headers = {**headers, **route[2]}
        try:
            # The attempt's bound is our shared-wheel deadline rather than aiohttp's `total`,
            # which costs a timer handle per request; aiohttp's `connect` bounds waiting for a
            # pooled connection and connecting (free when a pooled connection is ready).
            with fail_after(timeout):
                # Awaited, not `async with`: the context manager's enter and exit cost a dozen
                # Python calls per request (measured), and `read()` hands the connection back
                # to the pool when the body ends. What can leave a body unread, an exception or
                # a cancellation, closes the response below, as the context manager would.
                raw = await self._send(
                    request.method,
                    url,
                    headers=headers,
                    data=request.content,
                    allow_redirects=False,
                    timeout=client_timeout,
                    proxy=route[0],
                    proxy_headers=route[1],
                )
                try:
                    status = raw.status
                    received = response_headers(raw.headers)
                    if plain_within(received, self._limit):
                        # Plain and within the limit by its Content-Length: aiohttp reads exactly that.
                        return new_response(status, received, await raw.read(), request)
                    reader = BodyReader(request, status, received, self._limit)
                    content = raw.content
                    while True:
                        chunk = await content.readany()
                        if not chunk:
                            break
                        reader.feed(chunk)
                    return new_response(status, received, reader.finish(), request)
                except BaseException:
                    # The rest of the body is never read: the connection cannot be reused.
                    raw.close()
                    raise
        except self._timeout_errors as exc:
            raise timed_out(request, exc, sent=not isinstance(exc, self._connect_timeout_error)) from exc
        except self._not_sent_errors as exc:
            raise not_connected(request, exc) from exc
        except self._lost_errors as exc:
            raise connection_lost(request, exc) from exc

    async def aclose(self) -> None:
        """Close the aiohttp session, if this transport made it."""
        if self._session is not None:
            await self._session.close()
            self._session = self._send = None

    def __repr__(self) -> str:
        proxies = self._options.proxies.proxies
        shown = f", proxy={proxies[0].url!r}" if len(proxies) == 1 else ""
        return f"AiohttpTransport(max_connections={self.max_connections}{shown})"
