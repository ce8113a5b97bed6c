"""Signed webhook deliveries (Standard Webhooks headers) of canned events."""

from __future__ import annotations

import json
from typing import Any

from asyncapi_client.webhooks import signed_headers
from tests.support.resources import PROJECT

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
NOW = 1_700_000_000  # the wall time of the deliveries: give a FakeClock epoch=NOW



def event_body(event_type: str = "project.created", data: Any = None, event_id: str | int = "evt_1") -> bytes:
    payload = {
        "id": event_id,
        "type": event_type,
        "created_at": "2024-05-01T12:00:00Z",
        "data": PROJECT if data is None else data,
    }
    return json.dumps(payload).encode()


def delivery(
    event_type: str = "project.created",
    data: Any = None,
    *,
    msg_id: str = "msg_1",
    timestamp: int = NOW,
    secret: str = SECRET,
) -> tuple[bytes, dict[str, str]]:
    body = event_body(event_type, data)
    return body, signed_headers(secret, body, msg_id=msg_id, timestamp=timestamp)
