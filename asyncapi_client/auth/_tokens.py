"""Token sets and the token endpoint's wire format (RFC 6749 sections 4.4, 5 and 6).

Pure functions, no I/O: building the token request and reading the reply are tested without a
server. authlib builds the form body (`prepare_token_request`) and applies the client
authentication (`client_secret_basic` / `client_secret_post` / `none`); the reply is validated
here, because a token endpoint's odd values (a string or negative `expires_in`, NaN, a missing
`access_token`, an HTML error page) must become an `OAuthError`, never a KeyError or a crash.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Literal

import attrs

from .._errors import OAuthError
from .._redact import redact
from .._secret import Secret, as_secret
from .._types import Request, Response
from .._version import __version__

AuthMethod = Literal["client_secret_basic", "client_secret_post", "none"]
AUTH_METHODS: Final = ("client_secret_basic", "client_secret_post", "none")

# A token that claims to live longer than this is treated as living this long: a huge
# `expires_in` (1e300) must not overflow the arithmetic, and a year is longer than any real one.
MAX_LIFETIME: Final = 365 * 86400.0
# A token that claims to live less than this is treated as living this long: an `expires_in` of
# 0.001 would otherwise make one token request per call. Used past its real expiry, it draws a
# 401, which refreshes once and replays once.
MIN_LIFETIME: Final = 1.0

# Reply fields that TokenSet holds as named attributes; everything else goes to `extra`.
_KNOWN: Final = frozenset({"access_token", "token_type", "expires_in", "refresh_token", "scope"})
# Form fields the grant owns: extra_params may not override them.
RESERVED_PARAMS: Final = frozenset(
    {
        "grant_type",
        "client_id",
        "client_secret",
        "refresh_token",
        "scope",
        "code",
        "redirect_uri",
        "code_verifier",
    }
)


def _extra_repr(extra: Mapping[str, Any]) -> str:
    # Extra fields may hold an id_token or other credentials: show their names only.
    return "{" + ", ".join(f"{k!r}: ..." for k in extra) + "}"


def _optional_secret(value: str | Secret | None) -> Secret | None:
    return None if value is None else as_secret(value)


@attrs.frozen(slots=True)
class TokenSet:
    """One token endpoint reply: what `on_token` receives and a `TokenStore` keeps.

    `expires_at` is on the auth object's monotonic clock (seconds), computed from the moment the
    token request was sent, so it errs early. `expires_in` is the lifetime the server granted
    (None: unknown, the token is used until the server rejects it). `extra` holds the reply's
    other fields (`id_token`, vendor fields) as sent; its repr shows the names only.
    """

    access_token: Secret = attrs.field(converter=as_secret)
    token_type: str = "Bearer"
    expires_in: float | None = None
    expires_at: float | None = None
    refresh_token: Secret | None = attrs.field(default=None, converter=_optional_secret)
    scope: str | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict, repr=_extra_repr, hash=False)

    def remaining(self, now: float) -> float | None:
        """Seconds until expiry at monotonic time `now` (None: no known expiry)."""
        return None if self.expires_at is None else self.expires_at - now


def check_token_text(secret: Secret, what: str) -> None:
    """Refuse an access token that cannot go in an `Authorization` header as it is."""
    text = secret.get()
    if not text or text.strip() != text or "\n" in text or "\r" in text:
        raise ValueError(f"{what} an empty token or one with spaces or line breaks")


def scrub(text: str | None, secrets: Iterable[Secret | None]) -> str | None:
    """`text` with every known secret value and credential-looking pattern masked."""
    if text is None:
        return None
    for secret in secrets:
        if secret is not None and len(secret.get()) >= 4:
            text = text.replace(secret.get(), "***")
    return redact(text)


def build_token_request(
    token_url: str,
    grant_type: str,
    params: Mapping[str, Any],
    *,
    client_id: str,
    client_secret: Secret | None,
    auth_method: AuthMethod,
    extra_params: Mapping[str, str],
    timeout: float | None,
) -> Request:
    """The POST to the token endpoint: a form body (authlib) and the client authentication."""
    # authlib is imported on first use, so that `import asyncapi_client` stays light.
    from authlib.common.urls import add_params_to_qs  # type: ignore[import-untyped]
    from authlib.oauth2.rfc6749.parameters import prepare_token_request  # type: ignore[import-untyped]

    fields = {k: v for k, v in params.items() if v is not None}
    body: str = prepare_token_request(grant_type, **fields)
    if extra_params:
        body = add_params_to_qs(body, [(k, v) for k, v in extra_params.items()])
    return _authenticated_post(token_url, body, client_id, client_secret, auth_method, timeout)


def build_form_request(
    url: str,
    fields: Mapping[str, str | None],
    *,
    client_id: str,
    client_secret: Secret | None,
    auth_method: AuthMethod,
    timeout: float | None,
) -> Request:
    """A form POST to another endpoint of the authorization server (revocation, introspection),
    with the same client authentication as a token request."""
    from authlib.common.urls import url_encode

    body: str = url_encode([(k, v) for k, v in fields.items() if v is not None])
    return _authenticated_post(url, body, client_id, client_secret, auth_method, timeout)


def _authenticated_post(
    url: str,
    body: str,
    client_id: str,
    client_secret: Secret | None,
    auth_method: AuthMethod,
    timeout: float | None,
) -> Request:
    from authlib.oauth2.auth import ClientAuth  # type: ignore[import-untyped]

    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "accept": "application/json",
        "user-agent": f"asyncapi-client/{__version__}",
    }
    secret = client_secret.get() if client_secret is not None else None
    _, headers, body = ClientAuth(client_id, secret, auth_method).prepare("POST", url, headers, body)
    return Request(
        "POST",
        url,
        headers,
        body.encode(),
        timeout=timeout,
        extensions={"connect_timeout": None if timeout is None else min(10.0, timeout)},
    )


def scope_param(scope: str | Sequence[str] | None) -> str | None:
    if scope is None:
        return None
    text = _list_to_scope(scope)
    if not isinstance(text, str):
        raise TypeError("scope must be a string or a sequence of strings")
    return text or None


def _list_to_scope(scope: Any) -> Any:
    from authlib.oauth2.rfc6749.util import list_to_scope  # type: ignore[import-untyped]

    return list_to_scope(scope)


def _invalid(reason: str, status_code: int) -> OAuthError:
    return OAuthError("invalid_token_response", reason, status_code=status_code)


def parse_lifetime(value: Any) -> float | None:
    """A validated `expires_in`: a finite positive number (a numeric string is accepted, as some
    servers send one), raised to `MIN_LIFETIME` and capped at a year. Raises ValueError with the
    reason otherwise."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError("expires_in is a boolean")
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise ValueError("expires_in is a string that is not a number") from None
    if not isinstance(value, (int, float)):
        raise ValueError(f"expires_in is a {type(value).__name__}, not a number")
    try:
        seconds = float(value)
    except OverflowError:  # an int too large for a float
        return MAX_LIFETIME
    if math.isnan(seconds) or seconds == -math.inf:
        raise ValueError("expires_in is not a number")
    if seconds <= 0:
        raise ValueError("expires_in is zero or negative")
    return min(max(seconds, MIN_LIFETIME), MAX_LIFETIME)


