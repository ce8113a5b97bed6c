"""`TokenEndpoint`: a client's registration at an authorization server, validated once.

Every grant holds one and passes it whole (the grants differ in the form fields they send, not
in where or how they send them). It knows where to ask (`token_url`, used as given: a trailing
slash as in `/o/token/` is significant), who asks (`client_id`, `client_secret` or None for a
public client, `auth_method`), what for (`scope`, and `extra_params` sent on every token
request) and how long to wait (`timeout`). It sends a form POST with the client authentication
applied (authlib's `ClientAuth`) and reads the reply into a `TokenSet` or an `OAuthError`.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final

import anyio

from .._clock import Clock
from .._config import MAX_SECONDS, check_url
from .._errors import APITimeoutError
from .._secret import Secret, as_secret
from .._types import Request, Response
from ..transports._base import Transport
from ._tokens import (
    AUTH_METHODS,
    RESERVED_PARAMS,
    AuthMethod,
    TokenSet,
    build_form_request,
    build_token_request,
    parse_token_response,
    scope_param,
)

logger = logging.getLogger("asyncapi_client.auth")

DEFAULT_TOKEN_TIMEOUT: Final = 10.0


class TokenEndpoint:
    """Where and how a client asks for tokens (see the module docstring)."""

    __slots__ = (
        "token_url",
        "client_id",
        "client_secret",
        "auth_method",
        "scope",
        "extra_params",
        "timeout",
    )

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str | Secret | None = None,
        *,
        auth_method: str = "client_secret_basic",
        scope: str | Sequence[str] | None = None,
        extra_params: Mapping[str, str] | None = None,
        timeout: float | None = DEFAULT_TOKEN_TIMEOUT,
        allow_insecure_http: bool = False,
    ) -> None:
        check_url(token_url, what="token_url", allow_insecure_http=allow_insecure_http, allow_query=True)
        self.token_url = token_url
        if not isinstance(client_id, str) or not client_id:
            raise ValueError("client_id must be a non-empty string")
        self.client_id = client_id
        self.client_secret = None if client_secret is None else as_secret(client_secret)
        if self.client_secret is not None and not self.client_secret:
            raise ValueError("client_secret must not be empty (pass None for a public client)")
        self.scope = scope_param(scope)
        self.extra_params = _check_extra(extra_params)
        method = _check_auth_method(auth_method)
        if self.client_secret is None:
            method = "none"
        elif method == "none":
            raise ValueError("auth_method='none' is for public clients: pass client_secret=None")
        self.auth_method: AuthMethod = method
        self.timeout = check_timeout(timeout)

    def store_key(self, grant: str) -> str:
        """The default name of a credential in a token store: a digest of what identifies it."""
        parts = (grant, self.token_url, self.client_id, self.scope, sorted(self.extra_params.items()))
        return hashlib.sha256("\0".join(repr(p) for p in parts).encode()).hexdigest()[:32]

    async def request_token(
        self,
        transport: Transport,
        grant_type: str,
        params: Mapping[str, Any],
        *,
        clock: Clock,
        secrets: Iterable[Secret | None] = (),
    ) -> TokenSet:
        """One token request: the `TokenSet` the server granted, or the `OAuthError` it sent.

        `secrets` are the grant's own credentials in `params` (a refresh token, a code), masked
        with the client secret in any error text the server quotes them back in."""
        request = build_token_request(
            self.token_url,
            grant_type,
            params,
            client_id=self.client_id,
            client_secret=self.client_secret,
            auth_method=self.auth_method,
            extra_params=self.extra_params,
            timeout=self.timeout,
        )
        logger.debug("requesting a token from %s (grant %s)", self.token_url, grant_type)
        issued_at = clock.monotonic()
        response = await self.send(transport, request)
        return parse_token_response(
            response, issued_at=issued_at, wall_now=clock.time(), secrets=(self.client_secret, *secrets)
        )

    def form_request(self, url: str, fields: Mapping[str, str | None]) -> Request:
        """A POST of `fields` to another endpoint of the same server (revocation, introspection),
        with this client's authentication."""
        return build_form_request(
            url,
            fields,
            client_id=self.client_id,
            client_secret=self.client_secret,
            auth_method=self.auth_method,
            timeout=self.timeout,
        )

    async def send(self, transport: Transport, request: Request) -> Response:
        if self.timeout is None:
            return await transport.send(request)
        # A backstop on the real clock for transports that do not enforce request.timeout.
        try:
            with anyio.fail_after(self.timeout + 1.0):
                return await transport.send(request)
        except TimeoutError:
            raise APITimeoutError(
                f"the request to {request.url} took longer than {self.timeout}s", request=request
            ) from None

    def describe(self) -> str:
        """The fields a repr may show: never the secret's value."""
        text = f"token_url={self.token_url!r}, client_id={self.client_id!r}"
        if self.client_secret is not None:
            text += ", client_secret=Secret('***')"
        if self.scope:
            text += f", scope={self.scope!r}"
        return text

    def __repr__(self) -> str:
        return f"TokenEndpoint({self.describe()})"


def check_timeout(value: float | None) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or not 0 < value <= MAX_SECONDS
    ):
        raise ValueError(
            f"timeout must be a positive number of seconds (at most a year) or None, got {value!r}"
        )
    return float(value)


def _check_extra(extra_params: Mapping[str, str] | None) -> dict[str, str]:
    if extra_params is None:
        return {}
    extra: dict[str, str] = {}
    for name, value in extra_params.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError("extra_params must map str to str")
        if name in RESERVED_PARAMS:
            raise ValueError(f"extra_params may not set {name!r}; use the argument of that name")
        extra[name] = value
    return extra


def _check_auth_method(method: str) -> AuthMethod:
    if method not in AUTH_METHODS:
        raise ValueError(f"auth_method must be one of {', '.join(AUTH_METHODS)}, got {method!r}")
    return method  # type: ignore[return-value]
