"""`AiohttpTransport`: aiohttp's client, the fast path for ingestion jobs. asyncio only.

aiohttp is imported here and nowhere else, so `import asyncapi_client` does not pay for it.
Redirects are not followed, so `Authorization` never reaches another origin.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from .._errors import APIConnectionError, APITimeoutError
from .._types import Request, Response

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
            import aiohttp  # noqa: F401
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
        self._timeouts: dict[tuple[float | None, float], Any] = {}

    def _get_session(self) -> Any:
        import aiohttp

        if self._session is None:
            ssl_arg: Any = (
                self._verify
                if isinstance(self._verify, ssl.SSLContext)
                else (None if self._verify else False)
            )
            connector = aiohttp.TCPConnector(
                limit=self.max_connections,
                limit_per_host=0,
                keepalive_timeout=self._keepalive_expiry,
                ssl=ssl_arg,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=True,
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    def _timeout(self, total: float | None, connect: float) -> Any:
        import aiohttp

        key = (total, connect)
        timeout = self._timeouts.get(key)
        if timeout is None:
            timeout = aiohttp.ClientTimeout(total=total, connect=connect)
            if len(self._timeouts) < 256:
                self._timeouts[key] = timeout
        return timeout

    async def send(self, request: Request) -> Response:
        import aiohttp

        session = self._get_session()
        connect = request.extensions.get("connect_timeout") or _CONNECT_TIMEOUT
        if request.timeout is not None:
            connect = min(connect, request.timeout)
        try:
            async with session.request(
                request.method,
                request.url,
                headers=request.headers,
                data=request.content,
                allow_redirects=False,
                timeout=self._timeout(request.timeout, connect),
            ) as raw:
                content = await raw.read()
                headers = {k.lower(): v for k, v in raw.headers.items()}
                return Response._trusted(raw.status, headers, content, request)
        except (asyncio.TimeoutError, aiohttp.ServerTimeoutError) as exc:
            sent = not isinstance(exc, aiohttp.ConnectionTimeoutError)
            raise APITimeoutError(
                f"{request.method} {request.url} timed out ({type(exc).__name__})",
                request=request,
                request_sent=sent,
            ) from None
        except (aiohttp.ClientConnectorError, aiohttp.InvalidURL) as exc:
            raise APIConnectionError(
                f"could not connect for {request.method} {request.url}: {type(exc).__name__}",
                request=request,
                request_sent=False,
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise APIConnectionError(
                f"connection lost during {request.method} {request.url}: {type(exc).__name__}",
                request=request,
                request_sent=True,
            ) from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def __repr__(self) -> str:
        return f"AiohttpTransport(max_connections={self.max_connections})"
