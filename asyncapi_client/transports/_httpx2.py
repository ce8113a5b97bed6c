"""`Httpx2Transport`: the same engine as `HttpxTransport` over httpcore2, httpx2's transport layer.

httpx2 is the maintained fork of httpx; httpcore2 keeps httpcore's API, so this is the shared
`HttpcoreTransport` pointed at the other module. Extra `httpx2` (Python 3.11 and newer, as httpx2
itself). httpcore2 is imported here and nowhere else.
"""

from __future__ import annotations

import importlib
import ssl
from types import ModuleType

from ._httpcore import HttpcoreTransport


def _import_core() -> ModuleType:
    try:
        # importlib keeps mypy (and Python 3.10, where httpx2 does not install) off the module.
        return importlib.import_module("httpcore2")
    except ImportError as exc:  # pragma: no cover - depends on the extra
        raise ImportError(
            "Httpx2Transport needs httpx2 (Python 3.11+): pip install 'asyncapi-client[httpx2]'"
        ) from exc


class Httpx2Transport(HttpcoreTransport):
    """HTTP/1.1 (and optionally HTTP/2) over httpcore2's pool.

    Same options as `HttpxTransport`: `max_connections`, `keepalive_expiry`, `http2`, `verify`.
    """

    _name = "Httpx2Transport"

    def __init__(
        self,
        *,
        max_connections: int = 100,
        keepalive_expiry: float = 30.0,
        http2: bool = False,
        verify: bool | ssl.SSLContext = True,
    ) -> None:
        self._core = _import_core()
        super().__init__(
            max_connections=max_connections,
            keepalive_expiry=keepalive_expiry,
            http2=http2,
            verify=verify,
        )
