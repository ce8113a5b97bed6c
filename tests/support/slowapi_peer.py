"""A third-party sliding-window limiter: slowapi (on the `limits` library) guarding a small
Starlette app of our own that answers `GET /api/v1/users/me`, as the rate-limit tests and
benchmarks/ratelimit.py run it behind uvicorn (`tests.support.services.serving_asgi`).

slowapi with `headers_enabled=True` sends, on every answer (granted or 429):
`X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (Unix epoch seconds, with
a fraction, one second past the window's own reset) and `Retry-After` (whole seconds until
that Reset). Its `moving-window` strategy is a true sliding log (its Reset: when the oldest
hit in the window ages out, plus the second); `fixed-window` counts per window (its Reset:
the window's end, plus the second). A 429 carries slowapi's own JSON body. Every limited
request takes the same key: one client's quota. `GET /peer/answered` (not limited) tells the
counts as JSON, `{"200": n, "429": m}`, for a peer in another process
(`tests/support/slowapi_server.py`).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

USER = {"id": 1, "name": "Ada", "email": "ada@example.com", "created_at": "2024-01-01T00:00:00Z"}


class SlowapiPeer:
    """The app (`app`, ASGI) and what it answered (`answered`: counts by status)."""

    def __init__(self, limit: str, strategy: str) -> None:
        from slowapi import Limiter, _rate_limit_exceeded_handler
        from slowapi.errors import RateLimitExceeded
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse, Response
        from starlette.routing import Route

        self.answered: Counter[int] = Counter()
        limiter = Limiter(key_func=lambda request: "one-client", headers_enabled=True, strategy=strategy)

        @limiter.limit(limit)
        async def users_me(request: Request) -> Response:
            self.answered[200] += 1
            return JSONResponse(USER)

        def refused(request: Request, exc: Exception) -> Response:
            self.answered[429] += 1
            assert isinstance(exc, RateLimitExceeded)
            return _rate_limit_exceeded_handler(request, exc)

        async def answered(request: Request) -> Response:
            return JSONResponse({str(status): count for status, count in self.answered.items()})

        app = Starlette(routes=[Route("/api/v1/users/me", users_me), Route("/peer/answered", answered)])
        app.state.limiter = limiter
        app.add_exception_handler(RateLimitExceeded, refused)
        self.app: Any = app
