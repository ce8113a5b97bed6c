"""`WebhookDelivery`: one delivery attempt, as `client.webhooks.deliveries(id)` reports it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from .._models import structure


@attrs.frozen(slots=True)
class WebhookDelivery:
    """One attempt to deliver one event: `status_code` is None when no HTTP answer came back
    (refused, timed out), and `error` says why; `succeeded` is True for a 2xx."""

    id: int
    event_id: str
    event_type: str
    attempt: int
    status_code: int | None
    error: str | None
    succeeded: bool
    created_at: datetime


def structure_delivery(item: Any) -> WebhookDelivery:
    """Decode one delivery; event ids may be strings or integers on the wire (kept as str)."""
    if isinstance(item, Mapping):
        event_id = item.get("event_id")
        if isinstance(event_id, int) and not isinstance(event_id, bool):
            item = {**item, "event_id": str(event_id)}
    return structure(item, WebhookDelivery)
