"""Transports: the bottom of the pipeline. `HttpcoreTransport` is the default.

`AiohttpTransport` (extra `aiohttp`) and `PyreqwestTransport` (extra `pyreqwest`) run on asyncio
only; `Httpcore2Transport` (extra `httpx2`) runs on asyncio and trio. The optional ones are
imported only when asked for. `HttpxTransport` and `Httpx2Transport`, the former names of the
httpcore transports (they never used httpx's client), still work and warn.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from ._asgi import ASGITransport
from ._base import Transport
from ._body import ACCEPT_ENCODING, DEFAULT_MAX_RESPONSE_BYTES
from ._httpcore import HttpcoreTransport
from ._mock import MockTransport

if TYPE_CHECKING:
    from ._aiohttp import AiohttpTransport
    from ._httpcore2 import Httpcore2Transport
    from ._pyreqwest import PyreqwestTransport

    HttpxTransport = HttpcoreTransport
    Httpx2Transport = Httpcore2Transport

__all__ = [
    "ACCEPT_ENCODING",
    "ASGITransport",
    "AiohttpTransport",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "Httpcore2Transport",
    "HttpcoreTransport",
    "MockTransport",
    "PyreqwestTransport",
    "Transport",
]

_DEPRECATED = {"HttpxTransport": "HttpcoreTransport", "Httpx2Transport": "Httpcore2Transport"}


def __getattr__(name: str) -> Any:
    # The optional transports are heavy or need an extra: import them only when asked for.
    if name == "AiohttpTransport":
        from ._aiohttp import AiohttpTransport

        return AiohttpTransport
    if name == "Httpcore2Transport":
        from ._httpcore2 import Httpcore2Transport

        return Httpcore2Transport
    if name == "PyreqwestTransport":
        from ._pyreqwest import PyreqwestTransport

        return PyreqwestTransport
    if name in _DEPRECATED:
        return deprecated_alias(name, stacklevel=3)
    raise AttributeError(name)


def deprecated_alias(name: str, *, stacklevel: int) -> Any:
    """The class a deprecated name stands for, with a `DeprecationWarning` at the caller."""
    new = _DEPRECATED[name]
    warnings.warn(
        f"{name} is deprecated: it is {new} (it drives httpcore's connections, not httpx's client); "
        f"use {new}",
        DeprecationWarning,
        stacklevel=stacklevel,
    )
    return __getattr__(new) if new == "Httpcore2Transport" else HttpcoreTransport
