"""OAuth 2.0 strategies: `ClientCredentials`, `RefreshToken`, `TokenProvider`.

All three share one engine, `TokenAuth`, which answers three questions per attempt:

* Which token? The current one, read from two attributes and one clock call when it is fresh.
  Otherwise one caller becomes the *leader* of a refresh ("flight") and the others wait on it.
  A token that is inside its refresh margin but not yet expired keeps being used by everyone
  while the leader refreshes, so a refresh ahead of expiry makes no one but the leader wait.
* What if the refresh fails? The leader stores the exception on the flight and every waiter
  raises that same exception; the flight is then gone, so the next call tries afresh.
* What if the leader is cancelled? Its `finally` closes the flight without a result and wakes the
  waiters; the first of them to run becomes the new leader. Nobody hangs, nothing stays locked
  (the store's lock is released by its context manager, shielded).

A 401 on an API call drops the token that failed only if it is still the current one, so N
concurrent 401s cause one refresh; then the call is replayed once, through `call_next`, which
re-enters the rate limiter. A second 401 is returned as it is: the service layer raises
`AuthenticationError`. There is no loop.

Token requests go straight to the `transport` the middleware hands in: they share the client's
connection pool, but not its rate limiter or retry layer (an API call that fails for want of a
token is retried by the retry layer as a whole).
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import TracebackType
from typing import Any, Final, Protocol, Union

import anyio
import attrs

from .._attempt_info import record_token_refresh
from .._clock import SYSTEM_CLOCK, Clock
from .._config import MAX_SECONDS, check_url
from .._errors import APITimeoutError
from .._pipeline import CallNext
from .._secret import Secret, as_secret
from .._types import Request, Response
from ..transports._base import Transport
from ._store import MemoryTokenStore, TokenStore
from ._tokens import (
    AUTH_METHODS,
    RESERVED_PARAMS,
    AuthMethod,
    TokenSet,
    build_token_request,
    parse_lifetime,
    parse_token_response,
    scope_param,
)

logger = logging.getLogger("asyncapi_client.auth")

OnToken = Callable[[TokenSet], Union[Awaitable[None], None]]


class HasAccessToken(Protocol):
    """Any token object with an `access_token` (and, optionally, an `expires_in`)."""

    @property
    def access_token(self) -> str | Secret: ...


ProvidedToken = Union[str, Secret, TokenSet, Mapping[str, Any], HasAccessToken]

DEFAULT_TOKEN_TIMEOUT: Final = 10.0
# After a refresh ahead of expiry fails, the still-valid token is kept and the next attempt
# waits this long (at most half the time left), so an outage of the token endpoint costs one
# token request per interval, not one per API call.
_RETRY_AHEAD_AFTER: Final = 5.0
# The margin is capped at this fraction of the token's lifetime, so a short-lived token (a
# 2-second sandbox token, a 60-second token with the default 30 s margin) is not refreshed on
# (nearly) every call.
_MAX_MARGIN_FRACTION: Final = 0.1
# How long on_token may run shielded from the cancellation of the call that leads the refresh.
_ON_TOKEN_TIMEOUT: Final = 30.0


class _Current:
    """The token in use, with its precomputed header and times (monotonic seconds)."""

    __slots__ = ("token", "header", "refresh_at", "expires_at")

    def __init__(self, token: TokenSet, header: str, refresh_at: float, expires_at: float) -> None:
        self.token = token
        self.header = header
        self.refresh_at = refresh_at
        self.expires_at = expires_at

    def __repr__(self) -> str:
        return f"<token refresh_at={self.refresh_at:.3f} expires_at={self.expires_at:.3f}>"


class _Flight:
    """One refresh in progress: waiters wait on `done`, then read `result` or `error`.

    Neither set after `done` means the leader was cancelled: a waiter takes over."""

    __slots__ = ("done", "result", "error", "traceback")

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.result: _Current | None = None
        self.error: Exception | None = None
        self.traceback: TracebackType | None = None


def _check_margin(value: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(f"refresh_margin must be a finite number of seconds >= 0, got {value!r}")
    return float(value)


def _check_timeout(value: float | None) -> float | None:
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


class TokenAuth:
    """The engine behind the OAuth strategies (see the module docstring). Subclasses implement
    `_fetch(transport)`, which obtains a new `TokenSet` (with `expires_at` set)."""

    refresh_count: int
    """Token sets this object obtained itself (token requests or provider calls that succeeded),
    the first included; tokens picked up from a shared store are not counted."""

    def __init__(
        self,
        *,
        refresh_margin: float,
        store: TokenStore | None,
        store_key: str,
        clock: Clock | None,
        on_token: OnToken | None,
    ) -> None:
        if store is not None and not isinstance(store, TokenStore):
            raise TypeError(f"store must be a TokenStore (get/set/delete/lock), got {type(store).__name__}")
        if on_token is not None and not callable(on_token):
            raise TypeError("on_token must be a callable taking the new TokenSet")
        self._margin = _check_margin(refresh_margin)
        self._store: TokenStore = store if store is not None else MemoryTokenStore()
        self._store_key = store_key
        self._clock: Clock = clock or SYSTEM_CLOCK
        self._on_token = on_token
        self._cur: _Current | None = None
        self._flight: _Flight | None = None
        self.refresh_count = 0

    # -- the Auth protocol ---------------------------------------------------------------

    async def auth_flow(self, request: Request, call_next: CallNext, transport: Transport) -> Response:
        cur = self._cur
        if cur is None or self._clock.monotonic() >= cur.refresh_at:
            cur = await self._obtain(transport, None)
        response = await call_next(request.with_header("authorization", cur.header))
        if response.status_code != 401:
            return response
        fresh = await self._obtain(transport, cur.token)
        if fresh.token.access_token == cur.token.access_token:
            return response  # nothing new to try: the 401 stands
        return await call_next(request.with_header("authorization", fresh.header))

    # -- public helpers ------------------------------------------------------------------

    @property
    def token(self) -> TokenSet | None:
        """The token set in use (None before the first call or after a 401 dropped it)."""
        return None if self._cur is None else self._cur.token

    async def get_token(self, transport: Transport) -> TokenSet:
        """The current token set, refreshed first if needed (single flight, like an API call)."""
        cur = self._cur
        if cur is None or self._clock.monotonic() >= cur.refresh_at:
            cur = await self._obtain(transport, None)
        return cur.token

    async def invalidate(self) -> None:
        """Drop the current token (here and in the store, if it still holds that one): the next
        call gets a new one. For a token you know was revoked."""
        cur, self._cur = self._cur, None
        if cur is not None:
            await self._store_call("delete", self._store.delete(self._store_key, only_if=cur.token))

    # -- single flight -------------------------------------------------------------------

    async def _obtain(self, transport: Transport, rejected: TokenSet | None) -> _Current:
        while True:
            cur = self._cur
            if rejected is not None and cur is not None and cur.token.access_token == rejected.access_token:
                self._cur = cur = None  # drop the token only if it is still the current one
            now = self._clock.monotonic()
            if cur is not None and now < cur.refresh_at:
                return cur
            flight = self._flight
            if flight is None:
                return await self._lead(transport, rejected)
            if cur is not None and now < cur.expires_at:
                return cur  # refreshing ahead of expiry elsewhere: this token is still valid
            await flight.done.wait()
            if flight.error is not None:
                # The same exception for every waiter, its traceback reset each time (as asyncio
                # futures do) so that thousands of waiters do not grow one traceback chain.
                raise flight.error.with_traceback(flight.traceback)
            if flight.result is not None:
                return flight.result
            # The leader was cancelled: look again, and lead if nobody has yet.

    async def _lead(self, transport: Transport, rejected: TokenSet | None) -> _Current:
        flight = self._flight = _Flight()
        try:
            cur = await self._refresh(transport, rejected)
        except Exception as exc:
            flight.error, flight.traceback = exc, exc.__traceback__
            fallback = self._cur
            now = self._clock.monotonic()
            if fallback is not None and now < fallback.expires_at:
                # A refresh ahead of expiry failed; the current token is still good. Keep it and
                # try again a little later instead of failing this call.
                fallback.refresh_at = now + min(_RETRY_AHEAD_AFTER, (fallback.expires_at - now) / 2)
                logger.warning(
                    "token refresh ahead of expiry failed (%s); keeping the current token for now",
                    _describe(exc),
                )
                return fallback
            raise
        else:
            flight.result = cur
            return cur
        finally:
            # Success, failure or cancellation: the flight ends here and its waiters wake up.
            if self._flight is flight:
                self._flight = None
            flight.done.set()

    async def _refresh(self, transport: Transport, rejected: TokenSet | None) -> _Current:
        if rejected is not None:
            await self._store_call("delete", self._store.delete(self._store_key, only_if=rejected))
        adopted = await self._adopt(rejected)
        if adopted is not None:
            return adopted
        async with _guarded_lock(self._store, self._store_key):
            adopted = await self._adopt(rejected)
            if adopted is not None:
                return adopted
            token = await self._fetch(transport)
            self.refresh_count += 1
            record_token_refresh()
            # In use at once: if this leader is cancelled from here on, the token is not lost.
            cur = self._cur = self._current_for(token)
            await self._store_call("set", self._store.set(self._store_key, token))
        if self._on_token is not None:
            await self._notify(token)
        return cur

    async def _adopt(self, rejected: TokenSet | None) -> _Current | None:
        """A usable token from the store (another object or process refreshed), if there is one."""
        stored = await self._store_call("get", self._store.get(self._store_key))
        if not isinstance(stored, TokenSet):
            return None
        self._absorb(stored)
        if rejected is not None and stored.access_token == rejected.access_token:
            return None
        cur = self._current_for(stored)
        if self._clock.monotonic() >= cur.refresh_at:
            return None
        self._cur = cur
        return cur

    def _absorb(self, stored: TokenSet) -> None:
        """Take what is useful from a stored token set even when its access token is stale."""

    def _current_for(self, token: TokenSet) -> _Current:
        if token.expires_at is None:
            return _Current(token, "Bearer " + token.access_token.get(), math.inf, math.inf)
        margin = self._margin
        if token.expires_in is not None:
            margin = min(margin, token.expires_in * _MAX_MARGIN_FRACTION)
        return _Current(
            token, "Bearer " + token.access_token.get(), token.expires_at - margin, token.expires_at
        )

    async def _notify(self, token: TokenSet) -> None:
        assert self._on_token is not None
        # Shielded (for a bounded time): a rotated refresh token that the callback was busy
        # persisting must not be lost because the call that happened to lead was cancelled.
        with anyio.move_on_after(_ON_TOKEN_TIMEOUT, shield=True) as scope:
            try:
                result = self._on_token(token)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                # The new token is already in use; failing the API call would not un-rotate it.
                logger.error("on_token callback raised %s; the new token is in use", type(exc).__name__)
        if scope.cancelled_caught:
            logger.error("on_token callback did not finish within %ss", _ON_TOKEN_TIMEOUT)

    async def _store_call(self, what: str, call: Awaitable[Any]) -> Any:
        # A store that is down (Redis restarting) degrades to per-process tokens, not to failed
        # API calls.
        try:
            return await call
        except Exception as exc:
            logger.warning("token store %s failed (%s); continuing without it", what, type(exc).__name__)
            return None

    # -- for subclasses ------------------------------------------------------------------

    async def _fetch(self, transport: Transport) -> TokenSet:
        raise NotImplementedError


class _guarded_lock:
    """`store.lock(key)`, except that a store that fails to lock is logged and skipped, and the
    release runs shielded from cancellation (a cancelled leader must not keep the lock)."""

    __slots__ = ("_store", "_key", "_cm")

    def __init__(self, store: TokenStore, key: str) -> None:
        self._store = store
        self._key = key
        self._cm: Any = None

    async def __aenter__(self) -> None:
        try:
            cm = self._store.lock(self._key)
            await cm.__aenter__()
        except Exception as exc:
            logger.warning("token store lock failed (%s); refreshing without it", type(exc).__name__)
            return
        self._cm = cm

    async def __aexit__(self, *exc_info: object) -> None:
        if self._cm is None:
            return
        with anyio.CancelScope(shield=True):
            try:
                await self._cm.__aexit__(None, None, None)
            except Exception as exc:
                logger.warning("token store unlock failed (%s)", type(exc).__name__)


def _describe(exc: BaseException) -> str:
    error = getattr(exc, "error", None)
    return f"{type(exc).__name__} {error}" if isinstance(error, str) else type(exc).__name__


def _store_key(*parts: object) -> str:
    digest = hashlib.sha256("\0".join(repr(p) for p in parts).encode()).hexdigest()
    return digest[:32]


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


class _EndpointAuth(TokenAuth):
    """A strategy that talks to a token endpoint."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str | Secret | None,
        *,
        grant: str,
        scope: str | Sequence[str] | None,
        extra_params: Mapping[str, str] | None,
        auth_method: str,
        refresh_margin: float,
        store: TokenStore | None,
        store_key: str | None,
        clock: Clock | None,
        on_token: OnToken | None,
        allow_insecure_http: bool,
        timeout: float | None,
    ) -> None:
        check_url(token_url, what="token_url", allow_insecure_http=allow_insecure_http, allow_query=True)
        self._token_url = token_url  # as given: a trailing slash (`/o/token/`) is significant
        if not isinstance(client_id, str) or not client_id:
            raise ValueError("client_id must be a non-empty string")
        self._client_id = client_id
        self._client_secret = None if client_secret is None else as_secret(client_secret)
        if self._client_secret is not None and not self._client_secret:
            raise ValueError("client_secret must not be empty (pass None for a public client)")
        self._scope = scope_param(scope)
        self._extra = _check_extra(extra_params)
        method = _check_auth_method(auth_method)
        if self._client_secret is None:
            method = "none"
        elif method == "none":
            raise ValueError("auth_method='none' is for public clients: pass client_secret=None")
        self._auth_method: AuthMethod = method
        self._timeout = _check_timeout(timeout)
        key = store_key or _store_key(
            grant, self._token_url, client_id, self._scope, sorted(self._extra.items())
        )
        super().__init__(
            refresh_margin=refresh_margin, store=store, store_key=key, clock=clock, on_token=on_token
        )

    def _secrets(self) -> tuple[Secret | None, ...]:
        return (self._client_secret,)

    async def _request_token(
        self, transport: Transport, grant_type: str, params: Mapping[str, Any]
    ) -> TokenSet:
        request = build_token_request(
            self._token_url,
            grant_type,
            params,
            client_id=self._client_id,
            client_secret=self._client_secret,
            auth_method=self._auth_method,
            extra_params=self._extra,
            timeout=self._timeout,
        )
        logger.debug("requesting a token from %s (grant %s)", self._token_url, grant_type)
        issued_at = self._clock.monotonic()
        if self._timeout is None:
            response = await transport.send(request)
        else:
            # A backstop on the real clock for transports that do not enforce request.timeout.
            try:
                with anyio.fail_after(self._timeout + 1.0):
                    response = await transport.send(request)
            except TimeoutError:
                raise APITimeoutError(
                    f"the token request to {self._token_url} took longer than {self._timeout}s",
                    request=request,
                ) from None
        return parse_token_response(
            response, issued_at=issued_at, wall_now=self._clock.time(), secrets=self._secrets()
        )

    def _repr_fields(self) -> str:
        text = f"token_url={self._token_url!r}, client_id={self._client_id!r}"
        if self._client_secret is not None:
            text += ", client_secret=Secret('***')"
        if self._scope:
            text += f", scope={self._scope!r}"
        return text


