"""Standard Webhooks v1 signatures: sign and check `id.timestamp.body` with HMAC-SHA256. Pure.

Secrets are `whsec_` + base64 of the key bytes. The signature header holds one or more
space-separated `v1,<base64>` entries (several during key rotation).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from .._errors import WebhookVerificationError

SECRET_PREFIX = "whsec_"


def decode_secret(secret: str) -> bytes:
    """The key bytes of a `whsec_...` secret (a bare base64 string is accepted too)."""
    if not isinstance(secret, str) or not secret:
        raise WebhookVerificationError("the webhook secret is empty")
    text = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise WebhookVerificationError("the webhook secret is not valid base64") from None
    if not key:
        raise WebhookVerificationError("the webhook secret is empty")
    return key


def compute_signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The base64 HMAC-SHA256 of `id.timestamp.body` (without the `v1,` prefix)."""
    signed = msg_id.encode() + b"." + str(int(timestamp)).encode() + b"." + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes | str) -> str:
    """The `webhook-signature` header value (`v1,<base64>`) for one delivery."""
    payload = body.encode() if isinstance(body, str) else body
    return "v1," + compute_signature(decode_secret(secret), msg_id, timestamp, payload)


def signature_matches(header: str, expected: str) -> bool:
    """True when any `v1,` entry of `header` equals `expected`, compared in constant time."""
    found = False
    for entry in header.split(" "):
        version, sep, value = entry.partition(",")
        if sep and version == "v1" and hmac.compare_digest(value.encode(), expected.encode()):
            found = True
    return found
