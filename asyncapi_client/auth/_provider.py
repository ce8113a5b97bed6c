"""`TokenProvider`: tokens the application obtains elsewhere, on the refresh engine.

The engine decides when a token is needed; this module turns whatever the application's
callable returns (a string, a `Secret`, a `TokenSet`, a token-endpoint-like mapping such as
authlib's `OAuth2Token`, or an object with `access_token`) into a validated `TokenSet`.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, Union

import attrs

from .._clock import Clock
from .._secret import Secret, as_secret
from ..transports._base import Transport
from ._engine import OnToken, TokenAuth
from ._tokens import TokenSet, check_token_text, parse_lifetime


class HasAccessToken(Protocol):
    """Any token object with an `access_token` (and, optionally, an `expires_in`)."""

    @property
    def access_token(self) -> str | Secret: ...


ProvidedToken = Union[str, Secret, TokenSet, Mapping[str, Any], HasAccessToken]


class TokenProvider(TokenAuth):
    """Tokens obtained elsewhere: `TokenProvider(get_token)` calls `await get_token()` when it
    needs a token (first use, `refresh_margin` before a known expiry, after a 401), single
    flight. `get_token` returns the access token (a str or `Secret`, used until rejected), a
    `TokenSet`, a token-endpoint-like mapping (`{"access_token": ..., "expires_in": ...}`, such
    as authlib's `OAuth2Token`), or any object with `access_token` and optional `expires_in`
    attributes. Sync callables work too.
    """

    def __init__(
        self,
        get_token: Callable[[], Awaitable[ProvidedToken] | ProvidedToken],
        *,
        refresh_margin: float = 30.0,
        clock: Clock | None = None,
        on_token: OnToken | None = None,
    ) -> None:
        if not callable(get_token):
            raise TypeError("TokenProvider needs a callable that returns a token")
        self._get_token = get_token
        super().__init__(
            refresh_margin=refresh_margin,
            store=None,
            store_key="provider",
            clock=clock,
            on_token=on_token,
        )

    async def _fetch(self, transport: Transport) -> TokenSet:
        issued_at = self._clock.monotonic()
        result = self._get_token()
        if inspect.isawaitable(result):
            result = await result
        return _coerce_provided(result, issued_at)

    def __repr__(self) -> str:
        name = getattr(self._get_token, "__qualname__", type(self._get_token).__name__)
        return f"TokenProvider({name}, refresh_count={self.refresh_count})"


def _coerce_provided(value: object, issued_at: float) -> TokenSet:
    if isinstance(value, (str, Secret)):
        secret = as_secret(value)
        check_token_text(secret, "the token provider returned")
        return TokenSet(access_token=secret)
    if isinstance(value, TokenSet):
        check_token_text(value.access_token, "the token provider returned")
        lifetime = _provided_lifetime(value.expires_in)
        if value.expires_at is None and lifetime is not None:
            return attrs.evolve(value, expires_in=lifetime, expires_at=issued_at + lifetime)
        return value
    if isinstance(value, Mapping):
        access = value.get("access_token")
        if not isinstance(access, (str, Secret)):
            raise TypeError("the token provider's mapping has no access_token string")
        secret = as_secret(access)
        check_token_text(secret, "the token provider returned")
        lifetime = _provided_lifetime(value.get("expires_in"))
        refresh = value.get("refresh_token")
        return TokenSet(
            access_token=secret,
            expires_in=lifetime,
            expires_at=None if lifetime is None else issued_at + lifetime,
            refresh_token=refresh if isinstance(refresh, (str, Secret)) else None,
            scope=value.get("scope") if isinstance(value.get("scope"), str) else None,
            extra={
                k: v
                for k, v in value.items()
                if k not in ("access_token", "refresh_token", "expires_in", "scope")
            },
        )
    access = getattr(value, "access_token", None)
    if isinstance(access, (str, Secret)):
        # Any object with `access_token` (and optionally `expires_in`) attributes.
        return _coerce_provided(
            {"access_token": access, "expires_in": getattr(value, "expires_in", None)}, issued_at
        )
    raise TypeError(
        "the token provider must return a str, Secret, TokenSet, mapping or an object with an "
        f"access_token attribute, got {type(value).__name__}"
    )


def _provided_lifetime(value: Any) -> float | None:
    try:
        return parse_lifetime(value)
    except ValueError as exc:
        raise ValueError(f"the token provider returned a bad expires_in: {exc}") from None
