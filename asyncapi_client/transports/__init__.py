"""Transports: the bottom of the pipeline. `HttpxTransport` is the default.

`AiohttpTransport` (extra `aiohttp`) and `PyreqwestTransport` (extra `pyreqwest`) run on asyncio
only; `Httpx2Transport` (extra `httpx2`) runs on asyncio and trio. The optional ones are imported
only when asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._asgi import ASGITransport
from ._base import Transport
from ._httpx import HttpxTransport
from ._mock import MockTransport

if TYPE_CHECKING:
    from ._aiohttp import AiohttpTransport
    from ._httpx2 import Httpx2Transport
    from ._pyreqwest import PyreqwestTransport

__all__ = [
    "ASGITransport",
    "AiohttpTransport",
    "Httpx2Transport",
    "HttpxTransport",
    "MockTransport",
    "PyreqwestTransport",
    "Transport",
]


def __getattr__(name: str) -> Any:
    # The optional transports are heavy or need an extra: import them only when asked for.
    if name == "AiohttpTransport":
        from ._aiohttp import AiohttpTransport

        return AiohttpTransport
    if name == "Httpx2Transport":
        from ._httpx2 import Httpx2Transport

        return Httpx2Transport
    if name == "PyreqwestTransport":
        from ._pyreqwest import PyreqwestTransport

        return PyreqwestTransport
    raise AttributeError(name)
