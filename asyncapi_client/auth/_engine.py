"""The refresh engine behind every OAuth strategy: `TokenAuth`.

It answers three questions per attempt:

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
token is retried by the retry layer as a whole). How a token is obtained is the subclass's
`_fetch`: the grants (`_grants.py`) ask a token endpoint, `TokenProvider` (`_provider.py`)
calls the application.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Final, Union

import anyio

from .._attempt_info import record_token_refresh
from .._clock import SYSTEM_CLOCK, Clock
from .._errors import APIConnectionError, AsyncioRequiredError
from .._pipeline import CallNext
from .._types import Request, Response
from ..transports._base import Transport
from ._store import MemoryTokenStore, TokenStore
from ._tokens import TokenSet

logger = logging.getLogger("asyncapi_client.auth")

OnToken = Callable[[TokenSet], Union[Awaitable[None], None]]

# After a refresh ahead of expiry fails, the still-valid token is kept and the next attempt
# waits this long (at most half the time left), so an outage of the token endpoint costs one
# token request per interval, not one per API call.
_RETRY_AHEAD_AFTER: Final = 5.0
# The margin is capped at this fraction of the token's lifetime, so a short-lived token (a
# 2-second sandbox token, a 60-second token with the default 30 s margin) is not refreshed on
# (nearly) every call.
_MAX_MARGIN_FRACTION: Final = 0.1
# When that cap binds, the token is too short-lived to ride out a token-endpoint outage anyway,
# so it is refreshed when it expires, not ahead: `expires_at` counts from when the token request
# was sent, before the server issued it, so the token is still good at the server for every
# request sent by then, and the next token request goes no sooner than one lifetime after the
# last one. A run of T seconds then makes at most T / lifetime + 1 of them; refreshing any lead
# ahead makes each interval that much shorter, and one more request whenever T falls within the
# leads' sum below a multiple of the lifetime. What it costs: the calls that come in while the
# single-flight refresh is out wait for it (one token request, once per lifetime).
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

    async def authenticate(self, request: Request, call_next: CallNext, transport: Transport) -> Response:
        """Send with the current access token (fetched or refreshed first when due); on a 401,
        refresh once (single-flight across concurrent calls) and replay once."""
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
            await self._discard_rejected(rejected)
        adopted = await self._adopt(rejected)
        if adopted is not None:
            return adopted
        async with _guarded_lock(self._store, self._store_key, required=self._store_required):
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
            cap = token.expires_in * _MAX_MARGIN_FRACTION
            if cap < margin:
                margin = 0.0  # short-lived: refreshed when it expires (see _MAX_MARGIN_FRACTION)
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
        # API calls, unless the store is where the credential lives (`_store_required`).
        try:
            return await call
        except AsyncioRequiredError:
            raise  # a program on trio, not an outage: say so rather than run without the store
        except Exception as exc:
            if self._store_required:
                raise _store_unavailable(what, exc) from exc
            logger.warning("token store %s failed (%s); continuing without it", what, type(exc).__name__)
            return None

    # -- for subclasses ------------------------------------------------------------------

    _store_required: bool = False
    """True when the store holds the only copy of the credential (a user's rotating refresh
    token): a failing store then fails the call instead of refreshing without it, which could
    spend one refresh token in two processes."""

    async def _fetch(self, transport: Transport) -> TokenSet:
        raise NotImplementedError

    async def _discard_rejected(self, rejected: TokenSet) -> None:
        """After a 401: drop the rejected token set from the store if it is still the one there
        (a token another holder already replaced is kept)."""
        await self._store_call("delete", self._store.delete(self._store_key, only_if=rejected))


def _store_unavailable(what: str, exc: Exception) -> APIConnectionError:
    return APIConnectionError(
        f"the token store's {what} failed ({type(exc).__name__}); no token without it", request_sent=False
    )


class _guarded_lock:
    """`store.lock(key)`, except that a store that fails to lock is logged and skipped (unless
    `required`), and the release runs shielded from cancellation (a cancelled leader must not
    keep the lock)."""

    __slots__ = ("_store", "_key", "_required", "_cm")

    def __init__(self, store: TokenStore, key: str, *, required: bool = False) -> None:
        self._store = store
        self._key = key
        self._required = required
        self._cm: Any = None

    async def __aenter__(self) -> None:
        try:
            cm = self._store.lock(self._key)
            await cm.__aenter__()
        except AsyncioRequiredError:
            raise
        except Exception as exc:
            if self._required:
                raise _store_unavailable("lock", exc) from exc
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
