"""The sandbox's rate limiters and the headers it tells them with. Pure: times are arguments.

Three limiters, per access token (`limiter=`):

* `token_bucket`: `burst` tokens refilled at `rate` per second (our API's contract);
* `fixed_window`: `quota` requests per window of `window` seconds, the windows aligned to the
  Unix epoch (as GitHub's hourly quota is: everything comes back at once, at Reset);
* `sliding_window`: at most `quota` requests in any `window` seconds (a log of grants).

Four header dialects (`limit_headers=`), each on every limited reply:

* `x-ratelimit`: `X-RateLimit-Limit` / `-Remaining` / `-Reset` (epoch seconds when the quota
  is whole again), the API's contract;
* `github`: the same three (Reset: the window's end) plus `X-RateLimit-Used` and
  `X-RateLimit-Resource`, as GitHub sends them;
* `ietf`: `RateLimit: "default";r=R;t=T` and `RateLimit-Policy: "default";q=Q;w=W`
  (draft-ietf-httpapi-ratelimit-headers, draft 08 and later). `t` is the seconds until more
  quota is made available, as draft 10 words it for sliding windows: a fixed window's end, the
  moment a sliding window's oldest grant ages out (as Redis sliding logs report it), a
  bucket's moment of being full again (its policy is its refill per second);
* `none`: no rate-limit headers at all.

A refused request is a 429 with `Retry-After` (seconds until one would be granted) unless
`retry_after` is off: with `none` too, the 429 itself is the only signal, as behind nginx's
`limit_req`. A `secondary_rate` adds a second token bucket (burst: one second's worth) whose
refusals carry Retry-After and leave the primary headers as they were, as GitHub's secondary
limits do.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Final, Protocol

LIMITERS: Final = ("token_bucket", "fixed_window", "sliding_window")
DIALECTS: Final = ("x-ratelimit", "github", "ietf", "none")

Headers = list[tuple[bytes, bytes]]


class Verdict:
    """One request's fate: granted or not, and what the limiter has left."""

    __slots__ = ("allowed", "limit", "remaining", "reset_after", "retry_after", "window", "more_after")

    def __init__(
        self,
        allowed: bool,
        limit: int,
        remaining: int,
        reset_after: float,
        retry_after: float,
        window: float,
        more_after: float | None = None,
    ) -> None:
        self.allowed = allowed
        self.limit = limit
        self.remaining = remaining
        self.reset_after = reset_after  # seconds until the quota is whole again
        self.retry_after = retry_after  # seconds until a request would be granted (0: now)
        self.window = window  # the policy's window (0.0 for a bucket: it has none)
        # Seconds until more quota is made available (the IETF `t`); None: `reset_after`.
        self.more_after = reset_after if more_after is None else more_after


class Limiter(Protocol):
    def take(self, now: float, wall: float) -> Verdict: ...


class TokenBucket:
    __slots__ = ("rate", "burst", "tokens", "updated")

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.updated = now

    def take(self, now: float, wall: float) -> Verdict:
        rate, burst = self.rate, self.burst
        self.tokens = min(float(burst), self.tokens + (now - self.updated) * rate)
        self.updated = now
        allowed = self.tokens >= 1.0
        if allowed:
            self.tokens -= 1.0
        retry_after = 0.0 if allowed else (1.0 - self.tokens) / rate
        return Verdict(
            allowed, burst, math.floor(self.tokens), (burst - self.tokens) / rate, retry_after, 0.0
        )


class FixedWindow:
    __slots__ = ("quota", "window", "start", "used")

    def __init__(self, quota: int, window: float, wall: float) -> None:
        self.quota = quota
        self.window = window
        self.start = math.floor(wall / window) * window
        self.used = 0

    def take(self, now: float, wall: float) -> Verdict:
        window = self.window
        if wall >= self.start + window:
            self.start = math.floor(wall / window) * window
            self.used = 0
        allowed = self.used < self.quota
        if allowed:
            self.used += 1
        left = self.start + window - wall
        return Verdict(allowed, self.quota, self.quota - self.used, left, 0.0 if allowed else left, window)


class SlidingWindow:
    __slots__ = ("quota", "window", "granted")

    def __init__(self, quota: int, window: float) -> None:
        self.quota = quota
        self.window = window
        self.granted: deque[float] = deque()

    def take(self, now: float, wall: float) -> Verdict:
        granted, window = self.granted, self.window
        while granted and granted[0] <= now - window:
            granted.popleft()
        allowed = len(granted) < self.quota
        if allowed:
            granted.append(now)
        whole = granted[-1] + window - now if granted else 0.0
        oldest_out = granted[0] + window - now if granted else 0.0
        retry_after = 0.0 if allowed else oldest_out
        return Verdict(
            allowed, self.quota, self.quota - len(granted), whole, retry_after, window, oldest_out
        )


def new_limiter(
    kind: str, *, rate: float, burst: int, quota: int, window: float, now: float, wall: float
) -> Limiter:
    if kind == "fixed_window":
        return FixedWindow(quota, window, wall)
    if kind == "sliding_window":
        return SlidingWindow(quota, window)
    return TokenBucket(rate, burst, now)


def limit_headers(dialect: str, verdict: Verdict, wall: float, rate: float = 0.0) -> Headers:
    """The rate-limit headers of one reply, in `dialect` (`rate`: a bucket's refill rate)."""
    if dialect == "none":
        return []
    if dialect == "ietf":
        reset = math.ceil(verdict.more_after)
        if verdict.window:
            policy = f'"default";q={verdict.limit};w={math.ceil(verdict.window)}'
        else:
            # A bucket has no window: its policy is its refill per second (the fields are whole
            # numbers), and r the tokens in it now.
            policy = f'"default";q={max(1, round(rate))};w=1'
        return [
            (b"ratelimit", f'"default";r={verdict.remaining};t={reset}'.encode()),
            (b"ratelimit-policy", policy.encode()),
        ]
    headers = [
        (b"x-ratelimit-limit", str(verdict.limit).encode()),
        (b"x-ratelimit-remaining", str(verdict.remaining).encode()),
        (b"x-ratelimit-reset", str(math.ceil(wall + verdict.reset_after)).encode()),
    ]
    if dialect == "github":
        headers.append((b"x-ratelimit-used", str(verdict.limit - verdict.remaining).encode()))
        headers.append((b"x-ratelimit-resource", b"core"))
    return headers


def retry_after_seconds(verdict: Verdict) -> int:
    """What a refusal's Retry-After says: whole seconds, at least 1."""
    return max(1, math.ceil(verdict.retry_after))
