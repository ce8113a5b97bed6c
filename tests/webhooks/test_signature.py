"""Signing and verification: the spec's vector, the reference package both ways, rejections."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook as ReferenceWebhook
from standardwebhooks.webhooks import WebhookVerificationError as ReferenceError

from asyncapi_client import Secret, WebhookVerificationError
from asyncapi_client.webhooks import decode_secret, sign, signed_headers, verify

# The published test vector of the Standard Webhooks spec.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
BODY = b'{"test": 2432232314}'
SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
OTHER_SECRET = "whsec_" + base64.b64encode(b"another key of thirty-two bytes!").decode()


def vector_headers(**overrides: str) -> dict[str, str]:
    headers = {"webhook-id": MSG_ID, "webhook-timestamp": str(TIMESTAMP), "webhook-signature": SIGNATURE}
    headers.update(overrides)
    return headers


def rejected(body: Any, headers: Any, secret: Any = SECRET, **kwargs: Any) -> WebhookVerificationError:
    kwargs.setdefault("now", TIMESTAMP)
    with pytest.raises(WebhookVerificationError) as info:
        verify(body, headers, secret, **kwargs)
    return info.value


def test_published_vector_signs() -> None:
    assert sign(SECRET, MSG_ID, TIMESTAMP, BODY) == SIGNATURE
    assert sign(Secret(SECRET), MSG_ID, TIMESTAMP, BODY.decode()) == SIGNATURE


def test_published_vector_verifies() -> None:
    assert verify(BODY, vector_headers(), SECRET, now=TIMESTAMP) == {"test": 2432232314}
    assert verify(BODY.decode(), vector_headers(), Secret(SECRET), now=TIMESTAMP + 299) == {
        "test": 2432232314
    }


def test_signed_headers_builds_all_three() -> None:
    headers = signed_headers(SECRET, BODY, msg_id=MSG_ID, timestamp=TIMESTAMP)
    assert headers == vector_headers()
    fresh = signed_headers(SECRET, BODY)
    assert (
        fresh["webhook-id"].startswith("msg_")
        and fresh["webhook-id"] != signed_headers(SECRET, BODY)["webhook-id"]
    )
    assert abs(int(fresh["webhook-timestamp"]) - time.time()) < 5
    assert verify(BODY, fresh, SECRET) == {"test": 2432232314}


def test_reference_verifies_what_we_sign() -> None:
    body = json.dumps({"type": "project.created", "data": {"name": "ünïcode"}}, ensure_ascii=False)
    headers = signed_headers(SECRET, body)
    assert ReferenceWebhook(SECRET).verify(body.encode(), headers) == json.loads(body)
    # and a wrong secret on our side is refused by the reference too
    bad = signed_headers(OTHER_SECRET, body)
    with pytest.raises(ReferenceError):
        ReferenceWebhook(SECRET).verify(body.encode(), bad)


def test_we_verify_what_the_reference_signs() -> None:
    from datetime import datetime, timezone

    reference = ReferenceWebhook(SECRET)
    now = datetime.now(tz=timezone.utc)
    body = '{"id":"evt_1","type":"ping","created_at":"2024-01-01T00:00:00Z","data":{}}'
    signature = reference.sign(MSG_ID, now, body)
    headers = {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    assert verify(body.encode(), headers, SECRET)["type"] == "ping"
    assert signature == sign(SECRET, MSG_ID, int(now.timestamp()), body)


def test_headers_looked_up_case_insensitively_in_any_shape() -> None:
    upper = {k.upper(): v for k, v in vector_headers().items()}
    pairs = list(vector_headers().items())
    raw = [(k.title().encode(), v.encode()) for k, v in vector_headers().items()]
    for headers in (upper, pairs, raw):
        assert verify(BODY, headers, SECRET, now=TIMESTAMP) == {"test": 2432232314}


def test_starlette_and_httpx_headers() -> None:
    import httpx
    from starlette.datastructures import Headers

    starlette_headers = Headers(raw=[(k.encode(), v.encode()) for k, v in vector_headers().items()])
    assert verify(BODY, starlette_headers, SECRET, now=TIMESTAMP) == {"test": 2432232314}
    assert verify(BODY, httpx.Headers(vector_headers()), SECRET, now=TIMESTAMP) == {"test": 2432232314}


def test_several_signatures_and_key_rotation() -> None:
    other = sign(OTHER_SECRET, MSG_ID, TIMESTAMP, BODY)
    # the header lists a stale signature first, and an unknown version
    header = f"v1a,ignored {other} {SIGNATURE}"
    assert verify(BODY, vector_headers(**{"webhook-signature": header}), SECRET, now=TIMESTAMP)
    # a receiver holding both the old and the new secret accepts either
    assert verify(BODY, vector_headers(**{"webhook-signature": other}), [SECRET, OTHER_SECRET], now=TIMESTAMP)
    assert verify(BODY, vector_headers(), (Secret(OTHER_SECRET), Secret(SECRET)), now=TIMESTAMP)
    # repeated signature headers (one per secret) are all considered
    pairs = [*vector_headers(**{"webhook-signature": other}).items(), ("Webhook-Signature", SIGNATURE)]
    assert verify(BODY, pairs, SECRET, now=TIMESTAMP)
    # a proxy that merged them with ", "
    merged = vector_headers(**{"webhook-signature": f"{other}, {SIGNATURE}"})
    assert verify(BODY, merged, SECRET, now=TIMESTAMP)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_header(missing: str) -> None:
    headers = vector_headers()
    del headers[missing]
    error = rejected(BODY, headers)
    assert error.reason == "missing_header"
    assert missing in str(error)
    assert rejected(BODY, vector_headers(**{missing: ""})).reason == "missing_header"


@pytest.mark.parametrize("value", ["abc", "1614265330.5", "-1614265330", "16142653300000000000", ""])
def test_bad_timestamp(value: str) -> None:
    reason = rejected(BODY, vector_headers(**{"webhook-timestamp": value})).reason
    assert reason == ("missing_header" if value == "" else "invalid_timestamp")


def test_stale_and_future_timestamps() -> None:
    old = rejected(BODY, vector_headers(), now=TIMESTAMP + 301)
    assert old.reason == "timestamp_too_old" and "too old" in str(old)
    new = rejected(BODY, vector_headers(), now=TIMESTAMP - 301)
    assert new.reason == "timestamp_too_new" and "too new" in str(new)
    # the edges are inside; a custom tolerance moves them
    assert verify(BODY, vector_headers(), SECRET, now=TIMESTAMP + 300)
    assert verify(BODY, vector_headers(), SECRET, now=TIMESTAMP - 300)
    assert rejected(BODY, vector_headers(), now=TIMESTAMP + 11, tolerance=10).reason == "timestamp_too_old"
    # a stale message re-signed with a fresh timestamp is a different, valid delivery; an old
    # signature with a fresh timestamp is not
    fresh = str(TIMESTAMP + 1000)
    assert rejected(BODY, vector_headers(**{"webhook-timestamp": fresh}), now=TIMESTAMP + 1000).reason == (
        "no_matching_signature"
    )


@pytest.mark.parametrize(
    "signature",
    ["v1,!!!not-base64!!!", "v1,", "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=", "v1,Zm9v", "v2,abc"],
)
def test_malformed_signatures(signature: str) -> None:
    error = rejected(BODY, vector_headers(**{"webhook-signature": signature}))
    assert error.reason == "invalid_signature"


def test_wrong_secret_and_tampered_body() -> None:
    assert rejected(BODY, vector_headers(), OTHER_SECRET).reason == "no_matching_signature"
    assert rejected(b'{"test": 2432232315}', vector_headers()).reason == "no_matching_signature"
    assert rejected(BODY + b" ", vector_headers()).reason == "no_matching_signature"
    assert rejected(BODY, vector_headers(**{"webhook-id": MSG_ID + "x"})).reason == "no_matching_signature"
    # flipping one bit of the signature
    raw = bytearray(base64.b64decode(SIGNATURE[3:]))
    raw[0] ^= 1
    flipped = "v1," + base64.b64encode(bytes(raw)).decode()
    assert rejected(BODY, vector_headers(**{"webhook-signature": flipped})).reason == "no_matching_signature"


def test_errors_never_show_the_secret_or_expected_signature() -> None:
    error = rejected(BODY, vector_headers(), OTHER_SECRET)
    text = str(error) + repr(error)
    assert SIGNATURE[3:] not in text
    assert OTHER_SECRET[6:] not in text and SECRET[6:] not in text
    assert sign(OTHER_SECRET, MSG_ID, TIMESTAMP, BODY)[3:] not in text


def test_body_not_json_is_reported_after_the_signature() -> None:
    body = b"not json"
    headers = vector_headers(**{"webhook-signature": sign(SECRET, MSG_ID, TIMESTAMP, body)})
    assert rejected(body, headers).reason == "invalid_body"
    invalid_utf8 = b'{"a": "\xff"}'
    headers = vector_headers(**{"webhook-signature": sign(SECRET, MSG_ID, TIMESTAMP, invalid_utf8)})
    assert rejected(invalid_utf8, headers).reason == "invalid_body"
    nan = b'{"a": NaN}'
    headers = vector_headers(**{"webhook-signature": sign(SECRET, MSG_ID, TIMESTAMP, nan)})
    assert rejected(nan, headers).reason == "invalid_body"
    # unsigned garbage is a signature failure, not a JSON one: nothing is parsed before verifying
    assert rejected(body, vector_headers()).reason == "no_matching_signature"


def test_secrets() -> None:
    assert decode_secret(SECRET) == decode_secret(SECRET[6:]) == decode_secret(Secret(SECRET))
    assert decode_secret(SECRET.rstrip("=")) == decode_secret(SECRET)  # unpadded, as the reference allows
    for bad in ("", "whsec_", "whsec_***", "   "):
        with pytest.raises(WebhookVerificationError) as info:
            decode_secret(bad)
        assert info.value.reason == "invalid_secret"
    with pytest.raises(WebhookVerificationError):
        verify(BODY, vector_headers(), [], now=TIMESTAMP)
    with pytest.raises(TypeError):
        verify(BODY, vector_headers(), SECRET.encode(), now=TIMESTAMP)  # type: ignore[arg-type]


def test_duplicated_id_header_with_different_values() -> None:
    pairs = [*vector_headers().items(), ("webhook-id", "msg_other")]
    assert rejected(BODY, pairs).reason == "invalid_header"
    # the same value twice is harmless
    assert verify(BODY, [*vector_headers().items(), ("webhook-id", MSG_ID)], SECRET, now=TIMESTAMP)
