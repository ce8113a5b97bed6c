"""Counters the pipeline keeps per client (and shares with its `with_options` views).

Plain integer and float fields, bumped in place: no locks are needed on one event loop, and the
cost is an attribute add. `client.stats()` returns a frozen snapshot.
"""

from __future__ import annotations

import attrs


@attrs.define(slots=True)
class ClientStats:
    requests: int = 0  # calls made through the client (one per service call)
    attempts: int = 0  # HTTP attempts sent to the transport, retries and replays included
    retries: int = 0
    rate_limited: int = 0  # 429s received
    limiter_wait_seconds: float = 0.0
    token_refreshes: int = 0
    errors: int = 0  # calls that ended in an exception

    def snapshot(self) -> StatsSnapshot:
        return StatsSnapshot(**attrs.asdict(self))


@attrs.frozen(slots=True)
class StatsSnapshot:
    """`client.stats()`: calls made (`requests`), HTTP `attempts`, `retries`, replies `rate_limited`
    (429), seconds spent waiting for the limiter, token refreshes and calls that ended in an error,
    since the client was made."""
    requests: int
    attempts: int
    retries: int
    rate_limited: int
    limiter_wait_seconds: float
    token_refreshes: int
    errors: int
