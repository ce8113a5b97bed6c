"""`UserTokenAuth`: one user's tokens, kept in a store under the application's user id.

A web app holds one grant per user. The store (memory, Redis, or the app's own `TokenStore`)
is where that grant lives: the login's token set is written there, and every rotation after
it. This engine reads it when it needs a token and refreshes under the store's lock, so across
processes sharing the store one refresh spends a rotating refresh token once, and the others
pick up the rotation it wrote. Three differences from `RefreshToken`, which holds its refresh
token itself:

* The store is required: if it fails, the call fails (`APIConnectionError`) rather than
  refreshing without the lock, which could spend one refresh token in two processes.
* A 401 does not delete the stored set: its refresh token is still the user's grant.
* No grant, or a refresh token the server refuses (`invalid_grant`: revoked, expired, spent),
  is `ReconnectRequiredError`; a refused set is dropped from the store (if it is still the one
  there), so later calls fail at once without asking the server again.
"""

from __future__ import annotations

import logging

from .._clock import Clock
from .._errors import OAuthError, ReconnectRequiredError
from .._secret import Secret
from ..transports._base import Transport
from ._endpoint import TokenEndpoint
from ._engine import OnToken, TokenAuth
from ._grants import refresh_with
from ._store import TokenStore
from ._tokens import TokenSet

logger = logging.getLogger("asyncapi_client.auth")


class UserTokenAuth(TokenAuth):
    """The auth strategy acting for one user of a web app; made by
    `AuthorizationCodeFlow.for_user(user_id)` (see the module docstring)."""

    _store_required = True

    def __init__(
        self,
        endpoint: TokenEndpoint,
        user_id: str,
        *,
        store: TokenStore,
        store_key: str,
        refresh_margin: float,
        clock: Clock | None,
        on_token: OnToken | None,
    ) -> None:
        super().__init__(
            refresh_margin=refresh_margin, store=store, store_key=store_key, clock=clock, on_token=on_token
        )
        self._endpoint = endpoint
        self.user_id = user_id
        self._refresh_token: Secret | None = None
        self._stored: TokenSet | None = None

    def _absorb(self, stored: TokenSet) -> None:
        self._stored = stored
        self._refresh_token = stored.refresh_token

    async def _discard_rejected(self, rejected: TokenSet) -> None:
        # The stored set's access token was refused, but its refresh token is the user's grant:
        # keep it. `_adopt` skips a stored access token equal to the rejected one.
        return None

    async def _fetch(self, transport: Transport) -> TokenSet:
        used = self._refresh_token
        if used is None:
            reason = (
                "no tokens are stored for this user"
                if self._stored is None
                else "the stored access token expired and the login gave no refresh token"
            )
            raise ReconnectRequiredError("no_grant", reason, user_id=self.user_id)
        try:
            token = await refresh_with(self._endpoint, transport, used, self._clock)
        except OAuthError as exc:
            if exc.error != "invalid_grant":
                raise
            await self._forget_grant()
            logger.info("a user's refresh token was refused (invalid_grant); they must connect again")
            raise ReconnectRequiredError(
                exc.error, exc.error_description, status_code=exc.status_code, user_id=self.user_id
            ) from None
        self._refresh_token = token.refresh_token
        self._stored = token
        return token

    async def _forget_grant(self) -> None:
        stored, self._stored, self._refresh_token = self._stored, None, None
        if stored is None:
            return
        try:
            await self._store.delete(self._store_key, only_if=stored)
        except Exception as exc:
            # The user must reconnect either way; the next call meets the same refusal.
            logger.warning("token store delete failed (%s)", type(exc).__name__)

    def __repr__(self) -> str:
        return f"UserTokenAuth(user_id={self.user_id!r}, refresh_count={self.refresh_count})"
