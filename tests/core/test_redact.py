"""`redact`: exact values the SDK holds or sent, in every form a server quotes them, and
patterns for the rest; ordinary words stay readable."""

from __future__ import annotations

import base64
import gc
from urllib.parse import quote

import pytest

from asyncapi_client import Request, Secret
from asyncapi_client._redact import redact, redact_headers, redact_value


@pytest.mark.parametrize(
    "text",
    [
        "missing bearer token",
        'Bearer realm="asyncapi-sandbox"',
        "the token endpoint wants basic auth",
        "Bearer token required.",
        "rate limit exceeded; retry after 2 s",
    ],
)
def test_ordinary_words_are_left_alone(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("sent Bearer abc123", "sent Bearer ***"),
        ("sent Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", "sent Bearer ***"),
        ("sent Basic ZGVtbzpzZWNyZXQ=", "sent Basic ***"),
        ("sent bearer averylongopaquetokenvalue", "sent bearer ***"),
        ('{"access_token": "x"}', '{"access_token": "***"}'),
        ("{'refresh_token': 'x'}", "{'refresh_token': '***'}"),
        ("a=1&client_secret=x&b=2", "a=1&client_secret=***&b=2"),
        ("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_***"),
    ],
)
def test_credential_patterns_are_masked(text: str, masked: str) -> None:
    assert redact(text) == masked


def test_a_held_secret_is_masked_by_value_while_it_lives() -> None:
    value = "plainwords&more/with=signs"
    secret = Secret(value)
    assert redact(f"the server said {value}.") == "the server said ***."
    assert redact(f"the server said {quote(value, safe='')}") == "the server said ***"  # as form-encoded
    del secret
    gc.collect()
    assert redact(f"the server said {value}.") == f"the server said {value}."


def test_a_short_value_is_left_to_the_patterns() -> None:
    secret = Secret("abc")
    assert redact("abc and abcdef") == "abc and abcdef"
    del secret


def test_the_credentials_a_request_carried_are_masked_in_every_form() -> None:
    client_secret = "s3cr3t+/=&value!"
    basic = base64.b64encode(f"my-client:{client_secret}".encode()).decode()
    request = Request(
        "POST",
        "https://auth.example.com/token?code=auth-code-123456",
        {"authorization": f"Basic {basic}", "content-type": "application/x-www-form-urlencoded"},
        b"grant_type=refresh_token&refresh_token=rt-opaque-value-77",
    )
    text = (
        f"got Basic {basic}, i.e. my-client:{client_secret}, form-encoded {quote(client_secret, safe='')}, "
        "refresh rt-opaque-value-77, code auth-code-123456"
    )
    scrubbed = redact(text, sent=request)
    for value in (
        basic,
        client_secret,
        quote(client_secret, safe=""),
        "rt-opaque-value-77",
        "auth-code-123456",
    ):
        assert value not in scrubbed
    assert scrubbed.startswith("got Basic ***, i.e. ***")


def test_details_are_scrubbed_as_a_structure() -> None:
    request = Request("GET", "https://api.example.com/x", {"authorization": "Bearer tok-0123456789"})
    details = {"token": "anything", "echo": ["tok-0123456789", {"deep": "tok-0123456789!"}], "index": 3}
    assert redact_value(details, sent=request) == {
        "token": "***",
        "echo": ["***", {"deep": "***!"}],
        "index": 3,
    }
    nested: object = "tok-0123456789"
    for _ in range(100):
        nested = [nested]
    assert "tok-0123456789" not in repr(redact_value(nested, sent=request))


def test_logged_headers_mask_credential_headers_and_echoes() -> None:
    request = Request("GET", "https://api.example.com/x", {"authorization": "Bearer tok-0123456789"})
    shown = redact_headers(
        {"set-cookie": "s=1", "x-echo": "Bearer tok-0123456789", "x-ok": "fine"}, sent=request
    )
    assert shown == {"set-cookie": "***", "x-echo": "Bearer ***", "x-ok": "fine"}
