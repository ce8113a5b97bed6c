"""`RetryMiddleware`: the loop over attempts, with backoff, the retry budget and the deadline.

It sits outside auth and the rate limiter, so each attempt re-enters both: every retry takes a
limiter token and carries the access token valid when it is sent (the four rules of docs/architecture.md).

The first attempt is the hot path: a dict copy for `extensions["attempt"]` (with an empty slot
for the rate limiter's permit, which it fills in place instead of copying again), a copy of the
headers, one clock read when the call has a deadline, and (POST, PATCH, DELETE) an idempotency
key. Everything else happens only after a failure.

Each attempt gets headers of its own, a copy of the call's: the layers below may set headers in
them in place (the auth layer sets `Authorization` so, when no attempt middleware runs between),
and neither the caller's `Request` nor the next attempt ever sees what they set.

Exactly once for the methods that change things. POST, PATCH and DELETE carry one
`Idempotency-Key` across all their attempts, so a server that honours it (the API does) applies a
retried call once and answers with the first reply. Two more rules:

- a 2xx to a keyed request whose body is not JSON (malformed, or cut short by a proxy) is
  retried with the same key: the server replays the reply it stored, which can then be read;
- a DELETE whose retry is answered 404, after an attempt that may have been applied (a 5xx, or a
  connection lost after the request left), is done: the resource is gone, most likely by that
  very attempt. The call returns a 204 built from the 404's headers rather than a `NotFoundError`.
"""

from __future__ import annotations

import logging
import os
import random as _random
from collections.abc import Callable
from typing import Final
from urllib.parse import parse_qsl, urlencode

from .._clock import Clock
from .._decode import status_error
from .._errors import APIConnectionError, APITimeoutError, ResponseDecodeError
from .._pipeline import CallNext, ViaLayer
from .._redact import SENSITIVE_PARAM, redact
from .._retry_after import parse_retry_after
from .._stats import ClientStats
from .._types import Request, Response, new_request, new_response
from ._policy import NO_RETRY_REFUND, RETRY_COST, RETRY_STATUSES, RetryPolicy, exception_retry_cost

logger: Final = logging.getLogger("asyncapi_client.retry")

_IDEMPOTENCY_KEY: Final = "idempotency-key"
#: Methods that get an `Idempotency-Key` before their first attempt.
KEYED_METHODS: Final = frozenset({"POST", "PATCH", "DELETE"})
# Replies after which a DELETE may have been applied (a 408 or 429 says it was not processed).
_MAYBE_APPLIED_STATUSES: Final = frozenset({500, 502, 503, 504})