def read_oauth_reply(
    response: Response,
    endpoint: str,
    secrets: Iterable[Secret | None] = (),
    *,
    success_field: str | None = None,
) -> Any:
    """The JSON body of an authorization server's reply (None if it is not JSON), or the
    `OAuthError` its RFC 6749 error body (or a non-2xx status) amounts to. Some servers answer
    200 with an error body: an error all the same, unless it carries `success_field`."""
    status = response.status_code
    try:
        body: Any = json.loads(response.content) if response.content else None
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deep
        body = None
    is_error_body = isinstance(body, Mapping) and isinstance(body.get("error"), str) and bool(body["error"])
    if not 200 <= status < 300 or (is_error_body and (success_field is None or success_field not in body)):
        if is_error_body:
            error = redact(body["error"][:100])
            description = body.get("error_description")
            description = description[:500] if isinstance(description, str) else None
            raise OAuthError(error, scrub(description, secrets), status_code=status, response=response)
        raise OAuthError(
            "unexpected_response",
            f"the {endpoint} answered HTTP {status} without an RFC 6749 error body",
            status_code=status,
            response=response,
        )
    return body


def parse_token_response(
    response: Response,
    *,
    issued_at: float,
    wall_now: float,
    secrets: Iterable[Secret | None] = (),
) -> TokenSet:
    """Read a token endpoint reply: a `TokenSet`, or the `OAuthError` it amounts to.

    `issued_at` is the monotonic time the request was sent; `wall_now` the Unix time now (only
    used for a non-standard absolute `expires_at` field when `expires_in` is absent).
    """
    status = response.status_code
    body = read_oauth_reply(response, "token endpoint", secrets, success_field="access_token")
    if not isinstance(body, Mapping):
        raise _invalid("the token endpoint's reply is not a JSON object", status)
    access = body.get("access_token")
    if not isinstance(access, str) or not access.strip():
        raise _invalid("the reply has no access_token string", status)
    if access.strip() != access or any(c in access for c in "\r\n"):
        raise _invalid("the access_token has surrounding spaces or line breaks", status)
    token_type = body.get("token_type", "Bearer")
    if token_type is None:
        token_type = "Bearer"
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        shown = token_type if isinstance(token_type, str) else type(token_type).__name__
        raise OAuthError(
            "unsupported_token_type",
            f"token_type {redact(str(shown))[:40]!r} is not Bearer",
            status_code=status,
        )
    try:
        lifetime = parse_lifetime(body.get("expires_in"))
    except ValueError as exc:
        raise _invalid(str(exc), status) from None
    if lifetime is None and body.get("expires_at") is not None:
        # Non-standard, but sent by some servers: an absolute Unix time. Odd values are ignored
        # (the token is then used until rejected) rather than crashing.
        try:
            lifetime = parse_lifetime(float(body["expires_at"]) - wall_now)
        except (TypeError, ValueError, OverflowError):
            lifetime = None
    refresh = body.get("refresh_token")
    if refresh is not None and (not isinstance(refresh, str) or not refresh):
        raise _invalid("refresh_token is not a non-empty string", status)
    scope = body.get("scope")
    if isinstance(scope, list) and all(isinstance(s, str) for s in scope):
        scope = _list_to_scope(scope)
    if scope is not None and not isinstance(scope, str):
        raise _invalid("scope is neither a string nor a list of strings", status)
    return TokenSet(
        access_token=Secret(access),
        token_type="Bearer",
        expires_in=lifetime,
        expires_at=None if lifetime is None else issued_at + lifetime,
        refresh_token=None if refresh is None else Secret(refresh),
        scope=scope or None,
        extra={k: v for k, v in body.items() if k not in _KNOWN},
    )
