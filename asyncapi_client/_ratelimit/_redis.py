"""`RedisRateLimitBackend`: one token bucket per key, shared by every process and host.

Each acquire is one round trip running one Lua script, atomic on the Redis server and timed by
the server's own clock (`TIME` inside the script), so hosts with skewed clocks agree. The script
*reserves* a token and returns how long to wait before using it (a negative balance is a queue
of reservations in arrival order); the caller sleeps exactly that long, so waiting costs one
round trip, not a poll loop. A reservation that would wait longer than the caller may is refused
and nothing is taken. A cancelled waiter gives its token back.

With no `rate` configured, the same backend keeps the fleet's *learned* rate instead
(`lease`, `cut`, `give`, `fleet_pause`: `_fleet_script.py` holds that script, `_fleet.py` the
design), in its own hash per key (`prefix + "fleet:" + partition key`).

Needs the `redis` extra (`redis.asyncio`), imported only when a backend is made; asyncio only
(under trio: `AsyncioRequiredError`, see `_redis_support`).
"""

from __future__ import annotations

import logging
import math
from typing import Any

from .._redis_support import AsyncioGuard, open_redis
from ._adaptive import BETA, CUBIC_C, DOUBLING, FORGET_AFTER, MIN_RATE
from ._config import DEFAULT_MAX_PAUSE
from ._fleet import Grant
from ._fleet_script import FLEET_SCRIPT

logger = logging.getLogger("asyncapi_client.ratelimit")

# KEYS[1]: the bucket, a hash {tokens, ts, paused}; `tokens` is the level at time `ts` (which a
# reservation made during a pause moves into the future).
# ARGV: op ("take" | "release" | "pause"), rate, burst, arg (take: max wait seconds, <0 =
# unbounded; pause: seconds), max_pause (seconds: no pause, stored or new, ends later than this
# from now, whoever wrote it). Returns {granted (1/0), wait in microseconds}.
_SCRIPT = """
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local op = ARGV[1]
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local arg = tonumber(ARGV[4])
local max_pause = tonumber(ARGV[5])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts', 'paused')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
local paused = tonumber(state[3]) or 0
if tokens == nil or ts == nil or tokens ~= tokens or ts ~= ts then
  tokens = burst
  ts = now
end
if paused ~= paused or paused > now + max_pause then paused = now + max_pause end
if ts > now + max_pause then ts = now + max_pause end
local granted = 1
local wait = 0
if op == 'pause' then
  if arg > max_pause then arg = max_pause end
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
    reads the server's headers); otherwise the Redis error propagates. `max_pause` caps every
    pause the shared state holds, including one another process (or an older client) wrote
    without a cap, and so the key's expiry too.
    """

    def __init__(
        self,
        redis: Any,
        *,
        prefix: str = "asyncapi_client:ratelimit:",
        fail_open: bool = True,
        max_pause: float = DEFAULT_MAX_PAUSE,
    ) -> None:
        if (
            isinstance(max_pause, bool)
            or not isinstance(max_pause, (int, float))
            or not (math.isfinite(max_pause) and max_pause >= 0)
        ):
            raise ValueError(
                f"RedisRateLimitBackend(max_pause={max_pause!r}): the longest pause the shared "
                "state may hold must be a finite number of seconds >= 0"
            )
        self._guard = AsyncioGuard("RedisRateLimitBackend")
        self._redis: Any
        self._redis, self._owns = open_redis(redis, "RedisRateLimitBackend")
        if not isinstance(prefix, str):
            raise TypeError("prefix must be a string")
        self._prefix = prefix
        self._fail_open = fail_open
        self._max_pause = repr(float(max_pause))
        self._script = self._redis.register_script(_SCRIPT)
        self._fleet_script = self._redis.register_script(FLEET_SCRIPT)
        self._curve = [repr(float(v)) for v in (BETA, CUBIC_C, MIN_RATE, DOUBLING, FORGET_AFTER)]

    async def _run(self, op: str, key: str, rate: float, burst: int, arg: float) -> tuple[int, float]:
        self._guard.check()  # outside the fail-open: trio is not an outage
        try:
            granted, wait_us = await self._script(
                keys=[self._prefix + key],
                args=[op, repr(float(rate)), str(int(burst)), repr(float(arg)), self._max_pause],
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

    # -- shared learning (no rate configured) ---------------------------------------------

    async def _fleet(self, op: str, key: str, *args: float) -> Grant | None:
        self._guard.check()
        try:
            reply = await self._fleet_script(
                keys=[f"{self._prefix}fleet:{key}"],
                args=[op, self._max_pause, *self._curve, *(repr(float(a)) for a in args)],
            )
        except Exception as exc:
            if not self._fail_open:
                raise
            logger.warning("rate-limit backend unavailable (%s); not waiting", type(exc).__name__)
            return None
        return Grant.parse(reply)

    async def lease(
        self, key: str, want: int, *, granted: int, ceiling: float | None, burst: int | None,
        max_wait: float | None, below: bool = False,
    ) -> Grant | None:
        """Reserve `want` consecutive slots of the fleet's bucket `key`, reporting the answers
        `granted` since the last call, the `ceiling` and `burst` the headers allow and whether
        the latest answer saw the server's bucket near full (`below`: the fleet may step up); None when
        Redis is down and `fail_open` (go without waiting)."""
        return await self._fleet(
            "lease",
            key,
            want,
            granted,
            ceiling or 0.0,
            burst or 0,
            -1.0 if max_wait is None else max_wait,
            1.0 if below else 0.0,
        )

    async def cut(
        self, key: str, *, epoch: int, sent_ago: float, pause: float, granted: int, beta: float = BETA
    ) -> Grant | None:
        """Propose a congestion event (a 429 for a request sent in `epoch`, `sent_ago` seconds
        ago; `pause`: its Retry-After; `beta`: how deep to cut); `accepted` says whether it was
        a new one."""
        return await self._fleet("cut", key, epoch, sent_ago, max(0.0, pause), granted, beta)

    async def give(self, key: str, slots: int) -> None:
        """Give back leased slots this process did not use."""
        await self._fleet("give", key, slots)

    async def fleet_pause(self, key: str, seconds: float) -> None:
        """No slot for anyone in the fleet for `seconds` (capped by `max_pause`)."""
        await self._fleet("pause", key, max(0.0, seconds))

    async def aclose(self) -> None:
        """Close the Redis connection, if this backend made it."""
        if self._owns:
            await self._redis.aclose()

    def __repr__(self) -> str:
        return f"RedisRateLimitBackend(prefix={self._prefix!r})"
