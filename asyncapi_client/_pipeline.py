"""The middleware protocol and the chain that runs it.

A middleware is any `async def __call__(request, call_next) -> response`. The chain is built once
per client (`build_chain`) from a plain ordered list, outermost first; each link calls the next
layer without an extra coroutine frame, so a layer costs one `await`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, runtime_checkable

from ._types import Request, Response

CallNext = Callable[[Request], Awaitable[Response]]


@runtime_checkable
class Middleware(Protocol):
    """A pipeline layer: `await middleware(request, call_next)` returns the response, calling
    `call_next(request)` (or a changed request) to go on; see `AsyncClient(middleware=...,
    attempt_middleware=...)`."""

    async def __call__(self, request: Request, call_next: CallNext) -> Response: ...


class _Link:
    __slots__ = ("_middleware", "_next")

    def __init__(self, middleware: Middleware, next_: CallNext) -> None:
        self._middleware = middleware
        self._next = next_

    def __call__(self, request: Request) -> Awaitable[Response]:
        return self._middleware(request, self._next)


def build_chain(middleware: Sequence[Middleware], send: CallNext) -> CallNext:
    """Compose `middleware` (outermost first) around `send` into one callable."""
    handler: CallNext = send
    for layer in reversed(middleware):
        if not callable(layer):
            raise TypeError(f"middleware must be callable, got {type(layer).__name__}")
        handler = _Link(layer, handler)
    return handler
