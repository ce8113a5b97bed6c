"""The state every view of one `AsyncClient` shares, and the pipeline it sends through.

`SharedState.build` makes the transport (or checks the one given), the limiter, the retry layer
and the pipeline. The pipeline is assembled in one place, `build_pipeline`, outermost first:

    user middleware...            once per call (logging, tracing, custom headers)
    RetryMiddleware               loops over attempts, owns backoff, budget and deadline
      attempt middleware...       once per attempt (per-attempt spans, attempt logging)
      RateLimitMiddleware         per attempt: waits for a limiter token (local, then shared)
        AuthMiddleware            per attempt: attaches the token valid *now*; 401 -> one refresh + one replay
          limiter.gate            per send: spends the token, learns from every response
            transport.send        HTTP

Why this order (the pipeline's four rules, also in docs/architecture.md):

1. Every attempt takes a limiter token: the limiter is inside the retry loop, and the 401
   replay, a second send within one attempt, takes a token of its own in the gate.
2. Every attempt carries the access token valid when it is sent: the limiter waits *before*
   auth chooses the token, so a call that waited a minute for the limiter does not leave with
   a token chosen a minute ago. For the replay, the gate waits for its token before it hands
   the 401 up, so the refreshed token is chosen after that wait too.
3. A 401 leads to one single-flight refresh and one resend (the auth strategy's rule; the
   replay goes through `call_next`, the gate).
4. Every response, each retry's and the 401 included, passes the gate, so a 429 slows the
   whole client.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ._clock import SYSTEM_CLOCK, Clock
from ._pipeline import CallNext, Middleware, build_chain
from ._ratelimit import RateLimit, RateLimitMiddleware
from ._retry import RetryMiddleware, RetryPolicy
from ._stats import ClientStats
from .auth._base import AuthMiddleware
from .transports._base import Transport


class SharedState:
    """What every view of one client shares: transport, pipeline, limiter, retry, stats."""

    __slots__ = (
        "transport",
        "chain",
        "stats",
        "clock",
        "limiter",
        "retry",
        "closed",
        "base_url",
        "bounded",
    )

    def __init__(
        self,
        *,
        base_url: str,
        transport: Transport,
        chain: CallNext,
        stats: ClientStats,
        clock: Clock,
        limiter: RateLimitMiddleware,
        retry: RetryMiddleware,
        bounded: bool = False,
    ) -> None:
        self.base_url = base_url
        self.transport = transport
        self.chain = chain
        self.stats = stats
        self.clock = clock
        self.limiter = limiter
        self.retry = retry
        self.closed = False
        # Every layer between the call and the wire ends by the call's deadline on the real
        # clock (see `pipeline_bounded`): the client then needs no backstop for the calls it builds.
        self.bounded = bounded

    @classmethod
    def build(
        cls,
        *,
        base_url: str,
        transport: Transport | None,
        network: dict[str, Any],
        middleware: Sequence[Middleware],
        attempt_middleware: Sequence[Middleware],
        rate_limit: RateLimit | None,
        retry: RetryPolicy,
        clock: Clock,
        random: Callable[[], float],
    ) -> SharedState:
        """A client's state from its (already checked) arguments. `network` holds the network
        options given (proxy, verify, ...): they configure the default transport, and are
        refused with a transport of the caller's own."""
        # Like httpx, the client closes its transport, given or made: one owner, no leaked pool.
        # Views share it; to share a pool, share the client (or its views).
        if transport is None:
            from .transports._httpcore import HttpcoreTransport

            transport = HttpcoreTransport(**network)
        elif network:
            raise TypeError(
                f"pass {', '.join(network)} to the transport you give AsyncClient "
                f"(e.g. {type(transport).__name__}({next(iter(network))}=...)), not to AsyncClient"
            )
        elif not isinstance(transport, Transport):
            raise TypeError(f"transport must have send() and aclose(), got {type(transport).__name__}")
        stats = ClientStats()
        limiter = RateLimitMiddleware(rate_limit, clock=clock, stats=stats)
        retrier = RetryMiddleware(retry, clock=clock, stats=stats, random=random)
        chain = build_pipeline(
            user_middleware=middleware,
            retry=retrier,
            attempt_middleware=attempt_middleware,
            # The retry layer gives each attempt headers of its own; with no attempt middleware
            # between, nothing else holds them, and auth may set its header in them in place.
            auth=AuthMiddleware(transport, owns_headers=not attempt_middleware),
            limiter=limiter,
            send=transport.send,
        )
        return cls(
            base_url=base_url,
            transport=transport,
            chain=chain,
            stats=stats,
            clock=clock,
            limiter=limiter,
            retry=retrier,
            bounded=pipeline_bounded(
                transport, middleware, attempt_middleware, rate_limit=rate_limit, clock=clock
            ),
        )


def pipeline_bounded(
    transport: Transport,
    middleware: Sequence[Middleware],
    attempt_middleware: Sequence[Middleware],
    *,
    rate_limit: RateLimit | None,
    clock: Clock,
) -> bool:
    """Whether nothing in the pipeline can outlive a call's deadline, so that the client's
    backstop (a second deadline around the whole call) can never fire first and may be left out.

    The SDK's own layers hold the deadline exactly, on the client's clock: the retry layer cuts
    each attempt's timeout to what is left and sleeps only when the wait ends in time, and the
    local limiter waits until the deadline at most. What can outlive it: a user's middleware, a
    transport that may not enforce `request.timeout` (only a class that declares
    `bounds_each_send` itself, not a subclass that may send otherwise, is trusted to), a shared
    limiter backend's I/O, and any clock but the system's (a test's clock may never move). The
    auth strategy is the calling view's, checked by the client (`AsyncClient._set_timeout`).
    """
    return (
        not middleware
        and not attempt_middleware
        and type(transport).__dict__.get("bounds_each_send") is True
        and (rate_limit is None or rate_limit.backend is None)
        and clock is SYSTEM_CLOCK
    )


def build_pipeline(
    *,
    user_middleware: Sequence[Middleware],
    retry: Middleware,
    attempt_middleware: Sequence[Middleware],
    auth: Middleware,
    limiter: RateLimitMiddleware,
    send: CallNext,
) -> CallNext:
    """The whole pipeline, in order. See the module docstring for why this order."""
    return build_chain([*user_middleware, retry, *attempt_middleware, limiter, auth, limiter.gate], send)
