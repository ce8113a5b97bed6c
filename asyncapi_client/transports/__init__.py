"""Transports: the bottom of the pipeline. `HttpxTransport` is the default.

`AiohttpTransport` (extra `aiohttp`) and `PyreqwestTransport` (extra `pyreqwest`) run on asyncio
only; `Httpx2Transport` (extra `httpx2`) runs on asyncio and trio. Every transport over a network
library, the default one included, is imported when first asked for: httpcore's import chain
alone costs more than the rest of `import asyncapi_client`, and a client given another
transport (or a script that only builds requests) never needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from ._asgi import ASGITransport
from ._base import Transport
from ._mock import MockTransport

if TYPE_CHECKING:
    from ._aiohttp import AiohttpTransport
    from ._httpx import HttpxTransport
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


LAZY: Final = frozenset({"AiohttpTransport", "Httpx2Transport", "HttpxTransport", "PyreqwestTransport"})
"""The names `__getattr__` serves: each imported on first use (see the docstring)."""


def __getattr__(name: str) -> Any:
    if name == "HttpxTransport":
        from ._httpx import HttpxTransport

        return HttpxTransport
    if name == "AiohttpTransport":
        from ._aiohttp import AiohttpTransport

        return AiohttpTransport
    if name == "Httpx2Transport":
        from ._httpx2 import Httpx2Transport

        return Httpx2Transport
    if name == "PyreqwestTransport":
        from ._pyreqwest import PyreqwestTransport

        return PyreqwestTransport
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
