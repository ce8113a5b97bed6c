"""AiohttpTransport's own choices: which aiohttp function it sends with.

The transport awaits the session's private `_request` (what `session.request()` wraps in a
context manager) when the installed aiohttp has it as a coroutine function, and the public
`request` otherwise. These tests say which one the installed aiohttp gets, so that a release
that renames it is noticed here and not as a slower transport, and prove the fallback.
"""

from __future__ import annotations

from typing import Any

import pytest

from asyncapi_client.transports._aiohttp import request_function

aiohttp = pytest.importorskip("aiohttp")

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # aiohttp runs on asyncio only


async def test_the_installed_aiohttp_is_sent_through_its_request_coroutine() -> None:
    session = aiohttp.ClientSession()
    try:
        assert request_function(session) == session._request
    finally:
        await session.close()


class _PublicOnly:
    """A session whose `_request` is gone (or is not a coroutine function)."""

    def __init__(self, private: Any) -> None:
        if private is not None:
            self._request = private

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        raise NotImplementedError


@pytest.mark.parametrize("private", [None, lambda method, url, **kwargs: None], ids=["absent", "not-a-coroutine"])
def test_without_a_request_coroutine_the_public_request_is_used(private: Any) -> None:
    session = _PublicOnly(private)
    assert request_function(session) == session.request
