"""`AiohttpTransport`: aiohttp's client, the fast path for ingestion jobs. asyncio only.

aiohttp is imported here and nowhere else, so `import asyncapi_client` does not pay for it.
Redirects are not followed, so `Authorization` never reaches another origin.
"""

from __future__ import annotations

import asyncio
import math
import ssl
from typing import Any

from .._types import Request, Response
from ._base import connection_lost, not_connected, timed_out
from ._deadline import fail_after

_CONNECT_TIMEOUT = 10.0


class AiohttpTransport:
    """One `aiohttp.ClientSession`, created lazily inside the running event loop."""

    def __init__(
        self,
        *,
        max_connections: int = 100,
        keepalive_expiry: float = 30.0,
        verify: bool | ssl.SSLContext = True,
    ) -> None:
        try:
            import aiohttp
        except ImportError as exc:  # pragma: no cover - depends on the extra
            raise ImportError(
                "AiohttpTransport needs aiohttp: pip install 'asyncapi-client[aiohttp]'"
            ) from exc
        if max_connections < 1:
            raise ValueError(f"max_connections must be at least 1, got {max_connections}")
        self.max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._verify = verify
        self._session: Any = None
        self._timeouts: dict[int, Any] = {}
        # Looked up once: the hot path neither imports nor builds tuples.
        self._timeout_errors: tuple[type[BaseException], ...] = (
            asyncio.TimeoutError,
            aiohttp.ServerTimeoutError,
        )
        self._connect_timeout_error: type[BaseException] = aiohttp.ConnectionTimeoutError
        self._not_sent_errors: tuple[type[BaseException], ...] = (
            aiohttp.ClientConnectorError,
            aiohttp.InvalidURL,
        )
        self._lost_errors: tuple[type[BaseException], ...] = (aiohttp.ClientError, OSError)

    def _get_session(self) -> Any:
        import aiohttp

        if self._session is None:
            ssl_arg: Any = self._verify if isinstance(self._verify, ssl.SSLContext) else bool(self._verify)
            connector = aiohttp.TCPConnector(
                limit=self.max_connections,
                limit_per_host=0,
                keepalive_timeout=self._keepalive_expiry,
                ssl=ssl_arg,
            )
            # No skip_auto_headers: the SDK always sends its own User-Agent, and skipping costs
            # about 4 microseconds a request (measured).
            # DummyCookieJar: an API client keeps no cookies; with one session shared by every
            # view (one per user), a cookie jar would carry one user's cookies to the next.
            self._session = aiohttp.ClientSession(
                connector=connector, auto_decompress=True, cookie_jar=aiohttp.DummyCookieJar()
            )
        return self._session

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
        session = self._session
        if session is None:
            session = self._get_session()
        timeout = request.timeout
        connect = request.extensions.get("connect_timeout") or _CONNECT_TIMEOUT
        if timeout is not None and timeout < connect:
            connect = timeout
        client_timeout = self._timeouts.get(math.ceil(connect * 100))
        if client_timeout is None:
            client_timeout = self._timeout(connect)
        try:
            # The attempt's bound is our shared-wheel deadline rather than aiohttp's `total`,
            # which costs a timer handle per request; aiohttp's `connect` bounds waiting for a
            # pooled connection and connecting (free when a pooled connection is ready).
            with fail_after(timeout):
                async with session.request(
                    request.method,
                    request.url,
                    headers=request.headers,
                    data=request.content,
                    allow_redirects=False,
                    timeout=client_timeout,
                ) as raw:
                    content = await raw.read()
                    headers = {k.lower(): v for k, v in raw.headers.items()}
                    return Response._trusted(raw.status, headers, content, request)
        except self._timeout_errors as exc:
            raise timed_out(request, exc, sent=not isinstance(exc, self._connect_timeout_error)) from None
        except self._not_sent_errors as exc:
            raise not_connected(request, exc) from None
        except self._lost_errors as exc:
            raise connection_lost(request, exc) from None

    async def aclose(self) -> None:
        """Close the aiohttp session, if this transport made it."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def __repr__(self) -> str:
        return f"AiohttpTransport(max_connections={self.max_connections})"
