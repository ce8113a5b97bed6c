"""`MockTransport(handler)`: answer requests with a function, for tests that need no server."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Union

from .._types import Request, Response, new_response

Handler = Callable[[Request], Union[Response, Awaitable[Response]]]


class MockTransport:
    """Calls `handler(request)` (sync or async) for each request and records what it saw."""

    def __init__(self, handler: Handler, *, record: bool = True) -> None:
        self._handler = handler
        self._record = record
        self.requests: list[Request] = []
        self.closed = False

    async def send(self, request: Request) -> Response:
        """Answer with the handler's response (or raise its exception)."""
        if self._record:
            self.requests.append(request)
        result = self._handler(request)
        if inspect.isawaitable(result):
            result = await result
        if not isinstance(result, Response):
            raise TypeError(f"MockTransport handler must return a Response, got {type(result).__name__}")
        if result.request is None:
            result = new_response(result.status_code, dict(result.headers), result.content, request)
        return result

    async def aclose(self) -> None:
        """Mark the transport closed."""
        self.closed = True
