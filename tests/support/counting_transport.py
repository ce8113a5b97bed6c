"""`CountingTransport`: the default transport, counting what the client sent through it.

API replies are counted by status, token requests (told apart by the `/oauth/` path) apart,
and the send time of each API request kept for per-second rates.
"""

from __future__ import annotations

import time
from collections import Counter

from asyncapi_client import HttpcoreTransport, Request, Response


class CountingTransport:
    """The client's transport, counting what it sent: API replies by status, token requests."""

    def __init__(self) -> None:
        self.inner = HttpcoreTransport()
        self.api: Counter[int] = Counter()
        self.token_requests = 0
        self.times: list[float] = []

    async def send(self, request: Request) -> Response:
        token = "/oauth/" in request.url
        if not token:
            self.times.append(time.monotonic())
        response = await self.inner.send(request)
        if token:
            self.token_requests += 1
        else:
            self.api[response.status_code] += 1
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()