def new_idempotency_key() -> str:
    """A random (version 4) UUID string: the same 122 random bits as `uuid.uuid4()`, at half
    its cost (the key is made on every POST)."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def loggable_url(url: str) -> str:
    """The URL fit for a log line: query values whose names look like credentials masked."""
    base, sep, query = url.partition("?")
    if not sep:
        return redact(base)
    pairs = [
        (name, "***" if SENSITIVE_PARAM.search(name) else value)
        for name, value in parse_qsl(query, keep_blank_values=True)
    ]
    return redact(f"{base}?{urlencode(pairs, safe='*')}")


class RetryMiddleware(ViaLayer):
    """Retries what is safe to retry, within the policy, the client's budget and the deadline.

    One per client (its views share it), so the budget is per client. `budget_remaining` is the
    quota left (None without a budget). A request whose `extensions["retry"]` holds a
    `RetryPolicy` (a `with_options(retry=...)` view's) is retried by that policy's attempts and
    backoff, drawing on this budget.
    """

    __slots__ = ("policy", "_clock", "_stats", "_random", "_budget", "_capacity")

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        clock: Clock,
        stats: ClientStats,
        random: Callable[[], float] = _random.random,
    ) -> None:
        if not isinstance(policy, RetryPolicy):
            raise TypeError(f"policy must be a RetryPolicy(...), got {type(policy).__name__}")
        if not callable(random):
            raise TypeError(f"random must be a callable returning floats in [0, 1), got {random!r}")
        self.policy = policy
        self._clock = clock
        self._stats = stats
        self._random = random
        self._capacity = policy.budget or 0
        self._budget = policy.budget

    @property
    def budget_remaining(self) -> int | None:
        return self._budget

    def _refund(self, amount: int) -> None:
        budget = self._budget
        if budget is not None:
            self._budget = min(self._capacity, budget + amount)

    def _acquire(self, amount: int) -> bool:
        budget = self._budget
        if budget is None:
            return True
        if budget < amount:
            return False
        self._budget = budget - amount
        return True

    async def _via(self, call_next: CallNext, request: Request) -> Response:
        """The call, its arguments reversed (`ViaLayer`): `await retry(request, call_next)`
        comes here too."""
        method = request.method
        headers = request.headers
        keyed = method in KEYED_METHODS
        if keyed and _IDEMPOTENCY_KEY not in headers:
            # Made once, before the first attempt: every attempt carries the same key, so the
            # server answers a retried create with the first reply instead of creating twice.
            headers = dict(headers)
            headers[_IDEMPOTENCY_KEY] = new_idempotency_key()
        keyed = keyed or _IDEMPOTENCY_KEY in headers
        maybe_applied = False  # an earlier attempt of this call may have changed something
        url = request.url
        content = request.content
        base_timeout = request.timeout
        base_extensions = request.extensions
        deadline: float | None = base_extensions.get("deadline")
        clock = self._clock
        stats = self._stats
        # A view's own policy (`with_options(retry=...)`) travels with the request, as auth does;
        # the budget stays this middleware's, shared by every view.
        policy: RetryPolicy = base_extensions.get("retry") or self.policy

        attempt = 0
        held = 0  # budget tokens the last retry took: a 2xx refunds them
        last_response: Response | None = None
        last_error: APIConnectionError | None = None
        while True:
            attempt += 1
            timeout = base_timeout
            if deadline is not None:
                remaining = deadline - clock.monotonic()
                if remaining <= 0.0:
                    return self._give_up(
                        request, attempt - 1, "the deadline has passed", last_response, last_error
                    )
                if timeout is None or remaining < timeout:
                    timeout = remaining
            extensions = dict(base_extensions)
            extensions["attempt"] = attempt
            # This attempt's own dict: the rate limiter's slot, which it fills in place.
            extensions["rate_limit"] = None
            stats.attempts += 1
            try:
                response = await call_next(
                    new_request(method, url, headers.copy(), content, timeout, extensions)
                )
            except APIConnectionError as exc:
                cost = exception_retry_cost(exc, method, headers)
                if cost is None:
                    raise
                last_response, last_error = None, exc
                retry_after: float | None = None
                maybe_applied = maybe_applied or exc.request_sent is not False
            else:
                status = response.status_code
                if status not in RETRY_STATUSES and not (
                    keyed and 200 <= status < 300 and response.content and not _readable(response)
                ):
                    if 200 <= status < 300:
                        budget = self._budget
                        # A full quota (the usual case) needs no refund: one comparison.
                        if budget is not None and budget < self._capacity:
                            self._refund(held or NO_RETRY_REFUND)
                    elif status == 404 and maybe_applied and method == "DELETE":
                        return self._deleted(request, attempt, response)
                    return response
                last_response, last_error = response, None
                cost = RETRY_COST
                retry_after = parse_retry_after(response.headers.get("retry-after"), clock.time())
                maybe_applied = maybe_applied or status in _MAYBE_APPLIED_STATUSES

            # -- the attempt failed in a retryable way: retry, or give up with what we have --
            if attempt >= policy.max_attempts:
                return self._give_up(request, attempt, "no attempts left", last_response, last_error)
            if retry_after is not None:
                delay = retry_after
                if delay > policy.max_retry_after:
                    return self._too_long(
                        request, attempt, f"Retry-After {delay:g}s is over max_retry_after", last_response
                    )
            else:
                delay = policy.backoff(attempt, self._random)
            if deadline is not None and clock.monotonic() + delay >= deadline:
                if retry_after is not None:
                    return self._too_long(
                        request, attempt, f"Retry-After {delay:g}s ends past the deadline", last_response
                    )
                return self._give_up(
                    request, attempt, f"a {delay:.3f}s wait ends past the deadline", last_response, last_error
                )
            if not self._acquire(cost):
                return self._give_up(request, attempt, "the retry budget is spent", last_response, last_error)
            held = cost
            stats.retries += 1
            if logger.isEnabledFor(logging.DEBUG):
                logger.debug(
                    "retrying %s %s: attempt %d failed (%s); attempt %d of %d in %.3fs",
                    method,
                    loggable_url(url),
                    attempt,
                    _reason(last_response, last_error),
                    attempt + 1,
                    policy.max_attempts,
                    delay,
                )
            try:
                await clock.sleep(delay)
            except BaseException:
                # Cancelled while waiting: that retry never happens, so its tokens go back.
                self._refund(cost)
                raise

    def _give_up(
        self,
        request: Request,
        attempts: int,
        why: str,
        last_response: Response | None,
        last_error: APIConnectionError | None,
    ) -> Response:
        """End the call with its last outcome: the last response (the service layer turns a
        non-2xx into its typed error), or the last exception re-raised."""
        if attempts and logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "not retrying %s %s after attempt %d (%s): %s",
                request.method,
                loggable_url(request.url),
                attempts,
                _reason(last_response, last_error),
                why,
            )
        if last_error is not None:
            raise last_error
        if last_response is not None:
            return last_response
        raise APITimeoutError(
            f"{request.method} {request.url} reached its deadline before it could be sent",
            request=request,
            request_sent=False,
        )

    def _too_long(self, request: Request, attempts: int, why: str, response: Response | None) -> Response:
        """The server asked for a wait longer than the client will sleep: for a 429, raise
        `RateLimitError` (with `retry_after`) at once so the caller decides; for another status,
        end with its response."""
        assert response is not None
        if response.status_code != 429:
            return self._give_up(request, attempts, why, response, None)
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "not retrying %s %s after attempt %d (status 429): %s",
                request.method,
                loggable_url(request.url),
                attempts,
                why,
            )
        raise status_error(response, self._clock.time())

    def _deleted(self, request: Request, attempts: int, response: Response) -> Response:
        logger.debug(
            "%s %s: attempt %d found it gone (404) after an attempt that may have deleted it; done",
            request.method,
            loggable_url(request.url),
            attempts,
        )
        headers = {k: v for k, v in response.headers.items() if k not in ("content-length", "content-type")}
        return new_response(204, headers, b"", response.request)

    def __repr__(self) -> str:
        return f"RetryMiddleware({self.policy!r}, budget_remaining={self._budget})"


def _readable(response: Response) -> bool:
    """Whether a 2xx body is the JSON it must be (a keyed request's reply is read here, before
    the call returns, so that an unreadable one can be fetched again under the same key)."""
    try:
        response.json()
    except ResponseDecodeError:
        return False
    return True


def _reason(response: Response | None, error: APIConnectionError | None) -> str:
    if response is not None:
        if 200 <= response.status_code < 300:
            return f"status {response.status_code} with a body that is not JSON"
        return f"status {response.status_code}"
    if error is not None:
        sent = error.request_sent
        state = "not sent" if sent is False else "sent" if sent else "maybe sent"
        return f"{type(error).__name__}, request {state}"
    return "no attempt"
