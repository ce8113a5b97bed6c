"""Retries: jittered exponential backoff, `Retry-After`, idempotency keys, a per-client retry
budget and deadlines. `RetryPolicy` is the public configuration; `RetryMiddleware` is the
pipeline layer the client builds from it."""

from __future__ import annotations

from ._middleware import RetryMiddleware, loggable_url, new_idempotency_key
from ._policy import (
    IDEMPOTENT_METHODS,
    NO_RETRY_REFUND,
    RETRY_COST,
    RETRY_STATUSES,
    TIMEOUT_RETRY_COST,
    RetryPolicy,
    exception_retry_cost,
)

__all__ = [
    "IDEMPOTENT_METHODS",
    "NO_RETRY_REFUND",
    "RETRY_COST",
    "RETRY_STATUSES",
    "TIMEOUT_RETRY_COST",
    "RetryMiddleware",
    "RetryPolicy",
    "exception_retry_cost",
    "loggable_url",
    "new_idempotency_key",
]
