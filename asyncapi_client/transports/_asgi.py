"""`ASGITransport(app)`: call an ASGI application in-process, with no socket.

For tests and for FastAPI apps that call their own routes. The app's lifespan is not run; start
it yourself (or use the sandbox's `Sandbox`) when the app needs it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import unquote

import anyio

from .._config import format_seconds
from .._errors import APIConnectionError, APITimeoutError
from .._types import Request, Response
from ._base import origin_and_target, split_origin

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

    def __init__(self, app: ASGIApp, *, client: tuple[str, int] = ("127.0.0.1", 123)) -> None:
        self.app = app
        self.client = client

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
        chunks: list[bytes] = []
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
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for key, value in message.get("headers", []):
                    response_headers[key.decode("latin-1").lower()] = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))
                if not message.get("more_body", False):
                    done.set()

        try:
            with anyio.fail_after(request.timeout):
                await self.app(scope, receive, send)
        except TimeoutError:
            raise APITimeoutError(
                f"{request.method} {request.url} timed out after {format_seconds(request.timeout)}",
                request=request,
            ) from None
        except Exception as exc:
            # An app that raises is what a dropped connection looks like from outside.
            raise APIConnectionError(
                f"ASGI app raised {type(exc).__name__} during {request.method} {request.url}",
                request=request,
                request_sent=True,
            ) from exc
        finally:
            done.set()
        if status is None:
            raise APIConnectionError(
                f"ASGI app sent no response to {request.method} {request.url}",
                request=request,
                request_sent=True,
            )
        return Response._trusted(status, response_headers, b"".join(chunks), request)

    async def aclose(self) -> None:
        """Nothing to close: the app is not ours."""
        return None
