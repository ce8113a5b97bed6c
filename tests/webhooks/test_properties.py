"""Properties over many inputs: our signatures match the reference's, and any change to the id,
timestamp or body is refused."""

from __future__ import annotations

import base64
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook as ReferenceWebhook

from asyncapi_client import WebhookVerificationError
from asyncapi_client.webhooks import sign, verify

keys = st.binary(min_size=1, max_size=64)
ids = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40)
timestamps = st.integers(min_value=1, max_value=4_000_000_000)
bodies = st.text(max_size=300)


@settings(max_examples=200, deadline=None)
@given(key=keys, msg_id=ids, timestamp=timestamps, body=bodies)
def test_signature_equals_the_reference(key: bytes, msg_id: str, timestamp: int, body: str) -> None:
    secret = "whsec_" + base64.b64encode(key).decode()
    when = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    assert sign(secret, msg_id, timestamp, body) == ReferenceWebhook(secret).sign(msg_id, when, body)


@settings(max_examples=200, deadline=None)
@given(key=keys, msg_id=ids, timestamp=timestamps, body=st.binary(max_size=200), data=st.data())
def test_any_change_is_refused(
    key: bytes, msg_id: str, timestamp: int, body: bytes, data: st.DataObject
) -> None:
    secret = "whsec_" + base64.b64encode(key).decode()
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }
    what = data.draw(st.sampled_from(["body", "id", "timestamp"]))
    if what == "body":
        if body:
            index = data.draw(st.integers(0, len(body) - 1))
            body = body[:index] + bytes([body[index] ^ data.draw(st.integers(1, 255))]) + body[index + 1 :]
        else:
            body = b"x"
    elif what == "id":
        headers["webhook-id"] = msg_id + data.draw(ids)
    else:
        headers["webhook-timestamp"] = str(timestamp + data.draw(st.integers(1, 100)))
    with pytest.raises(WebhookVerificationError) as info:
        verify(body, headers, secret, tolerance=1000, now=timestamp)
    assert info.value.reason == "no_matching_signature"