class ClientCredentials(_EndpointAuth):
    """OAuth 2.0 client credentials grant (RFC 6749 section 4.4): machine-to-machine tokens.

    `ClientCredentials(token_url, client_id, client_secret, scope=None, extra_params=None)`.
    The client authenticates with HTTP Basic (`auth_method="client_secret_basic"`, the default)
    or in the form (`"client_secret_post"`). `extra_params` (for example `{"audience": ...}`) are
    sent on every token request. A token is refreshed `refresh_margin` seconds before it expires
    (at most a tenth of its lifetime); one with no `expires_in` is used until a 401.

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
        super().__init__(
            token_url,
            client_id,
            client_secret,
            grant="client_credentials",
            scope=scope,
            extra_params=extra_params,
            auth_method=auth_method,
            refresh_margin=refresh_margin,
            store=store,
            store_key=store_key,
            clock=clock,
            on_token=on_token,
            allow_insecure_http=allow_insecure_http,
            timeout=timeout,
        )

    async def _fetch(self, transport: Transport) -> TokenSet:
        return await self._request_token(transport, "client_credentials", {"scope": self._scope})

    def __repr__(self) -> str:
        return f"ClientCredentials({self._repr_fields()}, refresh_count={self.refresh_count})"


class RefreshToken(_EndpointAuth):
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
        super().__init__(
            token_url,
            client_id,
            client_secret,
            grant="refresh_token",
            scope=scope,
            extra_params=extra_params,
            auth_method=auth_method,
            refresh_margin=refresh_margin,
            store=store,
            store_key=store_key,
            clock=clock,
            on_token=on_token,
            allow_insecure_http=allow_insecure_http,
            timeout=timeout,
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
            _check_token_text(initial.access_token)
            self._cur = self._current_for(initial)
        elif expires_in is not None:
            raise ValueError("RefreshToken: expires_in describes access_token; pass both or neither")

    @property
    def refresh_token(self) -> Secret:
        """The refresh token the next refresh will use (the latest rotation)."""
        return self._refresh_token

    def _secrets(self) -> tuple[Secret | None, ...]:
        return (self._client_secret, self._refresh_token)

    def _absorb(self, stored: TokenSet) -> None:
        if stored.refresh_token is not None:
            self._refresh_token = stored.refresh_token

    async def _fetch(self, transport: Transport) -> TokenSet:
        used = self._refresh_token
        token = await self._request_token(
            transport, "refresh_token", {"refresh_token": used.get(), "scope": self._scope}
        )
        if token.refresh_token is None:
            # No rotation: the refresh token stays valid, and the stored set must carry it.
            token = attrs.evolve(token, refresh_token=used)
        else:
            self._refresh_token = token.refresh_token
        return token

    def __repr__(self) -> str:
        return (
            f"RefreshToken({self._repr_fields()}, refresh_token=Secret('***'), "
            f"refresh_count={self.refresh_count})"
        )


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
        _check_token_text(secret)
        return TokenSet(access_token=secret)
    if isinstance(value, TokenSet):
        _check_token_text(value.access_token)
        lifetime = _provided_lifetime(value.expires_in)
        if value.expires_at is None and lifetime is not None:
            return attrs.evolve(value, expires_in=lifetime, expires_at=issued_at + lifetime)
        return value
    if isinstance(value, Mapping):
        access = value.get("access_token")
        if not isinstance(access, (str, Secret)):
            raise TypeError("the token provider's mapping has no access_token string")
        secret = as_secret(access)
        _check_token_text(secret)
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


def _check_token_text(secret: Secret) -> None:
    text = secret.get()
    if not text or text.strip() != text or "\n" in text or "\r" in text:
        raise ValueError("the token provider returned an empty token or one with spaces or line breaks")
