"""Token revocation (RFC 7009) and introspection (RFC 7662), as a client of the same server.

Both are form POSTs with the client's authentication, like a token request (`TokenEndpoint`).
Revocation answers 200 whether or not the token was valid (RFC 7009 section 2.2: the client
cannot tell, and need not); an error body (`invalid_client`, `unsupported_token_type`) or a
5xx is an `OAuthError`. Introspection answers `{"active": ...}`; an inactive token carries
nothing else, an active one its metadata. A reply without a boolean `active` is an
`OAuthError("invalid_introspection_response")`, never a KeyError.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from .._errors import OAuthError
from .._secret import Secret, as_secret
from ..transports._base import Transport
from ._endpoint import TokenEndpoint
from ._tokens import read_oauth_reply

TokenTypeHint = Literal["access_token", "refresh_token"]

# Members of an introspection reply that IntrospectedToken holds as named attributes.
_NAMED = frozenset({"active", "scope", "client_id", "username", "sub", "exp", "token_type"})


def _names_only(extra: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{k!r}: ..." for k in extra) + "}"


@attrs.frozen(slots=True)
class IntrospectedToken:
    """What the authorization server says of a token (RFC 7662 section 2.2). `exp` is a Unix
    time; `extra` holds the reply's other members (its repr shows their names only)."""

    active: bool
    scope: str | None = None
    client_id: str | None = None
    username: str | None = None
    sub: str | None = None
    exp: float | None = None
    token_type: str | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict, repr=_names_only, hash=False)


def _hint(token_type_hint: str | None) -> str | None:
    if token_type_hint not in (None, "access_token", "refresh_token"):
        raise ValueError(
            f"token_type_hint must be 'access_token', 'refresh_token' or None, got {token_type_hint!r}"
        )
    return token_type_hint


async def revoke_token(
    endpoint: TokenEndpoint,
    transport: Transport,
    url: str,
    token: str | Secret,
    token_type_hint: TokenTypeHint | None = None,
) -> None:
    """Revoke `token` at `url` (RFC 7009). Revoking a refresh token also ends the access tokens
    of its grant on servers that follow the RFC's recommendation (the sandbox does)."""
    secret = as_secret(token)
    request = endpoint.form_request(url, {"token": secret.get(), "token_type_hint": _hint(token_type_hint)})
    response = await endpoint.send(transport, request)
    read_oauth_reply(response, "revocation endpoint", (endpoint.client_secret, secret))


async def introspect_token(
    endpoint: TokenEndpoint,
    transport: Transport,
    url: str,
    token: str | Secret,
    token_type_hint: TokenTypeHint | None = None,
) -> IntrospectedToken:
    """Ask `url` (RFC 7662) whether `token` is active, and what it grants."""
    secret = as_secret(token)
    request = endpoint.form_request(url, {"token": secret.get(), "token_type_hint": _hint(token_type_hint)})
    response = await endpoint.send(transport, request)
    body = read_oauth_reply(response, "introspection endpoint", (endpoint.client_secret, secret))
    if not isinstance(body, Mapping) or not isinstance(body.get("active"), bool):
        raise OAuthError(
            "invalid_introspection_response",
            "the introspection reply is not a JSON object with a boolean 'active'",
            status_code=response.status_code,
        )
    if not body["active"]:
        return IntrospectedToken(active=False)
    exp: Any = body.get("exp")
    return IntrospectedToken(
        active=True,
        scope=_text(body, "scope"),
        client_id=_text(body, "client_id"),
        username=_text(body, "username"),
        sub=_text(body, "sub"),
        exp=float(exp) if _is_time(exp) else None,  # an odd `exp` is dropped, not a crash
        token_type=_text(body, "token_type"),
        extra={k: v for k, v in body.items() if k not in _NAMED},
    )


def _text(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    return value if isinstance(value, str) else None


def _is_time(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
