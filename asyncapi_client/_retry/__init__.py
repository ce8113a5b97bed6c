"""Retries (placeholder until the retry issue lands)."""

from __future__ import annotations

import random as _random
from collections.abc import Callable

import attrs

from .._clock import Clock
from .._pipeline import CallNext
from .._stats import ClientStats
from .._types import Request, Response


@attrs.frozen
class RetryPolicy:
    max_attempts: int = 3


class RetryMiddleware:
    def __init__(
        self,
        policy: RetryPolicy,
        *,
        clock: Clock,
        stats: ClientStats,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self.policy = policy
        self._clock = clock
        self._stats = stats
        self._random = random

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        self._stats.attempts += 1
        return await call_next(request)
