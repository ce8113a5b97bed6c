"""`with_raw_response`: a service method's parsed result beside the HTTP response it came from.

    raw = await client.projects.with_raw_response.get(1)   # RawResponse[Project]
    raw.parsed.name, raw.status_code, raw.request_id, raw.rate_limit

Each service has a `...WithRawResponse` class (next to the service) whose attributes are the
service's methods passed through `to_raw_response_wrapper`. The wrapper keeps the method's
parameters (a `ParamSpec`) and turns its result type `T` into `RawResponse[T]`, so a type
checker sees `raw.parsed` as a `Project` and flags `raw.parsed.nmae` (openai-python's typed
wrappers work the same way).

How the response reaches the wrapper: the wrapper opens a sink (a context variable) around the
call; `AsyncClient.request`, the one call path of every service method, appends each response
it receives to the open sink. A context variable rather than an argument keeps the service
methods' signatures the user's, and is local to the task, so concurrent calls never mix.
"""

from __future__ import annotations

import contextvars
import functools
from collections.abc import Awaitable, Callable, Mapping
from typing import Generic, ParamSpec, TypeVar

import attrs

from ._types import Response

T = TypeVar("T")
P = ParamSpec("P")

raw_sink: contextvars.ContextVar[list[Response] | None] = contextvars.ContextVar(
    "asyncapi_client_raw_sink", default=None
)
"""The responses of the call a raw-response wrapper is running; None outside such a call."""


@attrs.frozen(slots=True)
class RawResponse(Generic[T]):
    """A parsed result and the response it came from."""

    parsed: T
    response: Response

    @property
    def status_code(self) -> int:
        """The response's HTTP status."""
        return self.response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        """The response's headers (lower-case names)."""
        return self.response.headers

    @property
    def request_id(self) -> str | None:
        """The server's `X-Request-Id`."""
        return self.response.headers.get("x-request-id")

    @property
    def rate_limit(self) -> dict[str, str]:
        """The `X-RateLimit-*` headers of this response, as sent."""
        return {k: v for k, v in self.response.headers.items() if k.startswith("x-ratelimit-")}


def to_raw_response_wrapper(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[RawResponse[T]]]:
    """`method` returning `RawResponse(result, response)` instead of `result`: the response is the
    last one the call received (a service method that makes no HTTP call cannot be wrapped)."""

    @functools.wraps(method)
    async def call(*args: P.args, **kwargs: P.kwargs) -> RawResponse[T]:
        sink: list[Response] = []
        token = raw_sink.set(sink)
        try:
            parsed = await method(*args, **kwargs)
        finally:
            raw_sink.reset(token)
        if not sink:
            raise TypeError(f"{getattr(method, '__name__', method)!r} made no HTTP call")
        return RawResponse(parsed, sink[-1])

    return call
