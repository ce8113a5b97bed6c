"""POST /oauth/token: the client-credentials, authorization-code (with PKCE) and refresh-token
grants (RFC 6749, RFC 7636).

Clients authenticate by HTTP Basic or form fields (one way, not both); refresh tokens rotate
(each works once) and keep the user and the grant they were issued for. Errors are RFC 6749
`{"error", "error_description"}` bodies, never the API's envelope. The form parsing and the
client authentication serve the revocation and introspection endpoints too (`_revocation.py`).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from typing import Any
from urllib.parse import parse_qsl, unquote_plus

from ._asgi import Headers, Receive, Scope, Send, dumps, read_body, reply
from ._authorize import redeem_code
from ._errors import ApiError, OAuthError
from ._state import State

_GRANTS = ("client_credentials", "refresh_token", "authorization_code")


async def serve_token(
    state: State,
    scope: Scope,
    receive: Receive,
    send: Send,
    headers: Headers,
    authorization: bytes,
    content_type: bytes,
) -> None:
    headers.append((b"cache-control", b"no-store"))
    headers.append((b"pragma", b"no-cache"))
    try:
        if scope["method"] != "POST":
            headers.append((b"allow", b"POST"))
            raise OAuthError(405, "invalid_request", "the token endpoint takes POST")
        body = await read_body(receive)
        payload = _grant(state, body, authorization, content_type)
    except OAuthError as error:
        state.stats.token_errors += 1
        if error.error == "invalid_client":
            headers.append((b"www-authenticate", b'Basic realm="asyncapi-sandbox"'))
        data = {"error": error.error, "error_description": error.description}
        await reply(state, send, error.status, dumps(data), headers)
        return
    except ApiError as error:
        state.stats.token_errors += 1
        data = {"error": "invalid_request", "error_description": error.message}
        await reply(state, send, 400, dumps(data), headers)
        return
    await reply(state, send, 200, dumps(payload), headers)


def read_form(body: bytes, content_type: bytes) -> dict[str, str]:
    """An OAuth form body, each parameter once (RFC 6749 section 3.2)."""
    if b"application/x-www-form-urlencoded" not in content_type.lower():
        raise OAuthError(400, "invalid_request", "send the request as application/x-www-form-urlencoded")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        raise OAuthError(400, "invalid_request", "the form body cannot be parsed") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise OAuthError(400, "invalid_request", f"parameter {name!r} is repeated")
        form[name] = value
    return form


def _grant(state: State, body: bytes, authorization: bytes, content_type: bytes) -> dict[str, Any]:
    form = read_form(body, content_type)
    grant_type = form.get("grant_type")
    if grant_type in state.stats.token_requests:
        state.stats.token_requests[grant_type] += 1
    if not grant_type:
        raise OAuthError(400, "invalid_request", "grant_type is required")
    if grant_type not in _GRANTS:
        raise OAuthError(400, "unsupported_grant_type", f"grant_type {grant_type!r} is not supported")
    client_id = authenticate_client(state, form, authorization)
    scope = form.get("scope") or None
    user_id: int | None = None
    grant_id: int | None = None
    if grant_type == "authorization_code":
        code = redeem_code(state, form, client_id)
        scope, user_id, grant_id = code.scope, code.user_id, code.grant_id
    elif grant_type == "refresh_token":
        presented = form.get("refresh_token")
        if not presented:
            raise OAuthError(400, "invalid_request", "refresh_token is required")
        record = state.refresh_tokens.get(presented)
        if record is None or record.client_id != client_id or record.expires_at <= time.monotonic():
            raise OAuthError(400, "invalid_grant", "the refresh token is invalid, expired or already used")
        del state.refresh_tokens[presented]  # rotation: a refresh token works once
        scope, user_id, grant_id = record.scope, record.user_id, record.grant_id
    access, refresh = state.issue_tokens(client_id, scope, user_id=user_id, grant_id=grant_id)
    reply_body: dict[str, Any] = {
        "access_token": access,
        "token_type": "Bearer",
        # Rounded down: a client that trusts expires_in must never use a token the server
        # already considers expired (1.5 s is announced as 1, not 2).
        "expires_in": max(1, int(state.config.token_ttl)),
        "refresh_token": refresh,
    }
    if scope:
        reply_body["scope"] = scope
    return reply_body


def authenticate_client(state: State, form: dict[str, str], authorization: bytes) -> str:
    """The registered client's id, from HTTP Basic or the form's `client_id`/`client_secret`."""
    config = state.config
    basic = authorization[:6].lower() == b"basic "
    in_form = "client_id" in form or "client_secret" in form
    if basic and in_form:
        raise OAuthError(400, "invalid_request", "authenticate the client one way: HTTP Basic or form fields")
    if basic:
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise OAuthError(401, "invalid_client", "the Basic credentials cannot be decoded") from None
        raw_id, sep, raw_secret = decoded.partition(":")
        if not sep:
            raise OAuthError(401, "invalid_client", "the Basic credentials have no ':'")
        client_id, client_secret = unquote_plus(raw_id), unquote_plus(raw_secret)
    elif in_form:
        client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
    else:
        raise OAuthError(401, "invalid_client", "client authentication is required")
    if not (
        hmac.compare_digest(client_id.encode(), config.client_id.encode())
        and hmac.compare_digest(client_secret.encode(), config.client_secret.encode())
    ):
        raise OAuthError(401, "invalid_client", "unknown client or wrong secret")
    return client_id
