"""`RateLimitStatus`: what `client.rate_limit_status()` returns."""

from __future__ import annotations

import attrs


@attrs.frozen(slots=True)
class RateLimitStatus:
    """The limiter's view of one partition (`client.rate_limit_status()`).

    Server side (None until a response said it): `limit`, `remaining`, `reset` (Unix seconds
    when the quota is restored), `server_rate` (refill rate learned from the headers).
    Local side: `rate` (the bucket's refill rate now, None when not binding; with shared
    learning, the fleet's rate at the last lease, None while the fleet is open), `burst`, `tokens`,
    `paused_for` (seconds left of a pause), `adaptive_rate` (the cap the 429s set, None when
    there is none). Totals for the client: `rate_limited` (429s seen), `wait_seconds` (time
    spent waiting for the limiter), `partitions`.
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
