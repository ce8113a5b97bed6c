"""The middleware protocol and the chain that runs it.

A middleware is any `async def __call__(request, call_next) -> response` (typed as a call returning
an awaitable, so that a layer of the SDK's own may hand back the next layer's coroutine instead
of awaiting it in a frame of its own). The chain is built once per client (`build_chain`) from a
plain ordered list, outermost first; each link calls the next layer without an extra coroutine
frame, so a layer costs one `await`.

A layer of the SDK's own (a `ViaLayer`) also offers `_via(call_next, request)`, the same call
with its arguments the other way round: its link is then `functools.partial(layer._via, next_)`,
a call made in C, with no Python frame of its own. Any other layer is linked by a small
closure that calls its bound `__call__` (an object's `__call__` found once, not on every call).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from types import FunctionType
from typing import Any, Protocol, runtime_checkable

from ._types import Request, Response

CallNext = Callable[[Request], Awaitable[Response]]


@runtime_checkable
class Middleware(Protocol):
    """A pipeline layer: `await middleware(request, call_next)` returns the response, calling
    `call_next(request)` (or a changed request) to go on; see `AsyncClient(middleware=...,
    attempt_middleware=...)`."""

    def __call__(self, request: Request, call_next: CallNext) -> Awaitable[Response]: ...


class ViaLayer:
    """A layer of the SDK's own: `_via(call_next, request)` is its call, the arguments the other
    way round, so that its link is `functools.partial(layer._via, next_)` (a call made in C, no
    Python frame of its own). `__call__` is the `Middleware` call for code that calls the layer
    itself; a subclass that overrides it is linked by a closure over it instead."""

    __slots__ = ()

    def _via(self, call_next: CallNext, request: Request) -> Awaitable[Response]:
        raise NotImplementedError

    def __call__(self, request: Request, call_next: CallNext) -> Awaitable[Response]:
        return self._via(call_next, request)


def _link(middleware: Middleware, next_: CallNext) -> CallNext:
    if isinstance(middleware, ViaLayer) and type(middleware).__call__ is ViaLayer.__call__:
        linked: CallNext = partial(middleware._via, next_)
        return linked
    # A plain function is called as it is; an object's `__call__` written in Python is bound
    # once here: calling the object would look it up on its type on every call.
    call: Any = middleware
    if isinstance(type(middleware).__call__, FunctionType):
        call = middleware.__call__

    # A closure rather than an object with __call__: calling a plain function is the cheapest
    # call Python has, and every request passes each link once per attempt.
    def link(request: Request) -> Awaitable[Response]:
        return call(request, next_)  # type: ignore[no-any-return]

    return link


def build_chain(middleware: Sequence[Middleware], send: CallNext) -> CallNext:
    """Compose `middleware` (outermost first) around `send` into one callable."""
    handler: CallNext = send
    for layer in reversed(middleware):
        if not callable(layer):
            raise TypeError(f"middleware must be callable, got {type(layer).__name__}")
        handler = _link(layer, handler)
    return handler
