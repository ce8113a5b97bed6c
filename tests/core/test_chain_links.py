"""How `build_chain` links its layers: the SDK's own (`ViaLayer`) by a `functools.partial` of
their `_via`, any other by a closure over its call; either way each layer runs once per pass, in
order, with the next layer as its `call_next`."""

from __future__ import annotations

import functools
from collections.abc import Awaitable

import pytest

from asyncapi_client import Request, Response
from asyncapi_client._pipeline import CallNext, ViaLayer, build_chain

pytestmark = pytest.mark.anyio


class Tag(ViaLayer):
    __slots__ = ("name", "log")

    def __init__(self, name: str, log: list[str]) -> None:
        self.name = name
        self.log = log

    def _via(self, call_next: CallNext, request: Request) -> Awaitable[Response]:
        self.log.append(self.name)
        return call_next(request.with_header("x-" + self.name, "1"))


class Overridden(Tag):
    __slots__ = ()

    def __call__(self, request: Request, call_next: CallNext) -> Awaitable[Response]:
        self.log.append(self.name + " (override)")
        return call_next(request)


class Callable_:
    """A user's middleware object: a class with `__call__`."""

    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        self.log.append("object")
        return await call_next(request)


async def test_layers_run_in_order_whatever_links_them() -> None:
    log: list[str] = []
    seen: list[Request] = []

    async def function(request: Request, call_next: CallNext) -> Response:
        log.append("function")
        return await call_next(request)

    async def send(request: Request) -> Response:
        seen.append(request)
        return Response(204)

    chain = build_chain([Tag("a", log), function, Callable_(log), Overridden("b", log), Tag("c", log)], send)
    response = await chain(Request("GET", "https://api.example.com/x"))
    assert response.status_code == 204
    assert log == ["a", "function", "object", "b (override)", "c"]
    assert set(seen[0].headers) == {"x-a", "x-c"}  # the override sent on without its tag


def test_the_sdks_layers_are_linked_without_a_frame_of_their_own() -> None:
    async def send(request: Request) -> Response:
        return Response(204)

    tag = Tag("a", [])
    chain = build_chain([tag], send)
    assert isinstance(chain, functools.partial)
    assert chain.func == tag._via and chain.args == (send,)
    # A subclass that overrides __call__ is called through it (a closure), not through _via.
    assert not isinstance(build_chain([Overridden("b", [])], send), functools.partial)


async def test_a_via_layer_called_itself_is_a_middleware() -> None:
    log: list[str] = []

    async def send(request: Request) -> Response:
        return Response(200, {"seen": ",".join(sorted(request.headers))})

    response = await Tag("a", log)(Request("GET", "https://api.example.com/x"), send)
    assert log == ["a"] and response.headers["seen"] == "x-a"
