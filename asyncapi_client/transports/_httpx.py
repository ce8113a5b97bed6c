"""The default transport, on httpx's own transport layer (httpcore).

httpx's client layer costs more CPU per request than the network round trip on loopback, and this
SDK already does that work once in its own types, so `HttpxTransport` drives httpcore's
connection pool directly (see `_httpcore.py`). Keep-alive is sized to the pool: httpx's default
(100 connections, 20 kept alive) churns TCP connections under load.
"""

from __future__ import annotations

import httpcore

from ._httpcore import HttpcoreTransport


class HttpxTransport(HttpcoreTransport):
    """HTTP/1.1 (and optionally HTTP/2) over httpcore's pool: the default transport.

    `HttpxTransport(max_connections=100, keepalive_expiry=30.0, http2=False, verify=True)`.
    `max_connections` bounds concurrent connections and all of them are kept alive. HTTP/2 needs
    the `h2` package (`pip install 'httpx[http2]'`).
    """

    _core = httpcore
    _name = "HttpxTransport"
