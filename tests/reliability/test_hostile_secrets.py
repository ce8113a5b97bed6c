"""Secrets a server echoes back never reach an exception, a log line or a pickle; ordinary words
do (masking hides secrets, not words).

The peer is a bare ASGI app served by uvicorn that quotes every credential it receives:

- its token endpoint issues real tokens, or (for `echo_oauth` clients) refuses with an RFC 6749
  error whose `error` and `error_description` quote the client secret (as sent and
  form-encoded), the refresh token and the HTTP Basic credentials in both forms (base64 and
  decoded `id:secret`);
- its API answers 401 with an envelope quoting the token in `message`, in nested `details` and
  in the `X-Request-Id` and `X-Echo` headers; a 200 HTML page quoting the `Authorization`
  header; a 500 quoting a bearer token set as a client default header; and, with no
  `Authorization` at all, "missing bearer token".

The test collects every text a user could see (`str`, `repr` and traceback of each exception,
its `details`, `excerpt`, OAuth fields, the bytes of `pickle.dumps(exc)`, and every log record
at DEBUG with `LoggingMiddleware(include_headers=True)` per call and per attempt), checks that
the server really did quote each secret (in the raw reply bodies), and that none of the secrets,
in any of its forms, is in any of those texts.
"""

from __future__ import annotations

import base64
import logging
import pickle
import secrets
import threading
import traceback
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus

import pytest

import asyncapi_client as sdk
from tests.support.hostile_servers import Receive, Scope, Send, header, read_body, reply, serving

CLIENT_ID = "echo-client"
# Characters that URL-encoding changes, so the form-encoded secret is a form of its own.
CLIENT_SECRET = "s3cr3t+/=&value!" + secrets.token_hex(6)
REFRESH_TOKEN = "rt-" + secrets.token_urlsafe(18)
DEFAULT_HEADER_TOKEN = "hdr-" + secrets.token_urlsafe(18)


class EchoServer:
    """Quotes back whatever credentials it is sent; remembers the tokens it issued."""

    def __init__(self) -> None:
        self.issued: list[str] = []
        self.bodies: list[bytes] = []  # every reply body it sent, to prove the echo happened
        self._lock = threading.Lock()

    async def _send(
        self, send: Send, status: int, body: Any, headers: dict[str, str] | None = None, **kw: Any
    ) -> None:
        import json

        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        with self._lock:
            self.bodies.append(content)
        await reply(send, status, content, headers, **kw)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        path = scope["path"]
        authorization = header(scope, "authorization") or ""
        if path == "/oauth/token":
            await self._token(send, authorization, dict(parse_qsl(body.decode())))
            return
        token = authorization.partition(" ")[2]
        if not authorization:
            await self._send(
                send, 401, {"error": {"code": "UNAUTHENTICATED", "message": "missing bearer token"}}
            )
        elif path == "/api/v1/projects/1":
            page = f"<html><body>upstream rejected Authorization: {authorization}</body></html>"
            await self._send(send, 200, page.encode(), content_type="text/html")
        elif path == "/api/v1/projects/2":
            message = f"upstream failed for {authorization}"
            await self._send(send, 500, {"error": {"code": "INTERNAL", "message": message, "details": None}})
        else:
            envelope = {
                "error": {
                    "code": "UNAUTHENTICATED",
                    "message": f"token {token} is not valid (you sent '{authorization}')",
                    "details": {"token": token, "you_sent": authorization, "deep": [{"seen": [token]}]},
                }
            }
            await self._send(
                send, 401, envelope, {"x-request-id": f"req-for-{token}", "x-echo": authorization}
            )

    async def _token(self, send: Send, authorization: str, form: dict[str, str]) -> None:
        client_id = form.get("client_id") or ""
        if authorization.startswith("Basic "):
            client_id = base64.b64decode(authorization[6:]).decode().partition(":")[0]
        if client_id == CLIENT_ID:
            token = "at-" + secrets.token_urlsafe(24)
            with self._lock:
                self.issued.append(token)
            await self._send(send, 200, {"access_token": token, "token_type": "Bearer", "expires_in": 3600})
            return
        decoded = base64.b64decode(authorization[6:]).decode() if authorization.startswith("Basic ") else ""
        quoted = "&".join(f"{k}={quote_plus(v)}" for k, v in form.items())
        error = {
            "error": f"invalid_client:{authorization}",
            "error_description": (
                f"refused {authorization} ({decoded}); form {quoted}; secret {form.get('client_secret')}; "
                f"refresh {form.get('refresh_token')}"
            ),
        }
        await self._send(send, 401, error)


