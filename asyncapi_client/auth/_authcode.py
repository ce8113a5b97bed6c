"""The authorization code grant with PKCE (RFC 6749 section 4.1, RFC 7636 S256), step by step.

1. `start_authorization` makes a fresh `state` and code verifier and the authorize URL to send
   the user's browser to (authlib's `prepare_grant_uri`, `create_s256_code_challenge`). The
   application keeps the returned `PendingAuthorization` until the callback (a signed cookie,
   a server-side session): it holds the two secrets.
2. `read_callback` checks the redirect back: first its `state` against the login's, in
   constant time (a mismatch is `StateMismatchError`, and nothing is sent anywhere), then an
   RFC 6749 `error` (`access_denied`, ...) as `AuthorizationError`, then the `code`.
3. `exchange_code` sends the code with the same `redirect_uri` and the verifier to the token
   endpoint; a refusal of the code (`invalid_grant`: a code used twice or expired, a wrong
   verifier, another `redirect_uri`; `invalid_request`, `invalid_scope`) is `AuthorizationError`
   too, so one `except` covers a failed login. The client's own misconfiguration
   (`invalid_client`) or a failing server stays a plain `OAuthError`: starting again would not
   help.

Pure but for the one token request; the web-app side (`AuthorizationCodeFlow`) composes these.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

import attrs

from .._clock import Clock
from .._errors import AuthorizationError, OAuthError, StateMismatchError
from .._redact import redact
from .._secret import Secret
from ..transports._base import Transport
from ._endpoint import TokenEndpoint
from ._tokens import TokenSet

# RFC 7636 section 4.1: 43 to 128 characters. 64 random bytes in base64url are 86 of them.
_VERIFIER_BYTES: Final = 64
_STATE_BYTES: Final = 32
# Token endpoint refusals that mean "this login's code is no good" (the user starts again), as
# opposed to the client's misconfiguration (invalid_client) or the server failing.
_LOGIN_REFUSALS: Final = frozenset({"invalid_grant", "invalid_request", "invalid_scope"})
# What a callback may quote back of the server's error: bounded, and redacted.
_MAX_ERROR_CHARS: Final = 100
_MAX_DESCRIPTION_CHARS: Final = 500


def _hidden(value: object) -> str:
    return "'***'"


@attrs.frozen(slots=True)
class PendingAuthorization:
    """One login between its start and its callback: send the browser to `url`, keep the rest.

    `state` and `code_verifier` are `Secret`s (the verifier proves, at the code exchange, that
    whoever redeems the code is whoever started the login). The repr shows neither, nor the URL
    (which carries the state)."""

    url: str = attrs.field(repr=_hidden)
    state: Secret
    code_verifier: Secret
    redirect_uri: str
    scope: str | None = None


def start_authorization(
    authorize_url: str,
    client_id: str,
    redirect_uri: str,
    *,
    scope: str | None = None,
    params: Mapping[str, str] | None = None,
) -> PendingAuthorization:
    """A new login: a fresh state and verifier, and the authorize URL that carries the state,
    the S256 challenge, the `redirect_uri` and the `scope`. `params` are extra query parameters
    (`prompt`, `login_hint`, ...)."""
    from authlib.oauth2.rfc6749.parameters import prepare_grant_uri  # type: ignore[import-untyped]
    from authlib.oauth2.rfc7636 import create_s256_code_challenge  # type: ignore[import-untyped]

    state = secrets.token_urlsafe(_STATE_BYTES)
    verifier = secrets.token_urlsafe(_VERIFIER_BYTES)
    url: str = prepare_grant_uri(
        authorize_url,
        client_id,
        "code",
        redirect_uri=redirect_uri,
        scope=scope,
        state=state,
        code_challenge=create_s256_code_challenge(verifier),
        code_challenge_method="S256",
        **dict(params or {}),
    )
    return PendingAuthorization(
        url=url, state=Secret(state), code_verifier=Secret(verifier), redirect_uri=redirect_uri, scope=scope
    )


def callback_params(callback: str | Mapping[str, Any]) -> dict[str, str]:
    """The query of a callback URL (or a mapping already parsed, such as a framework's
    `request.query_params`), as single string values. A parameter given twice is refused
    (RFC 6749 section 3.1: parameters must not be repeated)."""
    if isinstance(callback, str):
        pairs = parse_qsl(urlsplit(callback).query, keep_blank_values=True)
    elif isinstance(callback, Mapping):
        multi = getattr(callback, "multi_items", None)
        pairs = list(multi()) if callable(multi) else list(callback.items())
    else:
        raise TypeError(
            f"callback must be the callback URL or its query parameters, got {type(callback).__name__}"
        )
    params: dict[str, str] = {}
    for name, value in pairs:
        if not isinstance(name, str) or not isinstance(value, str):
            raise AuthorizationError("invalid_callback", "callback parameters must be strings")
        if name in params:
            raise AuthorizationError("invalid_callback", f"the callback repeats {name!r}")
        params[name] = value
    return params


def read_callback(pending: PendingAuthorization, callback: str | Mapping[str, Any]) -> Secret:
    """The authorization code of a callback that belongs to `pending` (see the module
    docstring for the order of the checks)."""
    params = callback_params(callback)
    state = params.get("state")
    if state is None or not (Secret(state) == pending.state):
        raise StateMismatchError(
            "invalid_state",
            "the callback's state is missing"
            if state is None
            else "the callback's state is not this login's",
        )
    error = params.get("error")
    if error is not None:
        description = params.get("error_description")
        raise AuthorizationError(
            redact(error[:_MAX_ERROR_CHARS]) or "invalid_callback",
            None if description is None else redact(description[:_MAX_DESCRIPTION_CHARS]),
        )
    code = params.get("code")
    if not code:
        raise AuthorizationError("invalid_callback", "the callback carries neither a code nor an error")
    return Secret(code)


async def exchange_code(
    endpoint: TokenEndpoint,
    transport: Transport,
    pending: PendingAuthorization,
    code: Secret,
    *,
    clock: Clock,
) -> TokenSet:
    """Redeem `code` at the token endpoint (RFC 6749 section 4.1.3, with the RFC 7636
    verifier). The same `redirect_uri` as the authorize request is sent, as the server checks."""
    try:
        return await endpoint.request_token(
            transport,
            "authorization_code",
            {
                "code": code.get(),
                "redirect_uri": pending.redirect_uri,
                "code_verifier": pending.code_verifier.get(),
            },
            clock=clock,
            secrets=(code, pending.code_verifier),
        )
    except OAuthError as exc:
        if exc.error not in _LOGIN_REFUSALS:
            raise
        raise AuthorizationError(exc.error, exc.error_description, status_code=exc.status_code) from None
