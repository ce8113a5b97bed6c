"""Transports: the bottom of the pipeline. `HttpxTransport` is the default.

`AiohttpTransport` needs the `aiohttp` extra and runs on asyncio only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._asgi import ASGITransport
from ._base import Transport
from ._httpx import HttpxTransport
from ._mock import MockTransport

if TYPE_CHECKING:
    from ._aiohttp import AiohttpTransport

__all__ = ["ASGITransport", "AiohttpTransport", "HttpxTransport", "MockTransport", "Transport"]


def __getattr__(name: str) -> Any:
    # aiohttp is optional and heavy: import it only when asked for.
    if name == "AiohttpTransport":
        from ._aiohttp import AiohttpTransport

        return AiohttpTransport
    raise AttributeError(name)
