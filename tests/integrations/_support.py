"""Helpers shared by the integration tests: a fake clock and a client over `MockTransport`."""

from __future__ import annotations

from typing import Any

import asyncapi_client as sdk
from asyncapi_client import MockTransport
from asyncapi_client.transports._mock import Handler

USER = {"id": 1, "name": "Ada", "email": "ada@example.com", "created_at": "2024-01-01T00:00:00Z"}
PROJECT = {
    "id": 42,
    "name": "Apollo",
    "description": None,
    "created_at": "2024-01-01T00:00:00Z",
    "updated_at": "2024-01-01T00:00:00Z",
}


class FakeClock:
    """Time that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return 1_700_000_000.0 + self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += max(0.0, seconds)


def mock_client(handler: Handler, **kwargs: Any) -> tuple[sdk.AsyncClient, MockTransport]:
    transport = MockTransport(handler)
    kwargs.setdefault("clock", FakeClock())
    kwargs.setdefault("timeout", None)
    kwargs.setdefault("retry", sdk.RetryPolicy(max_attempts=3, backoff_base=0.0, backoff_max=0.0))
    client = sdk.AsyncClient("https://api.example.test", transport=transport, **kwargs)
    return client, transport
