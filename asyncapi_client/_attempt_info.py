"""Per-attempt facts that inner layers report to outer observers, without shared counters.

Telemetry wants to know, for *this* attempt, how long the rate limiter made it wait and whether
the auth layer refreshed the token. Comparing the client's `stats()` counters before and after an
attempt is wrong as soon as two calls run at once (another call's wait lands in the window). So an
observer (the OpenTelemetry attempt middleware, or any user middleware in `attempt_middleware`)
opens a collector for the attempt it wraps, and the layers below it write into that collector:

    info, token = begin_attempt_info()
    try:
        response = await call_next(request)
    finally:
        end_attempt_info(token)
    span.set_attribute("...limiter.wait_seconds", info.limiter_wait_seconds)

The collector lives in a `ContextVar`, so it follows the attempt's own task and never sees a
concurrent call's numbers. The layers that produce the facts call the `record_*` functions, which
cost one `ContextVar.get()` and do nothing when no observer is listening:

- the rate limiter, after it waited for a bucket token: `record_limiter_wait(seconds)`;
- the auth layer, after it fetched a new access token for this attempt (expiry or a 401 replay):
  `record_token_refresh()`.

This module defines the contract only; it imports nothing from the rest of the SDK.
"""

from __future__ import annotations

from contextvars import ContextVar, Token
from typing import Final

__all__ = [
    "AttemptInfo",
    "begin_attempt_info",
    "current_attempt_info",
    "end_attempt_info",
    "record_limiter_wait",
    "record_token_refresh",
]


class AttemptInfo:
    """What the layers below an observer reported about one attempt."""

    __slots__ = ("limiter_wait_seconds", "token_refreshes", "_outer")

    def __init__(self, outer: AttemptInfo | None = None) -> None:
        self.limiter_wait_seconds = 0.0  # time spent waiting for a rate-limit token
        self.token_refreshes = 0  # access tokens fetched while sending this attempt
        # Two observers may wrap one attempt (say, a user's logging middleware and the
        # OpenTelemetry one): each sees every report.
        self._outer = outer

    @property
    def token_refreshed(self) -> bool:
        return self.token_refreshes > 0

    def __repr__(self) -> str:
        return (
            f"AttemptInfo(limiter_wait_seconds={self.limiter_wait_seconds!r}, "
            f"token_refreshes={self.token_refreshes!r})"
        )


_current: Final[ContextVar[AttemptInfo | None]] = ContextVar("asyncapi_client_attempt_info", default=None)


def begin_attempt_info() -> tuple[AttemptInfo, Token[AttemptInfo | None]]:
    """Open a collector for the attempt about to be sent; pass the token to `end_attempt_info`."""
    info = AttemptInfo(_current.get())
    return info, _current.set(info)


def end_attempt_info(token: Token[AttemptInfo | None]) -> None:
    _current.reset(token)


def current_attempt_info() -> AttemptInfo | None:
    """The collector of the innermost observer of this attempt, or None when nobody listens."""
    return _current.get()


def record_limiter_wait(seconds: float) -> None:
    """Called by the rate limiter after it waited `seconds` for this attempt's token."""
    if seconds <= 0:
        return
    info = _current.get()
    while info is not None:
        info.limiter_wait_seconds += seconds
        info = info._outer


def record_token_refresh() -> None:
    """Called by the auth layer when it fetched a new access token while sending this attempt."""
    info = _current.get()
    while info is not None:
        info.token_refreshes += 1
        info = info._outer
