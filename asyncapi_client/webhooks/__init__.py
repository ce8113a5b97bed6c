"""Webhooks, the receiving end: verify Standard Webhooks v1 deliveries, decode typed events,
and serve a deduplicating ASGI receiver.

    payload = verify(body, request.headers, secret)          # raises WebhookVerificationError
    event = construct_event(body, request.headers, secret)   # WebhookEvent with typed data

    receiver = WebhookReceiver(secret)

    @receiver.on("project.created")
    async def created(event: WebhookEvent[Project]) -> None: ...

`sign()` and `signed_headers()` are the sender's side, for your own tests. `RedisDedupeStore`
is imported lazily (it needs the `redis` extra).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._models import WebhookDelivery
from ._dedupe import Claim, DedupeStore, InMemoryDedupeStore
from ._events import EVENT_MODELS, WebhookEvent, construct_event, event_from_payload
from ._receiver import WebhookReceiver
from ._signature import compute_signature, decode_secret, sign, signed_headers
from ._verify import verify

if TYPE_CHECKING:
    from ._redis import RedisDedupeStore

__all__ = [
    "EVENT_MODELS",
    "Claim",
    "DedupeStore",
    "InMemoryDedupeStore",
    "RedisDedupeStore",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookReceiver",
    "compute_signature",
    "construct_event",
    "decode_secret",
    "event_from_payload",
    "sign",
    "signed_headers",
    "verify",
]


def __getattr__(name: str) -> Any:
    if name == "RedisDedupeStore":
        from ._redis import RedisDedupeStore

        return RedisDedupeStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
