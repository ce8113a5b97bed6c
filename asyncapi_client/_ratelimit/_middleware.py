"""`RateLimitMiddleware`: paces each attempt and learns from each response.

It sits inside the retry loop (see `_client.py`), so every attempt takes a token and every
response, each retry's included, updates the limiter's view of the server. Per partition (one
for the client, or one per token or tenant) it keeps:

* a local `TokenBucket`: the configured rate and burst, or what the headers taught (open until
  then);
* the server's last `Limit`/`Remaining`/`Reset`, and a `RefillEstimate` of its refill rate;
* a `Cubic` cap after a 429 (adaptive mode).

How the server's headers steer the bucket, after each response:

1. *Sync*: the local bucket may hold no more than `Remaining - k - 1` tokens, where `k` is the
   number of requests sent after this one (they will take from the server's bucket too) and the
   1 is a reserve left in the server's bucket so that jitter in arrival times does not cost a
   429. If the server is emptier than we thought, the bucket goes into debt and waits.
2. *Empty*: `Remaining` 0 (after `k`) pauses until one token is due at a rate we trust (the
   configured one, or the lower bound learned), and never past `Reset`; with nothing known, it
   pauses until `Reset`.
3. *Spread*: with no configured rate, the bucket refills at the learned rate, and never slower
   than `Remaining / (Reset - now)`: what remains is spread over the window, not burst at once.
4. *Retry-After* (on a 429 or 503) pauses the partition for that long, whatever else was said.
5. *429*: counted; with `adaptive`, the rate drops to 0.7x and recovers along CUBIC.

The first request of a partition goes alone (a probe) when the server's limit is not known yet:
a client that opens with 64 concurrent calls would otherwise spend most of them on 429s before
the first header arrives.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
from collections import OrderedDict
from collections.abc import Hashable
from typing import Final

import anyio
import attrs

from .._attempt_info import record_limiter_wait
from .._clock import Clock
from .._errors import APITimeoutError
from .._pipeline import CallNext
from .._stats import ClientStats
from .._types import Request, Response
from ._adaptive import Cubic, RefillEstimate
from ._bucket import TokenBucket, WaitTooLong
from ._config import RateLimit
from ._headers import RateLimitHeaderReader, RateLimitInfo

logger = logging.getLogger("asyncapi_client.ratelimit")

_RESERVE: Final = 1.0  # tokens left in the server's bucket to absorb jitter...
_RESERVE_FROM: Final = 2  # ...when it holds at least this many (a bucket of 1 has none to spare)
_DEFAULT_KEY: Final = "default"
_RESPECT_RETRY_AFTER: Final = frozenset({429, 503})
_RATE_WINDOW: Final = 1.0  # seconds over which the send rate is measured


@attrs.frozen(slots=True)
class RateLimitStatus:
    """The limiter's view of one partition (`client.rate_limit_status()`).

    Server side (None until a response said it): `limit`, `remaining`, `reset` (Unix seconds
    when the quota is restored), `server_rate` (refill rate learned from the headers).
    Local side: `rate` (the bucket's refill rate now, None when not binding), `burst`, `tokens`,
    `paused_for` (seconds left of a pause). Totals for the client: `rate_limited` (429s seen),
    `wait_seconds` (time spent waiting for the limiter), `partitions`.
    """

    key: str
    limit: int | None
    remaining: int | None
    reset: float | None
    server_rate: float | None
    rate: float | None
    burst: float | None
    tokens: float | None
    paused_for: float
    adaptive_rate: float | None
    rate_limited: int
    wait_seconds: float
    partitions: int
    shared: bool


class _Partition:
    __slots__ = (
        "key",
        "bucket",
        "ready",
        "probing",
        "probe_done",
        "sent",
        "inflight",
        "limit",
        "remaining",
        "reset_wall",
        "model",
        "refill",
        "policy_rate",
        "spread_rate",
        "cubic",
        "rate_limited",
        "wait_seconds",
        "mark_time",
        "mark_sent",
        "send_rate",
        "probe_rate",
        "probe_time",
        "rough_rate",
        "window_like",
        "empty_early",
        "drain_since",
        "drain_remaining",
        "drain_granted",
    )

    def __init__(self, key: str, bucket: TokenBucket, ready: bool, now: float) -> None:
        self.key = key
        self.bucket = bucket
        self.ready = ready
        self.probing = False
        self.probe_done: anyio.Event | None = None
        self.sent = 0
        self.inflight = 0
        self.limit: int | None = None
        self.remaining: int | None = None
        self.reset_wall: float | None = None
        self.model = "bucket"
        self.refill = RefillEstimate()
        self.policy_rate: float | None = None
        self.spread_rate: float | None = None
        self.cubic: Cubic | None = None
        self.rate_limited = 0
        self.wait_seconds = 0.0
        self.mark_time = now
        self.mark_sent = 0
        self.send_rate: float | None = None
        self.probe_rate: float | None = None
        self.probe_time = now
        self.rough_rate: float | None = None
        self.window_like = False
        self.empty_early = False
        self.drain_since: float | None = None
        self.drain_remaining = 0
        self.drain_granted = 0


def token_partition_key(request: Request) -> str | None:
    """A partition key for the request's credentials: a hash of its Authorization header (the
    token itself is never kept)."""
    header = request.headers.get("authorization")
    if not header:
        return None
    return hashlib.sha256(header.encode()).hexdigest()[:32]


class RateLimitMiddleware:
    """Per attempt: wait for a token (local bucket, then the shared backend); learn from the
    response. With `config=None` it only counts 429s and keeps the server's view for
    `status()`, and never waits."""

    def __init__(self, config: RateLimit | None, *, clock: Clock, stats: ClientStats) -> None:
        self.config = config
        self._clock = clock
        self._stats = stats
        self._enabled = config is not None
        cfg = config or RateLimit(adaptive=False)
        # With a shared backend, the configured rate and burst are the shared bucket's; the
        # local bucket then only follows the server's headers (and 429s).
        shared = cfg.backend is not None
        self._shared_rate = cfg.rate or 1.0
        self._shared_burst = cfg.burst or 1
        self._rate = None if shared else cfg.rate
        self._burst = None if shared else cfg.burst
        self._max_wait = cfg.max_wait
        self._adaptive = cfg.adaptive and self._enabled
        self._learn = cfg.respect_headers
        self._headers = RateLimitHeaderReader(cfg.reset_format)
        self._backend = cfg.backend
        self._max_partitions = cfg.max_partitions
        partition = cfg.partition
        self._key_of = token_partition_key if partition == "token" else partition
        self._partitions: OrderedDict[str, _Partition] = OrderedDict()
        self._default = self._new_partition(_DEFAULT_KEY)
        self._last = self._default

    # -- partitions -----------------------------------------------------------------------

    def _new_partition(self, key: str) -> _Partition:
        rate = self._rate if self._rate is not None else math.inf
        capacity = float(self._burst) if self._burst is not None else (1.0 if self._rate else math.inf)
        clock = self._clock
        bucket = TokenBucket(clock, rate=rate if self._enabled else math.inf, capacity=capacity)
        part = _Partition(key, bucket, ready=not (self._enabled and self._learn), now=clock.monotonic())
        self._partitions[key] = part
        return part

    def _partition_for(self, request: Request) -> _Partition:
        key_of = self._key_of
        if key_of is None:
            return self._default
        try:
            raw = key_of(request)
        except Exception:  # a user's key function must not break the call
            logger.warning("rate-limit partition key function failed; using the default partition")
            raw = None
        if raw is None:
            return self._default
        key = raw if isinstance(raw, str) else repr(raw) if isinstance(raw, Hashable) else _DEFAULT_KEY
        parts = self._partitions
        part = parts.get(key)
        if part is not None:
            parts.move_to_end(key)
            return part
        part = self._new_partition(key)
        if len(parts) > self._max_partitions:
            self._evict()
        return part

    def _evict(self) -> None:
        """Drop the least recently used idle partitions (never one with calls in flight)."""
        parts = self._partitions
        excess = len(parts) - self._max_partitions
        # Look at the oldest few only: O(1) per new partition; if they are all busy, the map
        # stays over its bound for a while rather than scanning thousands.
        for key in list(itertools.islice(parts, excess + 32)):
            if excess <= 0:
                break
            part = parts[key]
            if part is self._default or part.inflight or part.bucket.waiting or part.probing:
                continue
            del parts[key]
            excess -= 1

    # -- the middleware -------------------------------------------------------------------

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        part = self._default if self._key_of is None else self._partition_for(request)
        self._last = part
        clock = self._clock
        sent_at = clock.monotonic()
        probe = False
        if self._enabled and not (part.ready and part.bucket.try_take(sent_at)):
            probe = await self._wait(part, request)
            sent_at = clock.monotonic()
        if self._backend is not None:
            try:
                await self._wait_shared(part, request)
            except BaseException:
                if probe:
                    self._probe_finished(part, sent=False)
                raise
            sent_at = clock.monotonic()
        part.sent += 1
        seq = part.sent
        part.inflight += 1
        try:
            response = await call_next(request)
        except BaseException:
            part.inflight -= 1
            if probe:
                # It failed without headers; do not hold everyone back on a second probe.
                self._probe_finished(part, sent=True)
            raise
        part.inflight -= 1
        pause = self._observe(part, response, seq, sent_at)
        if probe:
            self._probe_finished(part, sent=True)
        if pause is not None and self._backend is not None:
            # Retry-After: every process sharing the bucket pauses, not only this one.
            await self._backend.pause(part.key, pause, rate=self._shared_rate, burst=self._shared_burst)
        return response

    async def _wait(self, part: _Partition, request: Request) -> bool:
        """Wait for a local token; True when this request is the partition's probe."""
        while not part.ready:
            if not part.probing:
                # This request is the probe: it goes alone; the others wait for its headers.
                part.probing = True
                part.probe_done = anyio.Event()
                try:
                    await self._take(part, request)
                except BaseException:
                    self._probe_finished(part, sent=False)  # the next waiter probes instead
                    raise
                return True
            done = part.probe_done
            if done is not None:
                began = self._clock.monotonic()
                await done.wait()
                self._waited(part, self._clock.monotonic() - began)
        await self._take(part, request)
        return False

    async def _take(self, part: _Partition, request: Request) -> None:
        deadline = request.extensions.get("deadline")
        try:
            waited = await part.bucket.acquire(deadline=deadline, max_wait=self._max_wait)
        except WaitTooLong as exc:
            raise self._too_long(request, exc.wait, exc.deadline_hit) from None
        if waited:
            self._waited(part, waited)

    async def _wait_shared(self, part: _Partition, request: Request) -> None:
        backend = self._backend
        assert backend is not None
        clock = self._clock
        rate = self._shared_rate
        burst = self._shared_burst
        max_wait = self._max_wait
        deadline = request.extensions.get("deadline")
        if deadline is not None:
            left = max(0.0, deadline - clock.monotonic())
            max_wait = left if max_wait is None else min(max_wait, left)
        wait = await backend.acquire(part.key, rate=rate, burst=burst, max_wait=max_wait)
        if wait is None:
            raise self._too_long(request, math.inf, deadline is not None and max_wait != self._max_wait)
        if wait > 0:
            try:
                await clock.sleep(wait)
            except BaseException:
                # Cancelled while waiting: give the reserved token back to everyone.
                with anyio.CancelScope(shield=True):
                    await backend.release(part.key, rate=rate, burst=burst)
                raise
            self._waited(part, wait)

    def _waited(self, part: _Partition, seconds: float) -> None:
        """Account for time an attempt spent waiting: the partition, the client's stats, and the
        attempt's observer (telemetry), if one listens."""
        part.wait_seconds += seconds
        self._stats.limiter_wait_seconds += seconds
        record_limiter_wait(seconds)

    def _too_long(self, request: Request, wait: float, deadline_hit: bool) -> APITimeoutError:
        what = "the call's deadline" if deadline_hit else f"max_wait ({self._max_wait}s)"
        shown = "an unbounded time" if wait == math.inf else f"{wait:.3f}s"
        error = APITimeoutError(
            f"{request.method} {request.url}: the rate limiter would wait {shown}, past {what}",
            request=request,
            request_sent=False,
        )
        # A retry would meet the same wait: the retry layer must not spend an attempt on it.
        error.retryable = False
        return error

    def _probe_finished(self, part: _Partition, *, sent: bool) -> None:
        part.probing = False
        if sent:
            part.ready = True
        done = part.probe_done
        part.probe_done = None
        if done is not None:
            done.set()

    # -- learning -------------------------------------------------------------------------

    def _observe(self, part: _Partition, response: Response, seq: int, sent_at: float) -> float | None:
        """Learn from one response; return a Retry-After pause to share, if any."""
        status = response.status_code
        info: RateLimitInfo | None = None
        wall = 0.0
        if self._learn:
            headers = response.headers
            if headers:
                info, wall = self._headers.read(headers, self._clock.time)
        if status == 429:
            self._stats.rate_limited += 1
            part.rate_limited += 1
        if info is None and status != 429 and part.cubic is None:
            return None  # nothing to learn: the common case for servers without rate-limit headers
        return self._learn_from(part, info, status, seq, sent_at, wall)

    def _learn_from(
        self,
        part: _Partition,
        info: RateLimitInfo | None,
        status: int,
        seq: int,
        sent_at: float,
        wall: float,
    ) -> float | None:
        now = self._clock.monotonic()
        bucket = part.bucket
        later = part.sent - seq  # requests sent after this one: they take from the server too
        enabled = self._enabled
        shared_pause: float | None = None
        if status == 429 and part.empty_early and self._rate is None:
            # We sent before Reset because the bucket model said a token would be back; the
            # 429 says this server is a fixed window: from now on, an empty quota waits for Reset.
            part.window_like = True
        if info is not None:
            limit, remaining, reset_after, quota, window, retry_after, model = info
            if limit is not None:
                part.limit = limit
            if remaining is not None:
                part.remaining = remaining
            if reset_after is not None:
                part.reset_wall = wall + reset_after
            part.model = model
            if model == "bucket":
                if limit is not None and remaining is not None and reset_after is not None:
                    part.refill.observe(limit, remaining, reset_after, sent_at, now)
                if remaining is not None:
                    since = part.drain_since
                    if since is not None and now - since < _RATE_WINDOW:
                        if status != 429:  # _drain's common case, inline
                            part.drain_granted += 1
                    else:
                        self._drain(part, remaining, status, sent_at, now)
            elif quota is not None and window:
                part.policy_rate = quota / window
            known_limit = part.limit
            if remaining is not None and reset_after is not None and reset_after > 0:
                ahead = remaining - later
                part.spread_rate = (ahead if ahead > 0 else 0) / reset_after
                if known_limit and known_limit > remaining:
                    # One sample's guess ((Limit - Remaining) / (Reset - now)), used only
                    # until something better is known.
                    part.rough_rate = (known_limit - remaining) / reset_after
            if remaining is not None and known_limit and self._rate is None:
                # (With a configured rate there is nothing to probe for.)
                self._probe_up(part, remaining - later, now)
            if enabled:
                if self._rate is None or self._burst is None or part.cubic is not None:
                    self._retune(part, now)  # with rate and burst configured, nothing to tune
                if remaining is not None:
                    left = remaining - later
                    reserve = _RESERVE if (part.limit or 0) >= _RESERVE_FROM else 0.0
                    cap = left - reserve
                    floor = -bucket.capacity
                    bucket.cap_tokens(floor if floor > cap else cap, now)
                    if left <= 0:
                        wait = self._empty_wait(part, reset_after, reserve - left)
                        part.empty_early = reset_after is not None and wait < reset_after
                        if wait > 0:
                            bucket.pause_until(now + wait)
                    else:
                        part.empty_early = False
            if enabled and retry_after is not None and status in _RESPECT_RETRY_AFTER:
                # Retry-After always wins: the whole partition waits, whatever else was said.
                bucket.pause_until(now + retry_after)
                bucket.cap_tokens(0.0, now)
                shared_pause = retry_after
        if status == 429:
            if enabled:
                bucket.cap_tokens(min(0.0, bucket.tokens), now)
                if self._adaptive:
                    self._throttled(part, now)
        elif part.cubic is not None:
            self._retune(part, now)
        return shared_pause

    def _empty_wait(self, part: _Partition, reset_after: float | None, reserve: float) -> float:
        """How long to pause when the server's bucket is empty: until one token (plus the
        reserve, plus one for each request still in flight) is due at a rate we trust, and
        never past Reset."""
        trusted = self._rate
        if part.window_like or (part.model == "window" and trusted is None):
            # A quota per window (IETF), or a 429 proved it: nothing comes back before Reset.
            trusted = None
        elif trusted is None:
            # With a one-token reserve, any rate below twice the server's will do: waiting for
            # two tokens at it still covers the one the server needs. Twice the proven lower
            # bound is such a rate; the pacing rate too, when below it. Without a reserve only
            # the lower bound itself is safe. Guesses (spread, probing) never shorten the
            # pause: on a fixed-window server nothing comes back before Reset.
            low = part.refill.low
            trusted = None
            if low > 0:
                trusted = min(part.bucket.rate, 2 * low) if reserve else low
        wait = math.inf if not trusted else (1.0 + reserve) / trusted
        if reset_after is not None:
            wait = min(wait, reset_after)
        return 0.0 if wait == math.inf else wait

    def _drain(self, part: _Partition, remaining: int, status: int, sent_at: float, now: float) -> None:
        """Feed `RefillEstimate.observe_drain` over windows of at least a second."""
        if status != 429:
            part.drain_granted += 1
        since = part.drain_since
        if since is None:
            part.drain_since = sent_at
            part.drain_remaining = remaining
            part.drain_granted = 0
            return
        if now - since >= _RATE_WINDOW:
            # Requests still in flight at either end may or may not have been counted.
            granted = part.drain_granted - part.inflight
            part.refill.observe_drain(granted, part.drain_remaining - remaining, now - since)
            part.drain_since = sent_at
            part.drain_remaining = remaining
            part.drain_granted = 0

    def _probe_up(self, part: _Partition, left: int, now: float) -> None:
        """With no upper bound learned (e.g. a delta Reset rounded up to 1 s tells none), find
        the rate by probing: while the server's bucket stays at least half full we are below
        its refill rate, so speed up by half per second; an overshoot drains the bucket, which
        stops the rise (and the sync holds us to what the server grants)."""
        elapsed = min(now - part.probe_time, 1.0)
        part.probe_time = now
        if self._rate is not None or part.refill.rate() is not None or part.limit is None:
            return
        if left * 2 >= part.limit and elapsed > 0:
            base = part.bucket.rate
            if base == math.inf:
                return
            part.probe_rate = max(part.probe_rate or 0.0, base) * (1.0 + 0.5 * elapsed)

    def _base_rate(self, part: _Partition) -> float:
        """The local bucket's refill rate before any 429 cap: the configured rate; else the
        learned one (the upper bound for a token bucket, q/w for an IETF window), never slower
        than `Remaining / (Reset - now)` nor than the proven lower bound, and probing upwards
        while nothing better is known. An overshoot is held back by the sync to Remaining and
        the pause when it reaches 0."""
        if self._rate is not None:
            return self._rate
        refill = part.refill
        learned = refill.rate() if part.model == "bucket" else part.policy_rate
        rate = max(learned or 0.0, part.spread_rate or 0.0, refill.low)
        if learned is None:
            rate = max(rate, part.probe_rate or 0.0)
            if rate == 0 and part.rough_rate:
                rate = part.rough_rate
        return rate if rate > 0 else math.inf

    def _retune(self, part: _Partition, now: float) -> None:
        """Set the bucket's rate and capacity from the config, the headers and the 429 history."""
        bucket = part.bucket
        if self._burst is None and part.limit is not None and part.limit >= 1:
            if part.model == "bucket":
                capacity = float(part.limit)
            else:
                # A quota per window is not a burst: spread it (at most ~1 s worth at once).
                rate = part.policy_rate or part.spread_rate or 1.0
                capacity = float(max(1, min(part.limit, math.ceil(rate))))
            if capacity != bucket.capacity:
                bucket.set_capacity(capacity, now)
        rate = self._base_rate(part)
        cubic = part.cubic
        if cubic is not None:
            cap = cubic.rate(now)
            if cap >= rate or (rate == math.inf and cap >= 2 * cubic.w_max):
                part.cubic = None  # recovered
            else:
                rate = cap
        if rate != math.inf and bucket.capacity == math.inf:
            bucket.set_capacity(max(1.0, float(math.ceil(rate))), now)
        bucket.set_rate(rate, now)

    def _throttled(self, part: _Partition, now: float) -> None:
        """A 429: cut the partition's rate to 0.7x of what it was sending (CUBIC)."""
        current = part.bucket.rate
        measured = self._send_rate(part, now)
        if current == math.inf or (measured is not None and measured < current):
            current = measured if measured is not None else current
        if current == math.inf or current is None:
            current = 1.0
        if part.cubic is None:
            part.cubic = Cubic(current, now)
        else:
            part.cubic.throttled(min(current, part.cubic.rate(now)), now)
        self._retune(part, now)
        logger.debug("429 on partition %s: rate cut to %.2f/s", part.key[:8], part.bucket.rate)

    def _send_rate(self, part: _Partition, now: float) -> float | None:
        elapsed = now - part.mark_time
        if elapsed >= _RATE_WINDOW:
            part.send_rate = (part.sent - part.mark_sent) / elapsed
            part.mark_time = now
            part.mark_sent = part.sent
        elif part.send_rate is None and elapsed > 0 and part.sent - part.mark_sent >= 2:
            return (part.sent - part.mark_sent) / max(elapsed, 1e-3)
        return part.send_rate

    # -- status and lifecycle -------------------------------------------------------------

    def status(self, key: str | None = None) -> RateLimitStatus:
        """The view of partition `key` (a partition key as given; None: the default one, or
        the most recently used when partitioned)."""
        part = self._last if key is None else self._partitions.get(key, self._default)
        bucket = part.bucket
        now = self._clock.monotonic()
        bucket.refill(now)
        rate = bucket.rate if self._enabled and bucket.rate != math.inf else None
        server_rate = part.refill.rate() if part.model == "bucket" else part.policy_rate
        return RateLimitStatus(
            key=part.key,
            limit=part.limit,
            remaining=part.remaining,
            reset=part.reset_wall,
            server_rate=server_rate,
            rate=rate,
            burst=bucket.capacity if bucket.capacity != math.inf else None,
            tokens=bucket.tokens if bucket.tokens != math.inf else None,
            paused_for=max(0.0, bucket.paused_until - now),
            adaptive_rate=part.cubic.rate(now) if part.cubic is not None else None,
            rate_limited=self._stats.rate_limited,
            wait_seconds=self._stats.limiter_wait_seconds,
            partitions=len(self._partitions),
            shared=self._backend is not None,
        )

    async def aclose(self) -> None:
        backend = self._backend
        if backend is not None:
            await backend.aclose()

    def __repr__(self) -> str:
        return f"<RateLimitMiddleware {self.config!r}>"
