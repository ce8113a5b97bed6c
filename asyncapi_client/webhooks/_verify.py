"""Verify a delivery (Standard Webhooks v1) and decode its JSON payload. Pure: no I/O.

The checks run in this order, and the first that fails raises `WebhookVerificationError` whose
`reason` names it: the three headers are present (`missing_header`, `invalid_header`), the
timestamp is an integer (`invalid_timestamp`) inside the tolerance (`timestamp_too_old`,
`timestamp_too_new`), some `v1` signature matches some secret (`invalid_signature` when no entry
is well formed, `no_matching_signature`), and the body is JSON (`invalid_body`). Messages name
the check, never a byte of the expected signature nor the secret.

Caps, so that a hostile sender cannot make verification expensive: a `webhook-signature` header
holds at most `MAX_SIGNATURES` (32) space-separated entries (more is `invalid_header`, whatever
their position: a sender rotating keys sends two or three), and a `webhook-id` at most 256
characters.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import math
import re
import time as _time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .._config import check_seconds
from .._errors import WebhookVerificationError
from .._secret import Secret
from ._signature import _digest, decode_secret

HeadersLike = Mapping[str, str] | Mapping[bytes, bytes] | Iterable[tuple[str | bytes, str | bytes]]
SecretsLike = str | Secret | Sequence[str | Secret]

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
_WANTED = (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)

DEFAULT_TOLERANCE = 300
_MAX_ID_CHARS = 256
MAX_SIGNATURES = 32
_TIMESTAMP = re.compile(r"[0-9]{1,15}")


def decode_keys(secret: SecretsLike) -> list[bytes]:
    """The key bytes of one secret or of several (key rotation: any of them may match)."""
    if isinstance(secret, (str, Secret)):
        return [decode_secret(secret)]
    if isinstance(secret, (bytes, bytearray)):  # type: ignore[unreachable]
        raise TypeError("pass the webhook secret as its 'whsec_...' string (or a Secret), not bytes")
    keys = [decode_secret(item) for item in secret]
    if not keys:
        raise WebhookVerificationError("no webhook secret was given", reason="invalid_secret")
    return keys


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, (bytes, bytearray)) else str(value)


def collect_headers(headers: HeadersLike) -> dict[str, list[str]]:
    """The values of the three webhook headers, looked up case-insensitively.

    Accepts a dict, any mapping (starlette/httpx/aiohttp headers, whose `items()` may repeat a
    name) or a list of `(name, value)` pairs, as str or as bytes (ASGI's raw headers).
    """
    found: dict[str, list[str]] = {name: [] for name in _WANTED}
    items_method = getattr(headers, "items", None)
    pairs: Iterable[Any] = items_method() if callable(items_method) else headers
    for pair in pairs:
        name, value = pair
        key = _text(name).strip().lower()
        if key in found:
            found[key].append(_text(value).strip())
    return found


def _single(found: dict[str, list[str]], name: str) -> str:
    values = [v for v in found[name] if v]
    if not values:
        raise WebhookVerificationError(f"the {name} header is missing", reason="missing_header")
    if len(set(values)) > 1:
        raise WebhookVerificationError(
            f"the {name} header is repeated with different values", reason="invalid_header"
        )
    return values[0]


def _as_bytes(body: bytes | bytearray | memoryview | str) -> bytes:
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    raise TypeError(f"body must be the raw request body (bytes or str), not {type(body).__name__}")


def _signatures(found: dict[str, list[str]]) -> list[bytes]:
    """The decoded `v1` signatures of the header (other versions are skipped, per the spec)."""
    decoded: list[bytes] = []
    entries = " ".join(found[SIGNATURE_HEADER]).split()
    if len(entries) > MAX_SIGNATURES:
        raise WebhookVerificationError(
            f"the {SIGNATURE_HEADER} header holds {len(entries)} signatures; at most {MAX_SIGNATURES} "
            "are accepted",
            reason="invalid_header",
        )
    for entry in entries:
        # A proxy that merged repeated headers with ", " leaves a trailing comma; base64 has none.
        version, sep, value = entry.rstrip(",").partition(",")
        if not sep or version != "v1":
            continue
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            continue
        if len(raw) == 32:
            decoded.append(raw)
    if not decoded:
        raise WebhookVerificationError(
            f"the {SIGNATURE_HEADER} header holds no well-formed v1 signature (expected 'v1,<base64>')",
            reason="invalid_signature",
        )
    return decoded


def check_delivery(
    body: bytes | bytearray | memoryview | str,
    headers: HeadersLike,
    keys: Sequence[bytes],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> tuple[str, int, bytes]:
    """Check headers, timestamp and signature against already decoded `keys`.

    Returns `(webhook_id, timestamp, body_bytes)`; raises `WebhookVerificationError`.
    """
    tolerance = check_seconds("tolerance", tolerance, maximum=math.inf)
    payload = _as_bytes(body)
    found = collect_headers(headers)
    msg_id = _single(found, ID_HEADER)
    if len(msg_id) > _MAX_ID_CHARS:
        raise WebhookVerificationError(f"the {ID_HEADER} header is too long", reason="invalid_header")
    try:
        msg_id.encode()  # a lone surrogate (aiohttp's surrogateescape) cannot be signed over
    except UnicodeEncodeError:
        raise WebhookVerificationError(
            f"the {ID_HEADER} header is not valid text", reason="invalid_header"
        ) from None
    timestamp_text = _single(found, TIMESTAMP_HEADER)
    if not any(found[SIGNATURE_HEADER]):
        raise WebhookVerificationError(f"the {SIGNATURE_HEADER} header is missing", reason="missing_header")
    if not _TIMESTAMP.fullmatch(timestamp_text):
        raise WebhookVerificationError(
            f"the {TIMESTAMP_HEADER} header is not an integer of Unix seconds", reason="invalid_timestamp"
        )
    timestamp = int(timestamp_text)
    current = _time.time() if now is None else float(now)
    if current - timestamp > tolerance:
        raise WebhookVerificationError(
            f"the message timestamp is too old (more than {tolerance:g}s in the past)",
            reason="timestamp_too_old",
        )
    if timestamp - current > tolerance:
        raise WebhookVerificationError(
            f"the message timestamp is too new (more than {tolerance:g}s in the future)",
            reason="timestamp_too_new",
        )
    signatures = _signatures(found)
    matched = False
    for key in keys:
        # The HMAC is over the timestamp as sent, so the comparison is byte-exact.
        expected = _digest(key, msg_id, timestamp_text, payload)
        for candidate in signatures:
            # Every candidate is compared, in constant time, so timing says nothing about which.
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise WebhookVerificationError(
            "no signature in the webhook-signature header matches the secret", reason="no_matching_signature"
        )
    return msg_id, timestamp, payload


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode_json_body(payload: bytes) -> Any:
    try:
        return json.loads(payload.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise WebhookVerificationError("the body is not valid JSON", reason="invalid_body") from None


def verify(
    body: bytes | bytearray | memoryview | str,
    headers: HeadersLike,
    secret: SecretsLike,
    tolerance: float = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> Any:
    """Verify one delivery and return its decoded JSON payload.

    `body` is the raw request body exactly as received (bytes, or str taken as UTF-8): verify
    before any JSON parsing, which would change the bytes. `headers` is any mapping or list of
    pairs; names are matched case-insensitively. `secret` is the `whsec_...` secret (str or
    `Secret`), or a list of them while a key is rotated. `tolerance` is how far, in seconds, the
    `webhook-timestamp` may be from `now` (Unix seconds, default the current time), either way.

    Raises `WebhookVerificationError` naming the check that failed (see its `reason`).
    """
    _, _, payload = check_delivery(body, headers, decode_keys(secret), tolerance=tolerance, now=now)
    return decode_json_body(payload)
