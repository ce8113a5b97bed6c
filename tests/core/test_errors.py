"""Every non-2xx status maps to its typed error, carrying the envelope's fields."""

from __future__ import annotations

import json

import pytest

import asyncapi_client as sdk
from asyncapi_client import MockTransport, Response

pytestmark = pytest.mark.anyio

STATUS_CLASSES = [
    (400, sdk.BadRequestError),
    (401, sdk.AuthenticationError),
    (403, sdk.PermissionDeniedError),
    (404, sdk.NotFoundError),
    (409, sdk.ConflictError),
    (422, sdk.UnprocessableEntityError),
    (429, sdk.RateLimitError),
    (500, sdk.InternalServerError),
    (502, sdk.InternalServerError),
    (503, sdk.InternalServerError),
    (504, sdk.InternalServerError),
    (418, sdk.APIStatusError),
]


def client_answering(status: int, body: bytes, headers: dict[str, str] | None = None) -> sdk.AsyncClient:
    def handler(request: sdk.Request) -> Response:
        return Response(status, {"content-type": "application/json", **(headers or {})}, body)

    # One attempt: these tests are about the error, not about the retry layer.
    return sdk.AsyncClient(
        "http://127.0.0.1:1",
        auth=sdk.BearerToken("t0ken"),
        transport=MockTransport(handler),
        timeout=None,
        retry=sdk.RetryPolicy(max_attempts=1),
    )


@pytest.mark.parametrize(("status", "cls"), STATUS_CLASSES)
async def test_status_maps_to_typed_error_with_envelope_fields(status: int, cls: type) -> None:
    envelope = {"error": {"code": "SOME_CODE", "message": "it failed", "details": {"field": "email"}}}
    client = client_answering(status, json.dumps(envelope).encode(), {"X-Request-Id": "req-42"})
    async with client:
        with pytest.raises(cls) as info:
            await client.projects.get(1)
    err = info.value
    assert type(err) is cls
    assert isinstance(err, sdk.APIStatusError)
    assert err.status_code == status
    assert err.code == "SOME_CODE"
    assert err.message == "it failed"
    assert err.details == {"field": "email"}
    assert err.request_id == "req-42"
    assert err.response is not None and err.response.status_code == status


async def test_unknown_code_still_maps_by_status() -> None:
    body = json.dumps({"error": {"code": "BRAND_NEW_CODE", "message": "m"}}).encode()
    async with client_answering(404, body) as client:
        with pytest.raises(sdk.NotFoundError) as info:
            await client.users.get(5)
    assert info.value.code == "BRAND_NEW_CODE"


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body>Bad Gateway</body></html>",
        b"",
        b'{"error": "just a string"}',
        b"[1,2]",
        b'{"error":{"code":5}}',
    ],
)
async def test_non_envelope_error_body_keeps_status(body: bytes) -> None:
    async with client_answering(502, body) as client:
        with pytest.raises(sdk.InternalServerError) as info:
            await client.projects.get(1)
    assert info.value.status_code == 502
    assert info.value.code is None
    assert "502" in str(info.value)


async def test_rate_limit_error_carries_retry_after() -> None:
    body = json.dumps({"error": {"code": "RATE_LIMITED", "message": "slow down"}}).encode()
    client = client_answering(429, body, {"Retry-After": "7"})
    # No retries: this test is about the error, not about the retry layer.
    client = sdk.AsyncClient(
        "http://127.0.0.1:1",
        transport=client.transport,
        retry=sdk.RetryPolicy(max_attempts=1),
        timeout=None,
    )
    async with client:
        with pytest.raises(sdk.RateLimitError) as info:
            await client.projects.get(1)
    assert info.value.retry_after == 7.0


def test_error_message_never_quotes_a_token() -> None:
    from asyncapi_client._errors import error_from_envelope

    err = error_from_envelope(
        401,
        {"error": {"code": "UNAUTHENTICATED", "message": "token Bearer abc.def.ghi is expired"}},
    )
    assert "abc.def.ghi" not in str(err)
    assert "abc.def.ghi" not in repr(err)


def test_oauth_error_is_an_api_error() -> None:
    err = sdk.OAuthError("invalid_client", "client secret hunter2 is wrong", status_code=401)
    assert isinstance(err, sdk.APIError)
    assert err.error == "invalid_client"
    assert "invalid_client" in str(err)
