"""The options every socket transport takes, checked once at construction.

`max_connections` (a whole number, at least 1), `keepalive_expiry` and `connect_timeout`
(finite seconds; NaN, infinity and negatives refused), `verify` / `cert` / `trust_env` (see
`_tls.py`), `proxy` (see `_proxy.py`) and `max_response_bytes` (a whole number of bytes, at
least 1, or None for no limit; see `_body.py`). A wrong value raises `TypeError` or
`ValueError` naming the transport, the option and what it must be, before anything connects.
"""

from __future__ import annotations

import math
import numbers
import ssl
from typing import TYPE_CHECKING, Any

from ._body import DEFAULT_MAX_RESPONSE_BYTES
from ._tls import TLSMaterial, VerifyTypes, check_cert, check_verify, ssl_context

if TYPE_CHECKING:
    from ._proxy import Proxy

DEFAULT_CONNECT_TIMEOUT = 10.0


def check_count(owner: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner}: {name} must be a whole number, at least 1, got {value!r}")
    if value < 1:
        raise ValueError(f"{owner}: {name} must be at least 1, got {value!r}")
    return int(value)


def check_seconds(owner: str, name: str, value: Any, *, allow_zero: bool) -> float:
    bound = ">= 0" if allow_zero else "> 0"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner}: {name} must be a number of seconds {bound}, got {value!r}")
    seconds = float(value)
    if not math.isfinite(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        raise ValueError(f"{owner}: {name} must be a finite number of seconds {bound}, got {value!r}")
    return seconds


def check_max_response_bytes(owner: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(
            f"{owner}: max_response_bytes must be a whole number of bytes, at least 1, or None "
            f"(no limit), got {value!r}"
        )
    if value < 1:
        raise ValueError(f"{owner}: max_response_bytes must be at least 1 (or None: no limit), got {value!r}")
    return int(value)


class TransportOptions:
    """The checked options of one socket transport, and what is derived from them."""

    __slots__ = (
        "cert",
        "connect_timeout",
        "keepalive_expiry",
        "max_connections",
        "max_response_bytes",
        "proxies",
        "trust_env",
        "verify",
        "_owner",
        "_ssl_context",
    )

    def __init__(
        self,
        owner: str,
        *,
        max_connections: Any,
        keepalive_expiry: Any,
        connect_timeout: Any = DEFAULT_CONNECT_TIMEOUT,
        verify: Any = True,
        cert: Any = None,
        trust_env: Any = True,
        proxy: Any = None,
        max_response_bytes: Any = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        self._owner = owner
        self.max_connections = check_count(owner, "max_connections", max_connections)
        self.keepalive_expiry = check_seconds(owner, "keepalive_expiry", keepalive_expiry, allow_zero=True)
        self.connect_timeout = check_seconds(owner, "connect_timeout", connect_timeout, allow_zero=False)
        if not isinstance(trust_env, bool):
            raise TypeError(f"{owner}: trust_env must be True or False, got {trust_env!r}")
        self.trust_env = trust_env
        try:
            self.verify: VerifyTypes = check_verify(verify)
            self.cert = check_cert(cert, self.verify)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{owner}: {exc}") from None
        if proxy is not None and not isinstance(proxy, str):
            raise TypeError(
                f"{owner}: proxy must be a proxy URL string such as 'http://proxy.example:3128' or None, "
                f"got {type(proxy).__name__}"
            )
        from ._proxy import ProxyRoutes  # urllib.request: only once a socket transport is made

        try:
            self.proxies = ProxyRoutes(proxy, trust_env=trust_env)
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"{owner}: {exc}") from None
        self.max_response_bytes = check_max_response_bytes(owner, max_response_bytes)
        self._ssl_context: ssl.SSLContext | None = None

    def ssl_context(self) -> ssl.SSLContext:
        """One context for all the transport's connections (a Python TLS stack's transports
        make it in their constructor, so a bad CA bundle or key fails there)."""
        if self._ssl_context is None:
            try:
                self._ssl_context = ssl_context(self.verify, self.cert, trust_env=self.trust_env)
            except (ssl.SSLError, OSError) as exc:
                raise ValueError(
                    f"{self._owner}: could not load the CA bundle or client certificate ({exc})"
                ) from exc
        return self._ssl_context

    def tls_material(self) -> TLSMaterial:
        try:
            return TLSMaterial(self.verify, self.cert, trust_env=self.trust_env)
        except ValueError as exc:
            raise ValueError(f"{self._owner}: {exc}") from None
        except OSError as exc:
            raise ValueError(
                f"{self._owner}: could not read the CA bundle or client certificate ({exc})"
            ) from exc

    def proxy_for(self, scheme: str, host: str, port: int) -> Proxy | None:
        return self.proxies.for_target(scheme, host, port)
