"""`AuthorizationCodeFlow`: a web app whose users connect their accounts on the API.

One object per app (per registered OAuth client), made once at startup:

    flow = AuthorizationCodeFlow(AUTHORIZE_URL, TOKEN_URL, CLIENT_ID, SECRET,
                                 redirect_uri="https://app.example.com/oauth/callback",
                                 store=RedisTokenStore(REDIS_URL))
    pending = flow.start()                                # login: redirect to pending.url
    await flow.complete(client, user_id, pending, url)    # callback: code -> tokens, stored
    view = client.with_options(auth=flow.for_user(user_id))
    await flow.disconnect(client, user_id)                # revoke and forget

It holds the client's registration (one `TokenEndpoint`, passed whole to every user's engine)
and the store of per-user token sets, keyed by the app's user id under a prefix derived from
the registration, so two apps sharing a Redis do not read each other's users. `for_user`
returns the same `UserTokenAuth` for the same user (a bounded LRU, `max_cached_users`), so a
user's token is refreshed once per process however many requests act for them; the store's
lock makes it once across processes.

Calls that reach the authorization server take the `AsyncClient` (its transport and pool are
used; the rate limiter and the retry layer are not, as for token refreshes) or a `Transport`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Union

from .._clock import SYSTEM_CLOCK, Clock
from .._config import check_url
from .._secret import Secret
from ..transports._base import Transport
from ._authcode import PendingAuthorization, exchange_code, read_callback, start_authorization
from ._endpoint import DEFAULT_TOKEN_TIMEOUT, TokenEndpoint
from ._engine import _check_margin
from ._revocation import IntrospectedToken, TokenTypeHint, introspect_token, revoke_token
from ._store import MemoryTokenStore, TokenStore
from ._tokens import TokenSet, scope_param
from ._user_tokens import UserTokenAuth

if TYPE_CHECKING:
    from .._client import AsyncClient

OnUserToken = Callable[[str, TokenSet], Union[Awaitable[None], None]]
"""`on_token(user_id, token_set)`: every token set obtained for a user (login and rotations)."""

UserId = Union[str, int]


class AuthorizationCodeFlow:
    """The authorization code grant with PKCE for a web app, and its users' tokens (see the
    module docstring). `client_secret=None` makes a public client (PKCE alone)."""

    def __init__(
        self,
        authorize_url: str,
        token_url: str,
        client_id: str,
        client_secret: str | Secret | None = None,
        *,
        redirect_uri: str,
        scope: str | Sequence[str] | None = None,
        store: TokenStore | None = None,
        on_token: OnUserToken | None = None,
        revocation_url: str | None = None,
        introspection_url: str | None = None,
        authorize_params: Mapping[str, str] | None = None,
        extra_params: Mapping[str, str] | None = None,
        auth_method: str = "client_secret_basic",
        refresh_margin: float = 30.0,
        clock: Clock | None = None,
        timeout: float | None = DEFAULT_TOKEN_TIMEOUT,
        allow_insecure_http: bool = False,
        max_cached_users: int = 10_000,
    ) -> None:
        # The scope goes in the authorize URL only: a refresh asks for what was granted.
        self._endpoint = TokenEndpoint(
            token_url,
            client_id,
            client_secret,
            auth_method=auth_method,
            extra_params=extra_params,
            timeout=timeout,
            allow_insecure_http=allow_insecure_http,
        )
        check_url(
            authorize_url, what="authorize_url", allow_insecure_http=allow_insecure_http, allow_query=True
        )
        self.authorize_url = authorize_url
        check_url(redirect_uri, what="redirect_uri", allow_insecure_http=True, allow_query=True)
        if "#" in redirect_uri:
            raise ValueError("redirect_uri must not have a fragment (RFC 6749 section 3.1.2)")
        self.redirect_uri = redirect_uri
        self.scope = scope_param(scope)
        for name, url in (("revocation_url", revocation_url), ("introspection_url", introspection_url)):
            if url is not None:
                check_url(url, what=name, allow_insecure_http=allow_insecure_http, allow_query=True)
        self.revocation_url = revocation_url
        self.introspection_url = introspection_url
        self._authorize_params = _check_authorize_params(authorize_params)
        if store is not None and not isinstance(store, TokenStore):
            raise TypeError(f"store must be a TokenStore (get/set/delete/lock), got {type(store).__name__}")
        self._store: TokenStore = store if store is not None else MemoryTokenStore()
        if on_token is not None and not callable(on_token):
            raise TypeError("on_token must be a callable taking (user_id, token_set)")
        self._on_token = on_token
        self._margin = _check_margin(refresh_margin)
        self._clock: Clock = clock or SYSTEM_CLOCK
        if (
            isinstance(max_cached_users, bool)
            or not isinstance(max_cached_users, int)
            or max_cached_users < 1
        ):
            raise ValueError(f"max_cached_users must be an int >= 1, got {max_cached_users!r}")
        self._max_cached = max_cached_users
        self._users: OrderedDict[str, UserTokenAuth] = OrderedDict()
        self._key_prefix = "user:" + self._endpoint.store_key("authorization_code")[:16]

    # -- the login -----------------------------------------------------------------------

    def start(self, *, scope: str | Sequence[str] | None = None, **params: str) -> PendingAuthorization:
        """A new login: keep the result until the callback, send the browser to its `url`.
        `scope` overrides the flow's for this login; `params` are extra authorize parameters."""
        merged = {**self._authorize_params, **_check_authorize_params(params)}
        return start_authorization(
            self.authorize_url,
            self._endpoint.client_id,
            self.redirect_uri,
            scope=self.scope if scope is None else scope_param(scope),
            params=merged,
        )

    async def exchange(
        self,
        client: AsyncClient | Transport,
        pending: PendingAuthorization,
        callback: str | Mapping[str, Any],
    ) -> TokenSet:
        """Check the callback against `pending` and redeem its code; stores nothing (see
        `complete`). Raises `StateMismatchError` or `AuthorizationError`."""
        code = read_callback(pending, callback)
        return await exchange_code(self._endpoint, _transport(client), pending, code, clock=self._clock)

    async def complete(
        self,
        client: AsyncClient | Transport,
        user_id: UserId,
        pending: PendingAuthorization,
        callback: str | Mapping[str, Any],
    ) -> TokenSet:
        """The callback: check it, redeem its code, store the token set as `user_id`'s (over
        any earlier one) and report it to `on_token`. Returns the token set."""
        user = _user_key(user_id)
        token = await self.exchange(client, pending, callback)
        await self.save_tokens(user, token)
        if self._on_token is not None:
            # As for a rotation: shielded for a bounded time, an exception logged, not raised.
            await self.for_user(user)._notify(token)
        return token

    async def save_tokens(self, user_id: UserId, token: TokenSet) -> None:
        """Store `token` as `user_id`'s grant, over any earlier one: what `complete` does with a
        login's tokens, and how to bring in a grant obtained elsewhere (say, refresh tokens kept
        in your database before using this SDK). `expires_at` is on this flow's clock."""
        if not isinstance(token, TokenSet):
            raise TypeError(f"token must be a TokenSet, got {type(token).__name__}")
        user = _user_key(user_id)
        await self._store.set(self._store_key(user), token)
        self._users.pop(user, None)  # a cached engine would hold the previous grant

    # -- acting for a user ---------------------------------------------------------------

    def for_user(self, user_id: UserId) -> UserTokenAuth:
        """The auth strategy acting for `user_id`: pass it to `client.with_options(auth=...)`.
        A call raises `ReconnectRequiredError` if the user has no usable grant."""
        user = _user_key(user_id)
        auth = self._users.get(user)
        if auth is not None:
            self._users.move_to_end(user)
            return auth
        auth = UserTokenAuth(
            self._endpoint,
            user,
            store=self._store,
            store_key=self._store_key(user),
            refresh_margin=self._margin,
            clock=self._clock,
            on_token=None if self._on_token is None else _bind_user(self._on_token, user),
        )
        self._users[user] = auth
        if len(self._users) > self._max_cached:
            self._users.popitem(last=False)  # an evicted user's next request reads the store
        return auth

    async def tokens(self, user_id: UserId) -> TokenSet | None:
        """The token set stored for `user_id` (it may be expired; None: not connected)."""
        stored = await self._store.get(self._store_key(_user_key(user_id)))
        return stored if isinstance(stored, TokenSet) else None

    async def disconnect(
        self, client: AsyncClient | Transport, user_id: UserId, *, revoke: bool = True
    ) -> None:
        """Forget `user_id`'s grant; first revoke it at `revocation_url` (its refresh token, which
        ends its access tokens too; the access token if there is no refresh token). If the
        revocation fails, the error is raised and the grant is kept, so you can try again or
        pass `revoke=False`."""
        user = _user_key(user_id)
        stored = await self.tokens(user)
        if revoke and stored is not None and self.revocation_url is not None:
            if stored.refresh_token is not None:
                await self.revoke(client, stored.refresh_token, "refresh_token")
            else:
                await self.revoke(client, stored.access_token, "access_token")
        await self._store.delete(self._store_key(user))
        self._users.pop(user, None)

    # -- RFC 7009 / RFC 7662 -------------------------------------------------------------

    async def revoke(
        self,
        client: AsyncClient | Transport,
        token: str | Secret,
        token_type_hint: TokenTypeHint | None = None,
    ) -> None:
        """Revoke one token at `revocation_url` (RFC 7009)."""
        if self.revocation_url is None:
            raise ValueError("this flow has no revocation_url")
        await revoke_token(self._endpoint, _transport(client), self.revocation_url, token, token_type_hint)

    async def introspect(
        self,
        client: AsyncClient | Transport,
        token: str | Secret,
        token_type_hint: TokenTypeHint | None = None,
    ) -> IntrospectedToken:
        """Ask `introspection_url` (RFC 7662) whether a token is active."""
        if self.introspection_url is None:
            raise ValueError("this flow has no introspection_url")
        return await introspect_token(
            self._endpoint, _transport(client), self.introspection_url, token, token_type_hint
        )

    def _store_key(self, user: str) -> str:
        return f"{self._key_prefix}:{user}"

    def __repr__(self) -> str:
        return f"AuthorizationCodeFlow({self._endpoint.describe()}, redirect_uri={self.redirect_uri!r})"


def _transport(client: Any) -> Transport:
    transport = getattr(client, "transport", client)
    if not isinstance(transport, Transport):
        raise TypeError(f"pass the AsyncClient (or a Transport), got {type(client).__name__}")
    return transport


def _user_key(user_id: UserId) -> str:
    if isinstance(user_id, bool) or not isinstance(user_id, (str, int)):
        raise TypeError(f"user_id must be a str or an int, got {type(user_id).__name__}")
    text = str(user_id)
    if not text or text.strip() != text:
        raise ValueError("user_id must be non-empty, without surrounding spaces")
    return text


def _bind_user(hook: OnUserToken, user: str) -> Callable[[TokenSet], Awaitable[None] | None]:
    def on_token(token: TokenSet) -> Awaitable[None] | None:
        return hook(user, token)

    return on_token


_RESERVED_AUTHORIZE = frozenset(
    {
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
    }
)


def _check_authorize_params(params: Mapping[str, str] | None) -> dict[str, str]:
    checked: dict[str, str] = {}
    for name, value in (params or {}).items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError("authorize parameters must map str to str")
        if name in _RESERVED_AUTHORIZE:
            raise ValueError(f"the flow sets {name!r} itself")
        checked[name] = value
    return checked
