"""The token-endpoint grants on the refresh engine: `ClientCredentials` and `RefreshToken`.

Each builds one `TokenEndpoint` from its arguments (validated there, once) and hands the engine
its refresh settings; what differs between them is only `_fetch`, the form a token request
carries. The authorization-code grant, which starts from a user's login, is in `_authcode.py`
and ends in the same refresh-token grant (`refresh_with`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import attrs

from .._clock import Clock
from .._secret import Secret, as_secret
from ..transports._base import Transport
from ._endpoint import DEFAULT_TOKEN_TIMEOUT, TokenEndpoint
from ._engine import OnToken, TokenAuth
from ._store import TokenStore
from ._tokens import TokenSet, check_token_text, parse_lifetime


async def refresh_with(
    endpoint: TokenEndpoint, transport: Transport, refresh_token: Secret, clock: Clock
) -> TokenSet:
    """The refresh token grant (RFC 6749 section 6). A reply without a new refresh token keeps
    the one used: the token set handed on (to `on_token`, to the store) always carries the
    refresh token that the next refresh will spend."""
    token = await endpoint.request_token(
        transport,
        "refresh_token",
        {"refresh_token": refresh_token.get(), "scope": endpoint.scope},
        clock=clock,
        secrets=(refresh_token,),
    )
    if token.refresh_token is None:
        token = attrs.evolve(token, refresh_token=refresh_token)
    return token


class ClientCredentials(TokenAuth):
    """OAuth 2.0 client credentials grant (RFC 6749 section 4.4): machine-to-machine tokens.

    `ClientCredentials(token_url, client_id, client_secret, scope=None, extra_params=None)`.
    The client authenticates with HTTP Basic (`auth_method="client_secret_basic"`, the default)
    or in the form (`"client_secret_post"`). `extra_params` (for example `{"audience": ...}`) are
    sent on every token request. A token is refreshed `refresh_margin` seconds before it expires
    (at most a tenth of its lifetime; when that cap binds, it is refreshed when it expires, so a
    run makes at most one token request per lifetime); one with no `expires_in` is used until a
    401.

    Pass `store=RedisTokenStore(...)` to share one token between processes.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str | Secret,
        scope: str | Sequence[str] | None = None,
        extra_params: Mapping[str, str] | None = None,
        *,
        auth_method: str = "client_secret_basic",
        refresh_margin: float = 30.0,
        store: TokenStore | None = None,
        store_key: str | None = None,
        clock: Clock | None = None,
        on_token: OnToken | None = None,
        allow_insecure_http: bool = False,
        timeout: float | None = DEFAULT_TOKEN_TIMEOUT,
    ) -> None:
        if client_secret is None:
            raise ValueError("ClientCredentials needs a client_secret")
        self._endpoint = TokenEndpoint(
            token_url,
            client_id,
            client_secret,
            auth_method=auth_method,
            scope=scope,
            extra_params=extra_params,
            timeout=timeout,
            allow_insecure_http=allow_insecure_http,
        )
        super().__init__(
            refresh_margin=refresh_margin,
            store=store,
            store_key=store_key or self._endpoint.store_key("client_credentials"),
            clock=clock,
            on_token=on_token,
        )

    async def _fetch(self, transport: Transport) -> TokenSet:
        return await self._endpoint.request_token(
            transport, "client_credentials", {"scope": self._endpoint.scope}, clock=self._clock
        )

    def __repr__(self) -> str:
        return f"ClientCredentials({self._endpoint.describe()}, refresh_count={self.refresh_count})"


class RefreshToken(TokenAuth):
    """OAuth 2.0 refresh token grant (RFC 6749 section 6): act for a user whose refresh token you
    hold.

    `RefreshToken(token_url, client_id, refresh_token, client_secret=None, on_token=callback)`.
    The first call exchanges the refresh token for an access token (unless you pass the
    `access_token` you already hold, with its `expires_in`). When the server rotates the
    refresh token, the new one is used from then on and `on_token(token_set)` (sync or async)
    receives it, so it can be persisted; `on_token` is called for every token set this object
    obtains. A public client (no secret) sends its `client_id` in the form.
    """

    def __init__(
        self,
        token_url: str,
        client_id: str,
        refresh_token: str | Secret,
        client_secret: str | Secret | None = None,
        *,
        on_token: OnToken | None = None,
        access_token: str | Secret | None = None,
        expires_in: float | None = None,
        scope: str | Sequence[str] | None = None,
        extra_params: Mapping[str, str] | None = None,
        auth_method: str = "client_secret_basic",
        refresh_margin: float = 30.0,
        store: TokenStore | None = None,
        store_key: str | None = None,
        clock: Clock | None = None,
        allow_insecure_http: bool = False,
        timeout: float | None = DEFAULT_TOKEN_TIMEOUT,
    ) -> None:
        self._refresh_token = as_secret(refresh_token)
        if not self._refresh_token:
            raise ValueError("refresh_token must not be empty")
        self._endpoint = TokenEndpoint(
            token_url,
            client_id,
            client_secret,
            auth_method=auth_method,
            scope=scope,
            extra_params=extra_params,
            timeout=timeout,
            allow_insecure_http=allow_insecure_http,
        )
        super().__init__(
            refresh_margin=refresh_margin,
            store=store,
            store_key=store_key or self._endpoint.store_key("refresh_token"),
            clock=clock,
            on_token=on_token,
        )
        if access_token is not None:
            # The access token the user already holds (from the login): used until it is due
            # for refresh, so a fresh login does not spend a refresh (and a rotation) at once.
            try:
                lifetime = parse_lifetime(expires_in)
            except ValueError as exc:
                raise ValueError(f"RefreshToken: bad expires_in: {exc}") from None
            now = self._clock.monotonic()
            initial = TokenSet(
                access_token=access_token,
                expires_in=lifetime,
                expires_at=None if lifetime is None else now + lifetime,
                refresh_token=self._refresh_token,
            )
            check_token_text(initial.access_token, "RefreshToken: access_token is")
            self._cur = self._current_for(initial)
        elif expires_in is not None:
            raise ValueError("RefreshToken: expires_in describes access_token; pass both or neither")

    @property
    def refresh_token(self) -> Secret:
        """The refresh token the next refresh will use (the latest rotation)."""
        return self._refresh_token

    def _absorb(self, stored: TokenSet) -> None:
        if stored.refresh_token is not None:
            self._refresh_token = stored.refresh_token

    async def _fetch(self, transport: Transport) -> TokenSet:
        token = await refresh_with(self._endpoint, transport, self._refresh_token, self._clock)
        assert token.refresh_token is not None
        self._refresh_token = token.refresh_token
        return token

    def __repr__(self) -> str:
        return (
            f"RefreshToken({self._endpoint.describe()}, refresh_token=Secret('***'), "
            f"refresh_count={self.refresh_count})"
        )
