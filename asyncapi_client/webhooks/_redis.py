"""`RedisDedupeStore`: processed webhook ids shared by every worker through Redis (extra `redis`).

One key per id. `claim` is one Lua script (read, and mark in flight if absent), so two workers
never both claim an id. The in-flight mark holds a random token and expires after
`in_flight_ttl`, so a worker that dies mid-handler does not block the id forever; `release`
deletes the mark only if it still holds our token. `complete` stores `done` for `ttl` seconds.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from .._config import check_seconds
from .._redis_support import AsyncioGuard
from ._dedupe import DEFAULT_TTL, Claim

logger = logging.getLogger("asyncapi_client.webhooks")

_CLAIM = """
local current = redis.call('GET', KEYS[1])
if current then return current end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

_DONE = "done"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, (bytes, bytearray)) else str(value)


class RedisDedupeStore:
    """Shared dedupe store. Give a `url` (`redis://host:6379/0`; the store then owns, and
    `aclose()` closes, its connection pool) or an existing `redis.asyncio.Redis` as `client`."""

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Any = None,
        prefix: str = "asyncapi_client:webhook:",
        ttl: float = DEFAULT_TTL,
        in_flight_ttl: float = 300.0,
    ) -> None:
        try:
            import redis.asyncio as aioredis
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "RedisDedupeStore needs the redis package: pip install 'asyncapi-client[redis]'"
            ) from exc
        if (url is None) == (client is None):
            raise ValueError("give RedisDedupeStore exactly one of url=... or client=...")
        # Redis counts in whole milliseconds: at least one.
        ttl = check_seconds("RedisDedupeStore ttl", ttl, minimum=0.001)
        in_flight_ttl = check_seconds("RedisDedupeStore in_flight_ttl", in_flight_ttl, minimum=0.001)
        self._guard = AsyncioGuard("RedisDedupeStore")
        self._owns_client = client is None
        self._redis: Any = client if url is None else aioredis.from_url(url)
        self._prefix = prefix
        self._ttl_ms = int(ttl * 1000)
        self._in_flight_ms = int(in_flight_ttl * 1000)
        self._claim = self._redis.register_script(_CLAIM)
        self._release = self._redis.register_script(_RELEASE)
        # The token of each id this process claimed, so release() only drops our own mark.
        self._tokens: dict[str, str] = {}

    def _key(self, key: str) -> str:
        return self._prefix + key

    async def claim(self, key: str) -> Claim:
        """See `DedupeStore.claim`; atomic across processes (`SET NX` with an expiry)."""
        self._guard.check()
        token = "inflight:" + secrets.token_hex(8)
        current = await self._claim(keys=[self._key(key)], args=[token, self._in_flight_ms])
        if current is None:
            self._tokens[key] = token
            return Claim.CLAIMED
        return Claim.DUPLICATE if _text(current) == _DONE else Claim.IN_FLIGHT

    async def complete(self, key: str) -> None:
        """See `DedupeStore.complete`."""
        self._guard.check()
        self._tokens.pop(key, None)
        await self._redis.set(self._key(key), _DONE, px=self._ttl_ms)

    async def release(self, key: str) -> None:
        """See `DedupeStore.release`."""
        self._guard.check()
        token = self._tokens.pop(key, None)
        if token is not None:
            await self._release(keys=[self._key(key)], args=[token])

    async def aclose(self) -> None:
        """Close the connection pool if this store made it."""
        if self._owns_client:
            await self._redis.aclose()

    def __repr__(self) -> str:
        return f"RedisDedupeStore(prefix={self._prefix!r})"
