"""The common part of the scripted API fakes (`fake_projects`, `fake_bulk`): a client wired to
the fake through MockTransport, and the accounting of requests in flight and cancelled, which
the structured-concurrency tests assert on."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel

from asyncapi_client import AsyncClient, BearerToken, MockTransport, RetryPolicy
from asyncapi_client._types import Request, Response


class FakeAPI:
    """Subclasses implement `handler` and call `await self.wait_to_reply(hold=...)` in it.

    `delay` (seconds) holds every reply back; `in_flight` and `max_in_flight` count requests
    waiting to be answered, `cancelled` the ones cancelled while waiting; `held` is set when a
    held request (one that never answers) starts waiting.
    """

    def __init__(self, *, delay: float = 0.0) -> None:
        self.delay = delay
        self.in_flight = 0
        self.max_in_flight = 0
        self.cancelled = 0
        self.held = anyio.Event()

    async def handler(self, request: Request) -> Response:
        raise NotImplementedError

    def client(self, **kwargs: Any) -> AsyncClient:
        """An `AsyncClient` on this fake; one attempt per call unless `retry=` says otherwise."""
        kwargs.setdefault("retry", RetryPolicy(max_attempts=1))
        transport = MockTransport(self.handler, record=False)
        return AsyncClient("https://api.test", auth=BearerToken("token"), transport=transport, **kwargs)

    async def wait_to_reply(self, *, hold: bool = False) -> None:
        """Wait `delay` (or one checkpoint), or forever when `hold`, counted as in flight."""
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if hold:
                self.held.set()
                await anyio.sleep_forever()
            if self.delay:
                await anyio.sleep(self.delay)
            else:
                await anyio.lowlevel.checkpoint()
        except anyio.get_cancelled_exc_class():
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1
