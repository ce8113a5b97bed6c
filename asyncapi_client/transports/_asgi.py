"""`ASGITransport(app)`: call an ASGI application in-process, with no socket.

For tests and for FastAPI apps that call their own routes. The app's lifespan is not run; start
it yourself (or use the sandbox's `Sandbox`) when the app needs it. The reply goes through the
same `BodyReader` as every transport's (a `Content-Encoding` decoded, `max_response_bytes`
enforced), but no `Accept-Encoding` is added: compressing in-process only costs CPU.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote

import anyio

from .._config import format_seconds
from .._errors import APIConnectionError, APITimeoutError, ResponseDecodeError
from .._types import Request, Response, new_response
from ._base import origin_and_target, split_origin
from ._body import DEFAULT_MAX_RESPONSE_BYTES, BodyReader
from ._options import check_max_response_bytes

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
ASGIApp = Callable[
    [Scope, Callable[[], Awaitable[Message]], Callable[[Message], Awaitable[None]]],
    Awaitable[None],
]


class ASGITransport:
    """Sends requests straight to an ASGI app in this process (a FastAPI or Starlette app, the
    sandbox's `SandboxApp`), with no network: for tests. `client` is the (host, port) the app sees
    as the peer."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        client: tuple[str, int] = ("127.0.0.1", 123),
        max_response_bytes: int | None = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self.app = app
        self.client = client
        self._limit = check_max_response_bytes("ASGITransport", max_response_bytes)

    async def send(self, request: Request) -> Response:
        """Run the app on this request and return its full response."""
        origin, target = origin_and_target(request.url)
        scheme, host, port, _ = split_origin(origin + "/")
        path, _, query = target.partition("?")
        headers = [(b"host", origin.partition("://")[2].encode())]
        headers.extend((k.encode(), v.encode()) for k, v in request.headers.items())
        body = request.content or b""
        if request.content is not None:
            headers.append((b"content-length", str(len(body)).encode()))
        scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": scheme,
            "path": unquote(path),
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": headers,
            "client": self.client,
            "server": (host, port),
            "extensions": {},
        }
        status: int | None = None
        response_headers: dict[str, str] = {}
        reader: BodyReader | None = None
        refused: ResponseDecodeError | None = None  # the body was refused: raised once the app stops
        request_sent = False
        done = anyio.Event()

        async def receive() -> Message:
            nonlocal request_sent
            if request_sent:
                await done.wait()
                return {"type": "http.disconnect"}
            request_sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Message) -> None:
            nonlocal status, reader, refused
            try:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    for key, value in message.get("headers", []):
                        name, text = key.decode("latin-1").lower(), value.decode("latin-1")
                        known = response_headers.get(name)
                        response_headers[name] = text if known is None else f"{known}, {text}"
                    reader = BodyReader(request, status, response_headers, self._limit)
                elif message["type"] == "http.response.body" and reader is not None:
                    reader.feed(bytes(message.get("body", b"")))
                    if not message.get("more_body", False):
                        done.set()
            except ResponseDecodeError as exc:
                refused = exc
                raise  # stops the app, as a closed connection would

        try:
            with anyio.fail_after(request.timeout):
                await self.app(scope, receive, send)
        except Exception as exc:
            if refused is not None:
                raise refused from None
            if isinstance(exc, TimeoutError):
                raise APITimeoutError(
                    f"{request.method} {request.url} timed out after {format_seconds(request.timeout)}",
                    request=request,
                ) from None
            # An app that raises is what a dropped connection looks like from outside.
            raise APIConnectionError(
                f"ASGI app raised {type(exc).__name__} during {request.method} {request.url}",
                request=request,
                request_sent=True,
            ) from exc
        finally:
            done.set()
        if refused is not None:  # the app swallowed it
            raise refused
        if status is None or reader is None:
            raise APIConnectionError(
                f"ASGI app sent no response to {request.method} {request.url}",
                request=request,
                request_sent=True,
            )
        return new_response(status, response_headers, reader.finish(), request)

    async def aclose(self) -> None:
        """Nothing to close: the app is not ours."""
        return None
