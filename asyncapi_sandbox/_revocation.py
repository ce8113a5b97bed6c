"""POST /oauth/revoke (RFC 7009) and POST /oauth/introspect (RFC 7662).

Both need the client's authentication (as the token endpoint does) and a `token`, with an
optional `token_type_hint` (`access_token` or `refresh_token`; another is
`unsupported_token_type`); both look the token up in both kinds whatever the hint.

- Revocation answers 200 with an empty body whether or not the token existed (section 2.2).
  Revoking a refresh token ends its whole grant: the refresh token and every access token of
  that authorization (the RFC's SHOULD); revoking an access token ends that token only. A token
  of another client is left alone, with the same 200 (nothing is revealed).
- Introspection answers `{"active": false}` for a token that is unknown, expired, revoked or
  another client's; otherwise `active`, `client_id`, `scope`, `token_type` (access tokens:
  `Bearer`), `exp` (Unix time), and for a user's token `sub` (the user id) and `username`
  (their email).
"""

from __future__ import annotations

import time
from typing import Any

from ._asgi import Headers, Receive, Scope, Send, dumps, read_body, reply
from ._errors import ApiError, OAuthError
from ._state import AccessToken, RefreshToken, State
from ._token import authenticate_client, read_form

_HINTS = ("access_token", "refresh_token")


async def serve_revocation(
    state: State,
    scope: Scope,
    receive: Receive,
    send: Send,
    headers: Headers,
    authorization: bytes,
    content_type: bytes,
    *,
    introspect: bool,
) -> None:
    headers.append((b"cache-control", b"no-store"))
    try:
        if scope["method"] != "POST":
            headers.append((b"allow", b"POST"))
            raise OAuthError(405, "invalid_request", "this endpoint takes POST")
        form = read_form(await read_body(receive), content_type)
        client_id = authenticate_client(state, form, authorization)
        token = form.get("token")
        if not token:
            raise OAuthError(400, "invalid_request", "token is required")
        hint = form.get("token_type_hint")
        if hint is not None and hint not in _HINTS:
            raise OAuthError(400, "unsupported_token_type", f"token_type_hint {hint!r} is not supported")
        if introspect:
            await reply(state, send, 200, dumps(_introspection(state, client_id, token)), headers)
        else:
            _revoke(state, client_id, token)
            await reply(state, send, 200, b"", headers)
    except OAuthError as error:
        if error.error == "invalid_client":
            headers.append((b"www-authenticate", b'Basic realm="asyncapi-sandbox"'))
        data = {"error": error.error, "error_description": error.description}
        await reply(state, send, error.status, dumps(data), headers)
    except ApiError as error:
        data = {"error": "invalid_request", "error_description": error.message}
        await reply(state, send, 400, dumps(data), headers)


def _revoke(state: State, client_id: str, token: str) -> None:
    refresh = state.refresh_tokens.get(token)
    if refresh is not None and refresh.client_id == client_id:
        state.stats.revocations += 1
        if refresh.grant_id is not None:
            state.revoke_grant(refresh.grant_id)
        else:
            del state.refresh_tokens[token]
        return
    access = state.access_tokens.get(token)
    if access is not None and access.client_id == client_id:
        state.stats.revocations += 1
        del state.access_tokens[token]


def _introspection(state: State, client_id: str, token: str) -> dict[str, Any]:
    record: AccessToken | RefreshToken | None = state.access_tokens.get(token)
    kind = "Bearer"
    if record is None:
        record, kind = state.refresh_tokens.get(token), "refresh_token"
    now = time.monotonic()
    if record is None or record.client_id != client_id or record.expires_at <= now:
        return {"active": False}
    answer: dict[str, Any] = {
        "active": True,
        "client_id": record.client_id,
        "token_type": kind,
        "exp": int(time.time() + (record.expires_at - now)),
    }
    if record.scope:
        answer["scope"] = record.scope
    user = state.users.get(record.user_id if record.user_id is not None else state.me_ids.get(client_id, -1))
    if user is not None:
        answer["sub"] = str(user["id"])
        answer["username"] = user["email"]
    return answer
