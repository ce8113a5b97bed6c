"""`RedisTokenStore`: one token shared by many processes (extra `redis`).

Layout, under the prefix `key` (default `asyncapi_client:oauth`) and the credential's key:

    {key}:{credential}:token   JSON token set; expires (PX) with the access token
    {key}:{credential}:lock    the refresh lock: SET NX PX lock_ttl with a random owner value

The token is kept with the wall-clock time it expires at (monotonic clocks differ between
processes and hosts) and converted to this process's monotonic clock when read. A token set that
carries a refresh token is kept `refresh_token_ttl` seconds (default: no expiry), because the
refresh token outlives the access token.

The lock: whoever sets it refreshes; the others poll it with a bounded, jittered backoff
(`poll_interval`, doubling up to `max_poll_interval`), and once it is free they take it, find
the token the holder wrote, and release it at once. A crashed holder blocks the others only
until `lock_ttl` runs out. Release is a compare-and-delete (Lua), so a holder whose lock expired
never deletes a successor's. `redis` is imported only here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import secrets
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any, Final

import anyio

from .._clock import SYSTEM_CLOCK, Clock
from .._redis_support import AsyncioGuard, open_redis
from .._secret import Secret
from ._tokens import MAX_LIFETIME, TokenSet

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger("asyncapi_client.auth")

_RELEASE: Final = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_DELETE_IF: Final = """
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local ok, data = pcall(cjson.decode, raw)
if ok and type(data) == 'table' and data['fp'] == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_VERSION: Final = 1


def _fingerprint(secret: Secret) -> str:
    return hashlib.sha256(secret.get().encode()).hexdigest()


