"""`Httpcore2Transport`: `HttpcoreTransport` over httpcore2, httpx2's transport layer.

httpx2 is the maintained fork of httpx; httpcore2 keeps httpcore's API, so this is the same
class pointed at the other module. Extra `httpx2` (Python 3.11 and newer, as httpx2 itself).
httpcore2 is imported here and nowhere else, when this module is.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import ClassVar

from ._httpcore import HttpcoreTransport


def _import_core() -> ModuleType:
    try:
        # importlib keeps mypy (and Python 3.10, where httpx2 does not install) off the module.
        return importlib.import_module("httpcore2")
    except ImportError as exc:  # pragma: no cover - depends on the extra
        raise ImportError(
            "Httpcore2Transport needs httpx2 (Python 3.11+): pip install 'asyncapi-client[httpx2]'"
        ) from exc


class Httpcore2Transport(HttpcoreTransport):
    """HTTP/1.1 (and optionally HTTP/2) over httpcore2. Same options as `HttpcoreTransport`."""

    bounds_each_send: ClassVar[bool] = True  # as HttpcoreTransport's: the same send
    _core = _import_core()  # this module is imported only when the class is asked for
    _name = "Httpcore2Transport"
