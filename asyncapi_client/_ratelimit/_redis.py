"""`RedisRateLimitBackend`: one token bucket per key, shared by every process and host.

Each acquire is one round trip running one Lua script, atomic on the Redis server and timed by
the server's own clock (`TIME` inside the script), so hosts with skewed clocks agree. The script
*reserves* a token and returns how long to wait before using it (a negative balance is a queue
of reservations in arrival order); the caller sleeps exactly that long, so waiting costs one
round trip, not a poll loop. A reservation that would wait longer than the caller may is refused
and nothing is taken. A cancelled waiter gives its token back.

Needs the `redis` extra (`redis.asyncio`), imported only when a backend is made; asyncio only
(under trio: `AsyncioRequiredError`, see `_redis_support`).
"""

from __future__ import annotations

import logging
from typing import Any

from .._redis_support import AsyncioGuard, open_redis

logger = logging.getLogger("asyncapi_client.ratelimit")

# KEYS[1]: the bucket, a hash {tokens, ts, paused}; `tokens` is the level at time `ts` (which a
# reservation made during a pause moves into the future).
# ARGV: op ("take" | "release" | "pause"), rate, burst, arg (take: max wait seconds, <0 =
# unbounded; pause: seconds). Returns {granted (1/0), wait in microseconds}.
_SCRIPT = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local op = ARGV[1]
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local arg = tonumber(ARGV[4])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts', 'paused')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
local paused = tonumber(state[3]) or 0
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
local granted = 1
local wait = 0
if op == 'pause' then
  if now + arg > paused then paused = now + arg end
  if tokens > 0 then tokens = 0 end
elseif op == 'release' then
  tokens = math.min(burst, tokens + 1)
else
  local at = now
  if paused > at then at = paused end
  if at > ts then
    tokens = math.min(burst, tokens + (at - ts) * rate)
    ts = at
  end
  wait = ts - now
  if tokens < 1 then wait = wait + (1 - tokens) / rate end
  if arg >= 0 and wait > arg then
    granted = 0
  else
    tokens = tokens - 1
  end
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(ts), 'paused', tostring(paused))
local idle = (ts - now) + (burst - tokens) / rate
if paused - now > idle then idle = paused - now end
redis.call('PEXPIRE', KEYS[1], math.ceil((idle + 1) * 1000))
return {granted, math.floor(wait * 1000000)}
"""


class RedisRateLimitBackend:
    """A shared bucket in Redis: `RateLimit(rate=100, burst=10, backend=RedisRateLimitBackend(url))`.

    Give it a URL (`redis://host:6379/0`; the backend owns and closes that connection pool) or
    an existing `redis.asyncio.Redis` (yours to close). Keys are `prefix + partition key` (the
    partition key is "default", a hash of the token, or your tenant key). With `fail_open`
    (default), a Redis outage logs a warning and lets the call go (the local limiter still
    reads the server's headers); otherwise the Redis error propagates.
    """

    def __init__(
        self, redis: Any, *, prefix: str = "asyncapi_client:ratelimit:", fail_open: bool = True
    ) -> None:
        self._guard = AsyncioGuard("RedisRateLimitBackend")
        self._redis: Any
        self._redis, self._owns = open_redis(redis, "RedisRateLimitBackend")
        if not isinstance(prefix, str):
            raise TypeError("prefix must be a string")
        self._prefix = prefix
        self._fail_open = fail_open
        self._script = self._redis.register_script(_SCRIPT)

    async def _run(self, op: str, key: str, rate: float, burst: int, arg: float) -> tuple[int, float]:
        self._guard.check()  # outside the fail-open: trio is not an outage
        try:
            granted, wait_us = await self._script(
                keys=[self._prefix + key], args=[op, repr(float(rate)), str(int(burst)), repr(float(arg))]
            )
        except Exception as exc:
            if not self._fail_open:
                raise
            logger.warning("rate-limit backend unavailable (%s); not waiting", type(exc).__name__)
            return 1, 0.0
        return int(granted), int(wait_us) / 1_000_000

    async def acquire(self, key: str, *, rate: float, burst: int, max_wait: float | None) -> float | None:
        """Take a token from `key`'s shared bucket: the seconds to wait before sending, or None when
        that would be longer than `max_wait`."""
        granted, wait = await self._run("take", key, rate, burst, -1.0 if max_wait is None else max_wait)
        return wait if granted else None

    async def release(self, key: str, *, rate: float, burst: int) -> None:
        """Give back a token taken for a request that was not sent."""
        await self._run("release", key, rate, burst, 0.0)

    async def pause(self, key: str, seconds: float, *, rate: float, burst: int) -> None:
        """Make every process wait `seconds` before its next token (after a 429)."""
        await self._run("pause", key, rate, burst, max(0.0, seconds))

    async def aclose(self) -> None:
        """Close the Redis connection, if this backend made it."""
        if self._owns:
            await self._redis.aclose()

    def __repr__(self) -> str:
        return f"RedisRateLimitBackend(prefix={self._prefix!r})"
