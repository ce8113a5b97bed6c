"""`RedisCheckpointStore`: checkpoints in Redis, for workers on several hosts (extra `redis`).

One string key per checkpoint (`prefix + key`), written whole with `SET` (atomic), kept
`ttl` seconds after its last save when a ttl is given (a finished job's record then goes by
itself). `redis` is imported only when a store is made.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .._redis_support import AsyncioGuard, open_redis
from ._store import check_key, decode_state


class RedisCheckpointStore:
    """`RedisCheckpointStore("redis://host:6379/0")` or `RedisCheckpointStore(redis_client)`
    (a `redis.asyncio.Redis`, yours to close; a store opened from a URL closes its pool in
    `aclose()`). asyncio only, like the other Redis backends (see `_redis_support`)."""

    def __init__(
        self,
        redis: Any,
        *,
        prefix: str = "asyncapi_client:checkpoint:",
        ttl: float | None = None,
        socket_timeout: float = 5.0,
    ) -> None:
        if ttl is not None and (
            isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not math.isfinite(ttl) or ttl <= 0
        ):
            raise ValueError(f"ttl must be None (keep) or a positive number of seconds, got {ttl!r}")
        if not isinstance(prefix, str):
            raise TypeError("prefix must be a string")
        self._guard = AsyncioGuard("RedisCheckpointStore")
        self._redis, self._owns = open_redis(redis, "RedisCheckpointStore", socket_timeout=socket_timeout)
        self._prefix = prefix
        self._ttl_ms = None if ttl is None else max(1, math.ceil(ttl * 1000))

    async def load(self, key: str) -> dict[str, Any] | None:
        self._guard.check()
        raw = await self._redis.get(self._prefix + check_key(key))
        return None if raw is None else decode_state(raw, repr(key))

    async def save(self, key: str, state: dict[str, Any]) -> None:
        self._guard.check()
        payload = json.dumps(state, separators=(",", ":"))
        await self._redis.set(self._prefix + check_key(key), payload, px=self._ttl_ms)

    async def delete(self, key: str) -> None:
        self._guard.check()
        await self._redis.delete(self._prefix + check_key(key))

    async def aclose(self) -> None:
        if self._owns:
            await self._redis.aclose()

    async def __aenter__(self) -> RedisCheckpointStore:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"RedisCheckpointStore(prefix={self._prefix!r})"
