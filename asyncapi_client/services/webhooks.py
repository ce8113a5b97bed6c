"""`client.webhooks`: register, list, delete and test webhook callbacks."""

from __future__ import annotations

from collections.abc import Sequence

from .._decode import decode_list, decode_model
from .._models import Webhook
from ._base import Service


class WebhooksService(Service):
    __slots__ = ()

    async def create(self, url: str, events: Sequence[str]) -> Webhook:
        """Register `url` for `events`; the reply carries the signing `secret` (shown once)."""
        if isinstance(events, str):
            raise TypeError("events must be a list of event names, not one string")
        response = await self._call(
            "POST", "/api/v1/webhooks", json_body={"url": url, "events": list(events)}
        )
        return decode_model(response, Webhook)

    async def list(self) -> list[Webhook]:
        return decode_list(await self._call("GET", "/api/v1/webhooks"), Webhook)

    async def get(self, webhook_id: int) -> Webhook:
        return decode_model(await self._call("GET", f"/api/v1/webhooks/{int(webhook_id)}"), Webhook)

    async def delete(self, webhook_id: int) -> None:
        await self._call("DELETE", f"/api/v1/webhooks/{int(webhook_id)}")

    async def test(self, webhook_id: int) -> None:
        """Ask the server to send a `ping` event to the webhook."""
        await self._call("POST", f"/api/v1/webhooks/{int(webhook_id)}/test")
