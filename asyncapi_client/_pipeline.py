"""The middleware protocol and the chain that runs it.

A middleware is any `async def __call__(request, call_next) -> response` (typed as a call returning
an awaitable, so that a layer of the SDK's own may hand back the next layer's coroutine instead
of awaiting it in a frame of its own). The chain is built once per client (`build_chain`) from a
plain ordered list, outermost first; each link calls the next layer without an extra coroutine
frame, so a layer costs one `await`.
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

    def __call__(self, request: Request, call_next: CallNext) -> Awaitable[Response]: ...


def _link(middleware: Middleware, next_: CallNext) -> CallNext:
    # A closure rather than an object with __call__: calling a plain function is the cheapest
    # call Python has, and every request passes each link once per attempt.
    def link(request: Request) -> Awaitable[Response]:
        return middleware(request, next_)

    return link


def build_chain(middleware: Sequence[Middleware], send: CallNext) -> CallNext:
    """Compose `middleware` (outermost first) around `send` into one callable."""
    handler: CallNext = send
    for layer in reversed(middleware):
        if not callable(layer):
            raise TypeError(f"middleware must be callable, got {type(layer).__name__}")
        handler = _link(layer, handler)
    return handler
