"""`client.webhooks`: register, list, inspect, test and delete webhook callbacks."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from functools import cached_property

from .._decode import decode_model
from .._errors import ResponseDecodeError
from .._models import CreatedWebhook, Webhook, WebhookDelivery, structure, structure_delivery
from .._raw_response import to_raw_response_wrapper
from .._types import Response
from ._base import Service


def _items(response: Response) -> list[object]:
    """`{"data": [...]}` (or a bare array) to its items."""
    body = response.json()
    if isinstance(body, dict) and isinstance(body.get("data"), list):
        body = body["data"]
    if not isinstance(body, list):
        raise ResponseDecodeError.from_response(response, "expected {'data': [...]} or a JSON array")
    return body


class WebhooksService(Service):
    """`client.webhooks`: register, list, inspect, test and delete webhook callbacks."""

    @cached_property
    def with_raw_response(self) -> WebhooksWithRawResponse:
        """The same methods, each returning `RawResponse[T]` (the result and its HTTP response):
        `raw = await client.webhooks.with_raw_response.get(1)`; `raw.parsed` is a `Webhook`."""
        return WebhooksWithRawResponse(self)

    async def create(self, url: str, events: Sequence[str]) -> CreatedWebhook:
        """Register `url` for `events` (such as `["project.created"]`). The reply, a
        `CreatedWebhook`, carries the signing `secret` as a `Secret`: it is shown only here, so
        store it (`secret.get()`) where your receiver can read it. A reply without the secret is
        a `ResponseDecodeError`."""
        if isinstance(events, str):
            raise TypeError("events must be a list of event names, not one string")
        events = list(events)
        if not events or not all(isinstance(e, str) and e for e in events):
            raise ValueError("events must be a non-empty list of event names such as 'project.created'")
        response = await self._call("POST", "/api/v1/webhooks", json_body={"url": url, "events": events})
        return decode_model(response, CreatedWebhook)

    async def list(self) -> list[Webhook]:
        """Every registration (without secrets), in one list. Not a pager like `projects.list()`:
        the API's `GET /api/v1/webhooks` takes no `page`/`limit` and answers every registration at
        once, with no `meta` to page by (an account holds a handful, not millions)."""
        response = await self._call("GET", "/api/v1/webhooks")
        try:
            return [structure(item, Webhook) for item in _items(response)]
        except ValueError as exc:
            raise ResponseDecodeError.from_response(response, str(exc)) from None

    async def get(self, webhook_id: int) -> Webhook:
        """One registration by id (without its secret); `NotFoundError` when there is none."""
        return decode_model(await self._call("GET", f"/api/v1/webhooks/{int(webhook_id)}"), Webhook)

    async def delete(self, webhook_id: int) -> None:
        """Remove a registration; nothing more is delivered to it."""
        await self._call("DELETE", f"/api/v1/webhooks/{int(webhook_id)}")

    async def test(self, webhook_id: int) -> None:
        """Ask the server to send a `ping` event to the webhook (accepted with 202; the
        delivery happens afterwards, and shows up in `deliveries()`)."""
        await self._call("POST", f"/api/v1/webhooks/{int(webhook_id)}/test")

    async def deliveries(self, webhook_id: int) -> builtins.list[WebhookDelivery]:
        """The delivery attempts of this webhook and their outcomes."""
        response = await self._call("GET", f"/api/v1/webhooks/{int(webhook_id)}/deliveries")
        try:
            return [structure_delivery(item) for item in _items(response)]
        except ValueError as exc:
            raise ResponseDecodeError.from_response(response, str(exc)) from None


class WebhooksWithRawResponse:
    """`client.webhooks.with_raw_response`: each method returns `RawResponse[T]`."""

    def __init__(self, webhooks: WebhooksService) -> None:
        self.create = to_raw_response_wrapper(webhooks.create)
        self.list = to_raw_response_wrapper(webhooks.list)
        self.get = to_raw_response_wrapper(webhooks.get)
        self.delete = to_raw_response_wrapper(webhooks.delete)
        self.test = to_raw_response_wrapper(webhooks.test)
        self.deliveries = to_raw_response_wrapper(webhooks.deliveries)
