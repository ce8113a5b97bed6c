"""`RetryPolicy`: what to retry, how long to wait, and how much retrying a client may do.

Pure: no I/O, no clock. The middleware asks it three questions (is this status retryable, is
this exception retryable and at what budget cost, how long to back off before attempt n).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final, Literal

import attrs

from .._config import check_seconds
from .._errors import APIConnectionError, APITimeoutError

Jitter = Literal["full", "equal", "none"]

#: Statuses that say "try again": the request was not (or not fully) processed. Never 401 (the
#: auth layer refreshes and replays once) and never another 4xx (the request itself is wrong).
RETRY_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})

#: Methods whose repeat has the same effect as one call (RFC 9110 section 9.2.2).
IDEMPOTENT_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

#: Budget costs, as botocore's standard retry mode: a retry after a failure costs RETRY_COST
#: tokens, a retry after a client-side timeout TIMEOUT_RETRY_COST (timeouts are the expensive
#: failure: the server may still be working); a 2xx on the first attempt refunds
#: NO_RETRY_REFUND, a 2xx after retries refunds what the last retry cost.
RETRY_COST: Final = 5
TIMEOUT_RETRY_COST: Final = 10
NO_RETRY_REFUND: Final = 1

_JITTERS: Final = ("full", "equal", "none")


def _number(name: str, value: Any) -> None:
    check_seconds(f"RetryPolicy.{name}", value)


def _check_max_attempts(instance: RetryPolicy, attribute: attrs.Attribute[Any], value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
        raise ValueError(
            "RetryPolicy.max_attempts must be an integer from 1 (no retries) to 100, "
            f"counting the first attempt; got {value!r}"
        )


def _check_backoff_base(instance: RetryPolicy, attribute: attrs.Attribute[Any], value: Any) -> None:
    _number("backoff_base", value)


def _check_backoff_max(instance: RetryPolicy, attribute: attrs.Attribute[Any], value: Any) -> None:
    _number("backoff_max", value)
    if value < instance.backoff_base:
        raise ValueError(
            f"RetryPolicy.backoff_max ({value!r}) must be >= backoff_base ({instance.backoff_base!r})"
        )


def _check_jitter(instance: RetryPolicy, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value not in _JITTERS:
        raise ValueError(f"RetryPolicy.jitter must be one of {', '.join(map(repr, _JITTERS))}; got {value!r}")


def _check_max_retry_after(instance: RetryPolicy, attribute: attrs.Attribute[Any], value: Any) -> None:
    _number("max_retry_after", value)


def _check_budget(instance: RetryPolicy, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(
            "RetryPolicy.budget must be a whole number of tokens >= 0 (a retry costs "
            f"{RETRY_COST}, {TIMEOUT_RETRY_COST} after a timeout) or None for no budget; got {value!r}"
        )


@attrs.frozen(slots=True)
class RetryPolicy:
    """How a client retries. Every field is validated here, so a bad value fails at once.

    - `max_attempts`: attempts per call, the first included (1 turns retrying off).
    - `backoff_base`, `backoff_max`: the wait before retry n is drawn from
      `[0, min(backoff_max, backoff_base * 2**(n-1)))` (full jitter; see `jitter`).
    - `jitter`: `"full"` (AWS's full jitter, the default), `"equal"` (half fixed, half random)
      or `"none"` (the capped exponential itself; for tests and single clients only).
    - `max_retry_after`: the longest server `Retry-After` the client will sleep through; a longer
      one (or one past the call's deadline) ends the call with `RateLimitError` at once.
    - `budget`: the per-client retry token quota (botocore standard mode): a retry costs 5 tokens
      (10 after a timeout); a 2xx refunds 1 (or the retry's cost when the call needed one). With
      the quota spent the client stops retrying until successes refill it. `None`: no budget.
    """

    max_attempts: int = attrs.field(default=3, validator=_check_max_attempts)
    backoff_base: float = attrs.field(default=0.5, validator=_check_backoff_base)
    backoff_max: float = attrs.field(default=8.0, validator=_check_backoff_max)
    jitter: Jitter = attrs.field(default="full", validator=_check_jitter)
    max_retry_after: float = attrs.field(default=60.0, validator=_check_max_retry_after)
    budget: int | None = attrs.field(default=500, validator=_check_budget)

    def backoff_cap(self, retry: int) -> float:
        """The un-jittered wait before retry number `retry` (1 for the first retry)."""
        if retry < 1:
            raise ValueError(f"retry numbers start at 1, got {retry}")
        # Bound the exponent first: 2.0**2000 overflows long before the cap applies.
        exponent = min(retry - 1, 64)
        return min(self.backoff_max, self.backoff_base * 2.0**exponent)

    def backoff(self, retry: int, random: Callable[[], float]) -> float:
        """The wait before retry number `retry`, jittered with `random()` in [0, 1)."""
        cap = self.backoff_cap(retry)
        if self.jitter == "full":
            return cap * random()
        if self.jitter == "equal":
            return cap / 2.0 + cap / 2.0 * random()
        return cap


def exception_retry_cost(exc: APIConnectionError, method: str, headers: Mapping[str, str]) -> int | None:
    """The budget cost of retrying after `exc`, or None when it must not be retried.

    A failure before any byte left (`request_sent is False`) is safe to retry for any method.
    Otherwise the server may have acted on it, so only a method whose repeat is harmless, or a
    request with an `Idempotency-Key` (the server answers a repeat with the first reply), is.
    A layer that knows a retry cannot help (say, a local limiter that refused to wait) sets
    `exc.retryable = False` on the error it raises.
    """
    if getattr(exc, "retryable", True) is False:
        return None
    if exc.request_sent is not False and not (method in IDEMPOTENT_METHODS or "idempotency-key" in headers):
        return None
    return TIMEOUT_RETRY_COST if isinstance(exc, APITimeoutError) else RETRY_COST