class RedisTokenStore:
    """A `TokenStore` in Redis: `RedisTokenStore("redis://host:6379/0")` or
    `RedisTokenStore(redis_client)`.

    Tokens are stored in clear in Redis: protect it as you would the client secret (ACLs, TLS
    with `rediss://` across hosts). Call `aclose()` (or use `async with`) to close a connection
    pool the store opened from a URL; a client you pass in stays yours to close. A store opened
    from a URL bounds each Redis operation by `socket_timeout`. asyncio only (redis.asyncio):
    under trio it raises `AsyncioRequiredError`.
    """

    def __init__(
        self,
        redis: str | Redis,
        *,
        key: str = "asyncapi_client:oauth",
        lock_ttl: float = 15.0,
        poll_interval: float = 0.005,
        max_poll_interval: float = 0.1,
        refresh_token_ttl: float | None = None,
        socket_timeout: float = 5.0,
        clock: Clock | None = None,
    ) -> None:
        self._guard = AsyncioGuard("RedisTokenStore")
        # Bounded socket waits: a Redis that hangs must not hang the refresh (a failed store
        # operation degrades to a per-process token, see TokenAuth).
        self._redis: Any
        self._redis, self._owns = open_redis(redis, "RedisTokenStore", socket_timeout=socket_timeout)
        for name, value in (
            ("lock_ttl", lock_ttl),
            ("poll_interval", poll_interval),
            ("max_poll_interval", max_poll_interval),
        ):
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        if max_poll_interval < poll_interval:
            raise ValueError("max_poll_interval must be >= poll_interval")
        if refresh_token_ttl is not None and (not math.isfinite(refresh_token_ttl) or refresh_token_ttl <= 0):
            raise ValueError("refresh_token_ttl must be a positive number of seconds or None")
        if not key:
            raise ValueError("key must be a non-empty prefix")
        self._prefix = key
        self._lock_ms = max(1, int(lock_ttl * 1000))
        self._poll = float(poll_interval)
        self._max_poll = float(max_poll_interval)
        self._refresh_ttl = refresh_token_ttl
        self._clock = clock or SYSTEM_CLOCK

    def _key(self, key: str, part: str) -> str:
        return f"{self._prefix}:{key}:{part}"

    async def get(self, key: str) -> TokenSet | None:
        """See `TokenStore.get`; a malformed entry is logged and read as none."""
        self._guard.check()
        raw = await self._redis.get(self._key(key, "token"))
        if raw is None:
            return None
        try:
            return self._decode(raw)
        except (ValueError, TypeError, KeyError, RecursionError):
            logger.warning("ignoring a malformed token entry in Redis under %s", self._key(key, "token"))
            return None

    async def set(self, key: str, token: TokenSet) -> None:
        """See `TokenStore.set`; the entry expires with the token (or after `refresh_ttl` when it has a
        refresh token)."""
        self._guard.check()
        now_mono, now_wall = self._clock.monotonic(), self._clock.time()
        remaining = token.remaining(now_mono)
        data: dict[str, Any] = {
            "v": _VERSION,
            "fp": _fingerprint(token.access_token),
            "access_token": token.access_token.get(),
            "token_type": token.token_type,
            "expires_in": token.expires_in,
            "expires_at_wall": None if remaining is None else now_wall + remaining,
            "refresh_token": None if token.refresh_token is None else token.refresh_token.get(),
            "scope": token.scope,
            "extra": dict(token.extra),
        }
        ttl: float | None
        if token.refresh_token is not None:
            ttl = self._refresh_ttl
        else:
            ttl = remaining
            if ttl is not None and ttl <= 0:
                return  # already expired: nothing worth sharing
        payload = json.dumps(data, separators=(",", ":"), default=str)
        if ttl is None:
            await self._redis.set(self._key(key, "token"), payload)
        else:
            await self._redis.set(self._key(key, "token"), payload, px=max(1, math.ceil(ttl * 1000)))

    async def delete(self, key: str, *, only_if: TokenSet | None = None) -> None:
        """See `TokenStore.delete`; `only_if` is checked atomically in Redis."""
        self._guard.check()
        if only_if is None:
            await self._redis.delete(self._key(key, "token"))
        else:
            await self._redis.eval(_DELETE_IF, 1, self._key(key, "token"), _fingerprint(only_if.access_token))

    def lock(self, key: str) -> AbstractAsyncContextManager[None]:
        """See `TokenStore.lock`: a Redis lock with an expiry, so a crashed holder blocks others only
        until then."""
        return self._locked(self._key(key, "lock"))

    @asynccontextmanager
    async def _locked(self, lock_key: str) -> AsyncIterator[None]:
        self._guard.check()
        owner = secrets.token_hex(16)
        delay = self._poll
        while not await self._redis.set(lock_key, owner, nx=True, px=self._lock_ms):
            # Jittered so that waiting processes do not poll in step.
            await anyio.sleep(delay * (0.5 + random.random() / 2))
            delay = min(self._max_poll, delay * 2)
        try:
            yield
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(5.0):
                await self._redis.eval(_RELEASE, 1, lock_key, owner)

    def _decode(self, raw: bytes | str) -> TokenSet:
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("v") != _VERSION:
            raise ValueError("unknown token entry format")
        access = data["access_token"]
        if not isinstance(access, str) or not access:
            raise ValueError("no access token")
        expires_in = data.get("expires_in")
        expires_in = float(expires_in) if isinstance(expires_in, (int, float)) else None
        wall = data.get("expires_at_wall")
        expires_at: float | None = None
        if isinstance(wall, (int, float)) and math.isfinite(wall):
            left = min(float(wall) - self._clock.time(), MAX_LIFETIME)
            expires_at = self._clock.monotonic() + left
        refresh = data.get("refresh_token")
        scope = data.get("scope")
        extra = data.get("extra")
        return TokenSet(
            access_token=Secret(access),
            token_type="Bearer",
            expires_in=expires_in,
            expires_at=expires_at,
            refresh_token=Secret(refresh) if isinstance(refresh, str) and refresh else None,
            scope=scope if isinstance(scope, str) else None,
            extra=extra if isinstance(extra, dict) else {},
        )

    async def aclose(self) -> None:
        """Close the Redis connection, if this store made it."""
        if self._owns:
            await self._redis.aclose()

    async def __aenter__(self) -> RedisTokenStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"RedisTokenStore(key={self._prefix!r})"
