"""RetryPolicy on its own: defaults, validation, the backoff curve, and what is retryable."""

from __future__ import annotations

import random
from typing import Any

import pytest

from asyncapi_client import APIConnectionError, APITimeoutError, RetryPolicy
from asyncapi_client._retry import (
    IDEMPOTENT_METHODS,
    RETRY_STATUSES,
    exception_retry_cost,
    loggable_url,
    new_idempotency_key,
)


def test_defaults_are_the_documented_ones() -> None:
    policy = RetryPolicy()
    assert (policy.max_attempts, policy.backoff_base, policy.backoff_max) == (3, 0.5, 8.0)
    assert (policy.jitter, policy.max_retry_after, policy.budget) == ("full", 60.0, 500)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"max_attempts": 0}, "max_attempts must be an integer from 1"),
        ({"max_attempts": 101}, "max_attempts must be an integer from 1"),
        ({"max_attempts": 2.0}, "max_attempts must be an integer"),
        ({"max_attempts": True}, "max_attempts must be an integer"),
        ({"backoff_base": -0.1}, "backoff_base must be >= 0 seconds"),
        ({"backoff_base": float("inf")}, "backoff_base must be a finite number"),
        ({"backoff_base": "1"}, "backoff_base must be a finite number"),
        ({"backoff_max": float("nan")}, "backoff_max must be a finite number"),
        ({"backoff_base": 2.0, "backoff_max": 1.0}, "backoff_max (1.0) must be >= backoff_base (2.0)"),
        ({"jitter": "decorrelated"}, "jitter must be one of 'full', 'equal', 'none'"),
        ({"jitter": None}, "jitter must be one of"),
        ({"max_retry_after": -1}, "max_retry_after must be >= 0 seconds"),
        ({"max_retry_after": None}, "max_retry_after must be a finite number"),
        ({"budget": -5}, "budget must be a whole number of tokens >= 0"),
        ({"budget": 1.5}, "budget must be a whole number"),
        ({"budget": False}, "budget must be a whole number"),
    ],
)
def test_every_knob_is_validated_at_construction(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        RetryPolicy(**kwargs)
    assert fragment in str(info.value)


def test_edge_values_are_accepted() -> None:
    RetryPolicy(max_attempts=1, backoff_base=0, backoff_max=0, max_retry_after=0, budget=0)
    RetryPolicy(max_attempts=100, budget=None, jitter="none")


def test_policy_is_frozen() -> None:
    policy = RetryPolicy()
    with pytest.raises(AttributeError):
        policy.max_attempts = 5  # type: ignore[misc]


def test_backoff_cap_doubles_then_caps() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_max=8.0, max_attempts=10)
    assert [policy.backoff_cap(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    # A huge retry number neither overflows nor escapes the cap.
    assert policy.backoff_cap(10_000) == 8.0
    with pytest.raises(ValueError):
        policy.backoff_cap(0)


def test_full_jitter_spans_zero_to_the_cap() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_max=30.0)
    assert policy.backoff(3, lambda: 0.0) == 0.0
    assert policy.backoff(3, lambda: 0.5) == 2.0
    rng = random.Random(7)
    for n in range(1, 10):
        cap = policy.backoff_cap(n)
        samples = [policy.backoff(n, rng.random) for _ in range(200)]
        assert all(0.0 <= s < cap for s in samples)
        # Spread over the whole range, not bunched at one end.
        assert min(samples) < 0.1 * cap and max(samples) > 0.9 * cap


def test_equal_and_no_jitter() -> None:
    equal = RetryPolicy(backoff_base=1.0, backoff_max=30.0, jitter="equal")
    assert equal.backoff(3, lambda: 0.0) == 2.0
    assert equal.backoff(3, lambda: 0.999) == pytest.approx(3.998)
    none = RetryPolicy(backoff_base=1.0, backoff_max=30.0, jitter="none")
    assert none.backoff(3, lambda: 0.7) == 4.0


def test_retry_statuses_are_exactly_the_transient_ones() -> None:
    assert frozenset({408, 429, 500, 502, 503, 504}) == RETRY_STATUSES
    assert 401 not in RETRY_STATUSES
    assert frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"}) == IDEMPOTENT_METHODS


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH", "PUT", "DELETE"])
def test_a_request_that_never_left_is_retryable_for_any_method(method: str) -> None:
    assert exception_retry_cost(APIConnectionError(request_sent=False), method, {}) == 5
    assert exception_retry_cost(APITimeoutError(request_sent=False), method, {}) == 10


@pytest.mark.parametrize("sent", [True, None])
def test_a_request_that_may_have_arrived_is_retried_only_when_safe(sent: bool | None) -> None:
    for method in ("GET", "HEAD", "OPTIONS", "PUT", "DELETE"):
        assert exception_retry_cost(APIConnectionError(request_sent=sent), method, {}) == 5
        assert exception_retry_cost(APITimeoutError(request_sent=sent), method, {}) == 10
    for method in ("POST", "PATCH"):
        assert exception_retry_cost(APIConnectionError(request_sent=sent), method, {}) is None
        assert exception_retry_cost(APITimeoutError(request_sent=sent), method, {}) is None
        keyed = {"idempotency-key": "k"}
        assert exception_retry_cost(APIConnectionError(request_sent=sent), method, keyed) == 5
        assert exception_retry_cost(APITimeoutError(request_sent=sent), method, keyed) == 10


def test_idempotency_keys_are_uuid4_and_distinct() -> None:
    import uuid

    keys = {new_idempotency_key() for _ in range(1000)}
    assert len(keys) == 1000
    for key in list(keys)[:50]:
        parsed = uuid.UUID(key)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122 and str(parsed) == key


def test_loggable_url_masks_credentials_in_the_query() -> None:
    url = "https://api.example.com/api/v1/users?page=2&access_token=abc123&api_key=zzz&limit=5"
    safe = loggable_url(url)
    assert "abc123" not in safe and "zzz" not in safe
    assert "page=2" in safe and "limit=5" in safe and "/api/v1/users" in safe
    assert loggable_url("https://h/x") == "https://h/x"


def test_an_error_marked_not_retryable_is_not_retried() -> None:
    exc = APITimeoutError("the limiter would wait too long", request_sent=False)
    exc.retryable = False  # type: ignore[attr-defined]
    assert exception_retry_cost(exc, "GET", {}) is None
