"""Transports: the bottom of the pipeline. `HttpcoreTransport` is the default.

`AiohttpTransport` (extra `aiohttp`) and `PyreqwestTransport` (extra `pyreqwest`) run on asyncio
only; `Httpcore2Transport` (extra `httpx2`) runs on asyncio and trio. Every transport over a
network library, the default one included, is imported when first asked for: httpcore's import
chain alone costs more than the rest of `import asyncapi_client`, and a client given another
transport (or a script that only builds requests) never needs it. `HttpxTransport` and
`Httpx2Transport`, the former names of the httpcore transports (they never used httpx's client),
still work and warn.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Final

from ._asgi import ASGITransport
from ._base import Transport
from ._mock import MockTransport

if TYPE_CHECKING:
    from ._aiohttp import AiohttpTransport
    from ._body import ACCEPT_ENCODING, DEFAULT_MAX_RESPONSE_BYTES
    from ._httpcore import HttpcoreTransport
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


LAZY: Final = frozenset({"AiohttpTransport", "Httpcore2Transport", "HttpcoreTransport", "PyreqwestTransport"})
"""The transports `__getattr__` serves: each imported on first use (see the docstring)."""

_DEPRECATED: Final = {"HttpxTransport": "HttpcoreTransport", "Httpx2Transport": "Httpcore2Transport"}


def __getattr__(name: str) -> Any:
    if name == "HttpcoreTransport":
        from ._httpcore import HttpcoreTransport

        return HttpcoreTransport
    if name == "AiohttpTransport":
        from ._aiohttp import AiohttpTransport

        return AiohttpTransport
    if name == "Httpcore2Transport":
        from ._httpcore2 import Httpcore2Transport

        return Httpcore2Transport
    if name == "PyreqwestTransport":
        from ._pyreqwest import PyreqwestTransport

        return PyreqwestTransport
    if name in ("ACCEPT_ENCODING", "DEFAULT_MAX_RESPONSE_BYTES"):
        from . import _body

        return getattr(_body, name)
    # The deprecated names are served but not in __all__ (a star import would warn for them).
    if _DEPRECATED.get(name) is not None:
        return _deprecated_alias(name, stacklevel=3)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _deprecated_alias(name: str, *, stacklevel: int) -> Any:
    """The class a deprecated name stands for, with a `DeprecationWarning` at the caller."""
    new = _DEPRECATED.get(name)
    if new is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"{name} is deprecated: it is {new} (it drives httpcore's connections, not httpx's client); "
        f"use {new}",
        DeprecationWarning,
        stacklevel=stacklevel,
    )
    return __getattr__(new)