def _texts_of(exc: BaseException) -> list[str]:
    texts = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    for attr in ("details", "excerpt", "error", "error_description", "request_id", "message"):
        value = getattr(exc, attr, None)
        if value is not None:
            texts.append(repr(value))
    texts.append(repr(pickle.dumps(exc)))
    return texts


def _forms(value: str) -> set[str]:
    return {value, quote(value, safe=""), quote_plus(value)}


async def test_no_echoed_secret_reaches_an_exception_a_pickle_or_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="asyncapi_client")  # whatever an earlier test left it at
    server = EchoServer()
    errors: list[BaseException] = []
    logging_kwargs: dict[str, Any] = {
        "middleware": [sdk.LoggingMiddleware(include_headers=True)],
        "attempt_middleware": [sdk.LoggingMiddleware(include_headers=True)],
        "retry": sdk.RetryPolicy(max_attempts=2, backoff_base=0.0, backoff_max=0.0),
    }

    async def expect(error: type[BaseException], call: Any) -> BaseException:
        with pytest.raises(error) as info:
            await call
        errors.append(info.value)
        return info.value

    with serving(server) as url:
        token_url = url + "/oauth/token"
        good = sdk.ClientCredentials(token_url, CLIENT_ID, "the-right-secret-0123")
        async with sdk.AsyncClient(url, auth=good, **logging_kwargs) as client:
            rejected = await expect(sdk.AuthenticationError, client.users.me())
            await expect(sdk.ResponseDecodeError, client.projects.get(1))
        basic = sdk.RefreshToken(token_url, "echo-other", REFRESH_TOKEN, client_secret=CLIENT_SECRET)
        async with sdk.AsyncClient(url, auth=basic, **logging_kwargs) as client:
            oauth_basic = await expect(sdk.OAuthError, client.users.me())
        post = sdk.ClientCredentials(token_url, "echo-other", CLIENT_SECRET, auth_method="client_secret_post")
        async with sdk.AsyncClient(url, auth=post, **logging_kwargs) as client:
            await expect(sdk.OAuthError, client.users.me())
        defaults = {"Authorization": f"Bearer {DEFAULT_HEADER_TOKEN}"}
        async with sdk.AsyncClient(url, headers=defaults, **logging_kwargs) as client:
            await expect(sdk.InternalServerError, client.projects.get(2))
        async with sdk.AsyncClient(url, **logging_kwargs) as client:
            missing = await expect(sdk.AuthenticationError, client.users.me())

    basic_b64 = base64.b64encode(f"echo-other:{CLIENT_SECRET}".encode()).decode()
    wanted = {
        "issued access token": set().union(*(_forms(t) for t in server.issued)),
        "client secret": _forms(CLIENT_SECRET),
        "refresh token": _forms(REFRESH_TOKEN),
        "Basic credentials (base64)": {basic_b64},
        "Basic credentials (decoded)": {f"echo-other:{CLIENT_SECRET}"},
        "default-header token": _forms(DEFAULT_HEADER_TOKEN),
    }
    # The server did quote every one of them: the test can fail.
    sent = b"".join(server.bodies).decode()
    for what, forms in wanted.items():
        assert any(form in sent for form in forms), f"the server never quoted the {what}"
    assert len(server.issued) == 2  # the first token, and the one the 401 refreshed

    texts = [t for exc in errors for t in _texts_of(exc)]
    texts += [caplog.text, *(r.getMessage() for r in caplog.records)]
    assert len(caplog.records) > 20
    leaks = [
        (what, form, text[:300])
        for text in texts
        for what, forms in wanted.items()
        for form in forms
        if form in text
    ]
    assert not leaks, leaks[:3]

    # What is not secret stays readable.
    assert missing.message == "missing bearer token"  # not "missing bearer ***"
    assert rejected.code == "UNAUTHENTICATED" and rejected.message.startswith("token *** is not valid")
    assert isinstance(rejected, sdk.APIStatusError) and rejected.details["deep"] == [{"seen": ["***"]}]
    assert rejected.request_id == "req-for-***"
    assert isinstance(oauth_basic, sdk.OAuthError) and "Basic ***" in (oauth_basic.error_description or "")
    assert "x-echo': 'Bearer ***'" in caplog.text
