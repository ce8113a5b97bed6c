"""Standard Webhooks v1 signatures: sign and check `id.timestamp.body` with HMAC-SHA256. Pure.

Secrets are `whsec_` + base64 of the key bytes. The signature header holds one or more
space-separated `v1,<base64>` entries (several during key rotation).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets as _secrets
import time as _time

from .._errors import WebhookVerificationError
from .._secret import Secret

SECRET_PREFIX = "whsec_"


def decode_secret(secret: str | Secret) -> bytes:
    """The key bytes of a `whsec_...` secret (a bare base64 string is accepted too).

    Unpadded base64 is accepted, as the reference implementation does.
    """
    text = secret.get() if isinstance(secret, Secret) else secret
    if not isinstance(text, str) or not text.strip():
        raise WebhookVerificationError("the webhook secret is empty", reason="invalid_secret")
    text = text.strip()
    text = text[len(SECRET_PREFIX) :] if text.startswith(SECRET_PREFIX) else text
    text += "=" * (-len(text) % 4)
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise WebhookVerificationError(
            "the webhook secret is not valid base64 (expected 'whsec_' + base64)", reason="invalid_secret"
        ) from None
    if not key:
        raise WebhookVerificationError("the webhook secret is empty", reason="invalid_secret")
    return key


def _digest(key: bytes, msg_id: str, timestamp: str, body: bytes) -> bytes:
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    return hmac.new(key, signed, hashlib.sha256).digest()


def compute_signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The base64 HMAC-SHA256 of `id.timestamp.body` (without the `v1,` prefix)."""
    return base64.b64encode(_digest(key, msg_id, str(int(timestamp)), body)).decode()


def sign(secret: str | Secret, msg_id: str, timestamp: int, body: bytes | str) -> str:
    """The `webhook-signature` header value (`v1,<base64>`) for one delivery."""
    payload = body.encode() if isinstance(body, str) else bytes(body)
    return "v1," + compute_signature(decode_secret(secret), msg_id, timestamp, payload)


def signed_headers(
    secret: str | Secret,
    body: bytes | str,
    msg_id: str | None = None,
    timestamp: int | None = None,
) -> dict[str, str]:
    """The three Standard Webhooks headers for `body`, as a sender would send them.

    For tests of your own receiving code: `msg_id` defaults to a fresh `msg_...` id and
    `timestamp` to now (Unix seconds).
    """
    msg_id = msg_id if msg_id is not None else "msg_" + _secrets.token_urlsafe(18)
    timestamp = int(_time.time()) if timestamp is None else int(timestamp)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }
