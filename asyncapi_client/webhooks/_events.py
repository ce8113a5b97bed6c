"""Typed webhook events: `{"id","type","created_at","data"}` with `data` decoded by event type.

`user.*` events carry a `User`, `project.*` events a `Project`; `ping` and types this SDK does
not know keep `data` as the decoded JSON (forward compatible: a new event type never breaks a
receiver built with an older SDK). A known type whose data does not fit its model is rejected
(`reason="invalid_payload"`): better a loud 400 than a handler reading a half-filled object.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Generic, TypeVar

import attrs

from .._errors import WebhookVerificationError
from .._models import Project, User, parse_datetime, structure
from ._verify import (
    DEFAULT_TOLERANCE,
    HeadersLike,
    SecretsLike,
    check_delivery,
    decode_json_body,
    decode_keys,
)

T = TypeVar("T")

#: Event-type prefix -> the model its `data` decodes into.
EVENT_MODELS: Mapping[str, type[Any]] = {"user.": User, "project.": Project}


@attrs.frozen(slots=True)
class WebhookEvent(Generic[T]):
    """One verified event.

    `id`, `type`, `created_at` and `data` come from the body; `webhook_id` and `timestamp` from
    the delivery's headers (`webhook_id` stays the same across re-deliveries of one message, so
    it is the key to deduplicate on).
    """

    id: str
    type: str
    created_at: datetime
    data: T
    webhook_id: str | None = None
    timestamp: int | None = None


def model_for(event_type: str) -> type[Any] | None:
    """The model `data` decodes into for `event_type`, or None to keep it raw."""
    for prefix, model in EVENT_MODELS.items():
        if event_type.startswith(prefix):
            return model
    return None


def _invalid(message: str) -> WebhookVerificationError:
    return WebhookVerificationError(f"the event payload {message}", reason="invalid_payload")


def event_from_payload(
    payload: Any, *, webhook_id: str | None = None, timestamp: int | None = None
) -> WebhookEvent[Any]:
    """Build the typed event from an already verified, decoded payload."""
    if not isinstance(payload, Mapping):
        raise _invalid("is not a JSON object")
    event_id = payload.get("id")
    if isinstance(event_id, bool) or not isinstance(event_id, (str, int)) or event_id == "":
        raise _invalid("has no 'id' (a string or an integer)")
    event_type = payload.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise _invalid("has no 'type' string")
    try:
        created_at = parse_datetime(payload.get("created_at"))
    except ValueError:
        raise _invalid("has no valid 'created_at' (RFC 3339)") from None
    data = payload.get("data")
    model = model_for(event_type)
    if model is not None:
        try:
            data = structure(data, model)
        except ValueError as exc:
            raise _invalid(f"data of a {event_type!r} event {exc}") from None
    return WebhookEvent(str(event_id), event_type, created_at, data, webhook_id, timestamp)


def construct_event(
    body: bytes | bytearray | memoryview | str,
    headers: HeadersLike,
    secret: SecretsLike,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> WebhookEvent[Any]:
    """`verify()`, then decode the payload into a `WebhookEvent` (same arguments as `verify`)."""
    msg_id, timestamp, payload = check_delivery(
        body, headers, decode_keys(secret), tolerance=tolerance, now=now
    )
    return event_from_payload(decode_json_body(payload), webhook_id=msg_id, timestamp=timestamp)
