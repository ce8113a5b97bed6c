"""An `AsyncClient` over `MockTransport` with a `FakeClock` and instant retries."""

from __future__ import annotations

from typing import Any

import asyncapi_client as sdk
from asyncapi_client import MockTransport
from asyncapi_client.testing import FakeClock
from asyncapi_client.transports._mock import Handler


def mock_client(handler: Handler, **kwargs: Any) -> tuple[sdk.AsyncClient, MockTransport]:
    transport = MockTransport(handler)
    kwargs.setdefault("clock", FakeClock())
    kwargs.setdefault("timeout", None)
    kwargs.setdefault("retry", sdk.RetryPolicy(max_attempts=3, backoff_base=0.0, backoff_max=0.0))
    client = sdk.AsyncClient("https://api.example.test", transport=transport, **kwargs)
    return client, transport
