"""Messages say durations rounded: `0.3s`, never `0.29995865100000037s`."""

from __future__ import annotations

import re

import pytest

import asyncapi_client as sdk
from asyncapi_client._config import format_seconds
from tests.support.silent_server import silent_server

pytestmark = pytest.mark.anyio

LONG_FRACTION = re.compile(r"\d\.\d{4,}")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(29.959565351000037, "30s"), (2.5, "2.5s"), (0.25, "0.25s"), (120.4, "120s"), (None, "no limit")],
)
def test_format_seconds(seconds: float | None, text: str) -> None:
    assert format_seconds(seconds) == text


@pytest.mark.parametrize("transport", ["httpx", "aiohttp"])
async def test_a_timeout_against_a_silent_server_says_its_duration_rounded(transport: str) -> None:
    if transport == "aiohttp":
        from asyncapi_client.transports import AiohttpTransport

        made: sdk.Transport = AiohttpTransport()
    else:
        made = sdk.HttpcoreTransport()
    with silent_server() as url:
        async with sdk.AsyncClient(
            url,
            transport=made,
            timeout=sdk.Timeout(total=0.3, attempt=0.3),
            retry=sdk.RetryPolicy(max_attempts=1),
        ) as client:
            with pytest.raises(sdk.APITimeoutError) as info:
                await client.projects.get(1)
    message = str(info.value)
    assert LONG_FRACTION.search(message) is None, message
    if transport == "httpx":  # the deadline left (0.2999...) is what it waited: said as 0.3s
        assert message.endswith("timed out after 0.3s"), message
