"""What every resource service shares: send through the client, raise or decode, and the
`with_raw_response` view that hands back the HTTP response beside the parsed model."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs

from .._client import _raw_sink
from .._types import Response

if TYPE_CHECKING:
    from .._client import AsyncClient
    from .._retry import RetryPolicy

T = TypeVar("T")
ServiceT = TypeVar("ServiceT", bound="Service")


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


class _RawView:
    """`service.with_raw_response.method(...)` returns `RawResponse(parsed, response)`."""

    __slots__ = ("_service",)

    def __init__(self, service: Service) -> None:
        self._service = service

    def __getattr__(self, name: str) -> Callable[..., Awaitable[RawResponse[Any]]]:
        method = getattr(self._service, name)
        if not callable(method):
            raise AttributeError(name)

        async def call(*args: Any, **kwargs: Any) -> RawResponse[Any]:
            sink: list[Response] = []
            token = _raw_sink.set(sink)
            try:
                parsed = await method(*args, **kwargs)
            finally:
                _raw_sink.reset(token)
            if not sink:
                raise TypeError(f"{name}() does not make a single HTTP call")
            return RawResponse(parsed, sink[-1])

        return call


class Service:
    """What `client.users`, `client.projects` and `client.webhooks` share: the client (or view)
    they call through."""

    __slots__ = ("_client",)

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    def _with_retry(self: ServiceT, retry: RetryPolicy | None) -> ServiceT:
        """This service, or the same service on a view whose calls retry by `retry`."""
        if retry is None:
            return self
        return type(self)(self._client.with_options(retry=retry))

    @property
    def with_raw_response(self) -> Any:
        """`await client.projects.with_raw_response.get(1)` -> `RawResponse[Project]`."""
        return _RawView(self)

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Coroutine[Any, Any, Response]:
        """`await self._call(...)`: the client's `request` (send, hand the response to
        `with_raw_response`, raise the typed error for a non-2xx), its coroutine returned as is
        rather than awaited in one more frame."""
        return self._client.request(method, path, params=params, json_body=json_body, headers=headers)
