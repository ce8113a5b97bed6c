"""What every resource service shares: the client it sends through."""

from __future__ import annotations

from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from .._types import Response

if TYPE_CHECKING:
    from .._client import AsyncClient
    from .._retry import RetryPolicy

ServiceT = TypeVar("ServiceT", bound="Service")


class Service:
    """A resource service (`client.users`, `client.projects`, `client.webhooks`): each method
    builds one call, sends it through the client and decodes the reply. `with_raw_response`
    (see `asyncapi_client._raw_response`) gives the HTTP response beside the result."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    def _with_retry(self: ServiceT, retry: RetryPolicy | None) -> ServiceT:
        """This service, or the same service on a view whose calls retry by `retry`."""
        if retry is None:
            return self
        return type(self)(self._client.with_options(retry=retry))

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Coroutine[Any, Any, Response]:
        """`await self._call(...)`: what the client's `request` does (send, hand the response to
        `with_raw_response`, raise the typed error for a non-2xx), its coroutine returned as is
        rather than awaited in one more frame."""
        client = self._client
        if not params and json_body is None and not headers:
            return client._sent(client._bare_request(method, path), True)
        return client._sent(
            client.build_request(method, path, params=params, json_body=json_body, headers=headers), True
        )
