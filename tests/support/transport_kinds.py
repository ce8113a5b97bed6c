"""Every transport under test, by name: one place that builds them for the transport suites.

`httpcore-pool` is `HttpcoreTransport` on its fallback, httpcore's public pool (what it uses
when the fast pool's private internals are missing), so the fallback passes the same suites.
"""

from __future__ import annotations

import importlib.util
from typing import Any
from unittest import mock

import pytest

from asyncapi_client.transports import HttpcoreTransport, Transport, _h1pool

SOCKET_TRANSPORTS = ["httpcore", "httpcore-pool", "httpcore2", "aiohttp", "pyreqwest"]
ASYNCIO_ONLY = {"aiohttp", "pyreqwest"}
NEEDS = {"httpcore2": "httpcore2", "aiohttp": "aiohttp", "pyreqwest": "pyreqwest"}
HTTP2 = {"httpcore", "httpcore-pool", "httpcore2", "pyreqwest"}


def installed(kind: str) -> bool:
    module = NEEDS.get(kind)
    return module is None or importlib.util.find_spec(module) is not None


def skip_unless_installed(kind: str) -> list[Any]:
    if installed(kind):
        return []
    return [pytest.mark.skip(reason=f"{NEEDS[kind]} is not installed (extra for {kind})")]


def make_transport(kind: str, max_connections: int = 10, **options: Any) -> Transport:
    if kind == "httpcore":
        return HttpcoreTransport(max_connections=max_connections, **options)
    if kind == "httpcore-pool":
        untested = {"httpcore": ((0, 0), (0, 0)), "httpcore2": ((0, 0), (0, 0))}
        with mock.patch.dict(_h1pool.TESTED_VERSIONS, untested):
            transport = HttpcoreTransport(max_connections=max_connections, **options)
        assert transport.fast_path_problem is not None
        return transport
    if kind == "httpcore2":
        from asyncapi_client.transports import Httpcore2Transport

        return Httpcore2Transport(max_connections=max_connections, **options)
    if kind == "aiohttp":
        from asyncapi_client.transports import AiohttpTransport

        return AiohttpTransport(max_connections=max_connections, **options)
    if kind == "pyreqwest":
        from asyncapi_client.transports import PyreqwestTransport

        return PyreqwestTransport(max_connections=max_connections, **options)
    raise AssertionError(kind)
