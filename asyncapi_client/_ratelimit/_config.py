"""`RateLimit`: the limiter's configuration, validated at construction."""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from typing import Any, Final, Literal, Protocol, Union, runtime_checkable

import attrs

from .._types import Request
from ._fleet import Grant
from ._headers import ResetFormat

PartitionKey = Callable[[Request], Union[Hashable, None]]


@runtime_checkable
class RateLimitBackend(Protocol):
    """Where the shared bucket lives (the Redis backend; any store with an atomic script will do).

    `acquire` reserves one token of the bucket `key` and returns the seconds to wait before
    using it (0: go now), or None when that wait would exceed `max_wait` (nothing reserved).
    `release` gives back a token reserved by a waiter that was cancelled. `pause` stops the
    bucket for every process for `seconds` (a Retry-After).
    """

    async def acquire(self, key: str, *, rate: float, burst: int, max_wait: float | None) -> float | None: ...

    async def release(self, key: str, *, rate: float, burst: int) -> None: ...

    async def pause(self, key: str, seconds: float, *, rate: float, burst: int) -> None: ...

    async def aclose(self) -> None: ...


@runtime_checkable
class SharedLearningBackend(Protocol):
    """A backend that can also keep a fleet's *learned* rate (`RateLimit(backend=...)` with no
    `rate`; see `_fleet.py`): `lease` reserves consecutive slots and says the fleet's rate and
    epoch (and steps the rate up when `below`), `cut` proposes a congestion event against an epoch, `give` returns unused slots,
    `fleet_pause` pauses every process. Each returns None when the store is down and fails open.
    """

    async def lease(
        self, key: str, want: int, *, granted: int, ceiling: float | None, burst: int | None,
        max_wait: float | None, below: bool = False,
    ) -> Grant | None: ...

    async def cut(
        self, key: str, *, epoch: int, sent_ago: float, pause: float, granted: int, beta: float = ...
    ) -> Grant | None: ...

    async def give(self, key: str, slots: int) -> None: ...

    async def fleet_pause(self, key: str, seconds: float) -> None: ...

    async def aclose(self) -> None: ...


def _check_rate(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"RateLimit(rate=...) must be a number of requests per second, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(
            f"RateLimit(rate={value!r}): the rate must be a positive, finite number of requests "
            "per second (e.g. rate=50); leave it None to learn the rate from the server's headers"
        )


def _check_burst(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"RateLimit(burst=...) must be an integer number of requests, got {value!r}")
    if value < 1:
        raise ValueError(
            f"RateLimit(burst={value!r}): the burst must be at least 1 (the bucket's capacity in "
            "requests); leave it None to use the server's X-RateLimit-Limit"
        )


def _check_max_wait(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value < 0:
        raise ValueError(
            f"RateLimit(max_wait={value!r}): max_wait must be None (wait as long as the call's "
            "deadline allows) or a number of seconds >= 0"
        )


DEFAULT_MAX_PAUSE: Final = 60.0
"""The longest pause a server can impose on the limiter with one answer (Retry-After, or a Reset
with nothing left), in seconds: a longer one is obeyed for this long only."""


def _check_max_pause(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise ValueError(
            f"RateLimit(max_pause={value!r}): max_pause must be a finite number of seconds >= 0 "
            f"(the longest pause one server answer can impose; default {DEFAULT_MAX_PAUSE:g})"
        )


def _check_partition(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None or value == "token" or callable(value):
        return
    raise ValueError(
        f'RateLimit(partition={value!r}): use None (one limit for the client), "token" (one '
        "per access token) or a function request -> key"
    )


def _check_reset_format(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value not in ("auto", "epoch", "delta"):
        raise ValueError(
            f'RateLimit(reset_format={value!r}): use "auto", "epoch" (Unix seconds) or '
            '"delta" (seconds from now)'
        )


def _check_max_partitions(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"RateLimit(max_partitions={value!r}) must be an integer >= 1")


def _check_backend(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not isinstance(value, RateLimitBackend):
        raise TypeError(
            f"RateLimit(backend=...) must be a backend such as RedisRateLimitBackend(...), "
            f"got {type(value).__name__}"
        )


@attrs.frozen(slots=True)
class RateLimit:
    """How the client paces itself. Pass it as `AsyncClient(rate_limit=RateLimit(...))`.

    - `rate` (requests/s) and `burst` (bucket capacity): the local token bucket. With no `rate`
      the limiter starts open and learns the server's limit from its headers; with no `burst`
      the server's `X-RateLimit-Limit` (else 1) is the capacity.
    - `partition`: None (one limit for the whole client), `"token"` (one per access token: the
      key is a hash of the Authorization header, never the token) or `request -> key`; at most
      `max_partitions` are kept (least recently used dropped first).
    - `backend`: shared state (e.g. `RedisRateLimitBackend(url)`) so that many processes and
      hosts pace together. With `rate` (and `burst`, default 1): one bucket at that rate. With
      no `rate`: shared learning, the fleet learns the limit together from the headers and
      429s any of its processes get (leases of slots, one cut per congestion event; see
      docs/ratelimit.md).
    - `reset_format`: how to read `X-RateLimit-Reset`: `"auto"` (detect), `"epoch"`, `"delta"`.
    - `max_wait`: the longest the limiter may hold one attempt (seconds); the call's deadline
      (timeout.total) bounds it too. When it comes, the attempt fails with `APITimeoutError`;
      it fails at once only when the server set a pause that ends later.
    - `max_pause`: the longest pause one server answer can impose (Retry-After in seconds or
      as a date, a Reset with nothing left; on a 429 or a 503); a longer one is cut to this.
    - `adaptive`: a congestion event (a burst of 429s from requests in flight together) cuts
      the rate once (x0.7) and it climbs back and past along a cubic curve (TCP CUBIC,
      botocore's adaptive mode); `respect_headers`: learn from the server's headers.

    `AsyncClient` uses `RateLimit()` unless told otherwise; `rate_limit=None` turns pacing off.
    """

    rate: float | None = attrs.field(default=None, validator=_check_rate)
    burst: int | None = attrs.field(default=None, validator=_check_burst)
    partition: Literal["token"] | PartitionKey | None = attrs.field(default=None, validator=_check_partition)
    backend: RateLimitBackend | None = attrs.field(default=None, validator=_check_backend)
    reset_format: ResetFormat = attrs.field(default="auto", validator=_check_reset_format)
    max_wait: float | None = attrs.field(default=None, validator=_check_max_wait)
    max_pause: float = attrs.field(default=DEFAULT_MAX_PAUSE, validator=_check_max_pause)
    max_partitions: int = attrs.field(default=1024, validator=_check_max_partitions)
    adaptive: bool = True
    respect_headers: bool = True

    def __attrs_post_init__(self) -> None:
        if self.backend is not None and self.rate is None and not isinstance(self.backend, SharedLearningBackend):
            raise ValueError(
                f"RateLimit(backend={type(self.backend).__name__}(...)) with no rate: this backend "
                "cannot keep a learned rate for the fleet; give the shared bucket's rate, e.g. "
                "RateLimit(rate=100, burst=10, backend=...)"
            )
