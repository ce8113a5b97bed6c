"""Forward proxies: which one (if any) a request goes through, as httpx decides it.

`proxy="http://user:pass@proxy:3128"` sends every request through that proxy. Without it, and
with `trust_env` (the default), the environment decides through the standard library
(`urllib.request.getproxies()`: `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` and their lower-case
forms; `urllib.request.proxy_bypass_environment` for `NO_PROXY`). Plain http goes to the proxy
as an absolute-form request; https goes through a `CONNECT` tunnel, and TLS runs end to end
inside it. An `https://` proxy URL is reached over TLS itself.

Credentials in a proxy URL are taken out of it at once: the URL handed to the HTTP libraries
carries none (they travel as a `Proxy-Authorization` header), so no library's error message,
no repr and no log line can quote them.
"""

from __future__ import annotations

import base64
import urllib.request
from typing import Any, Final
from urllib.parse import unquote, urlsplit

_SCHEMES: Final = ("http", "https")
# The standard library's NO_PROXY matching (typeshed does not list it, but it has been in
# urllib.request since Python 2.6).
_bypass: Any = getattr(urllib.request, "proxy_bypass_environment")  # noqa: B009


class Proxy:
    """One forward proxy: `url` (`scheme://host:port`, no credentials) and the credentials apart."""

    __slots__ = ("host", "password", "port", "scheme", "url", "username")

    def __init__(self, value: str, *, source: str = "proxy") -> None:
        if not isinstance(value, str) or not value.strip():
            raise TypeError(f"{source} must be a proxy URL such as 'http://proxy.example:3128'")
        text = value.strip()
        if "://" not in text:
            text = "http://" + text  # HTTP_PROXY=proxy:3128 is common, and means http
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        if scheme not in _SCHEMES:
            raise ValueError(
                f"{source}: a {scheme}:// proxy is not supported (use an http:// or https:// proxy); "
                "for an environment variable, unset it or pass trust_env=False"
            )
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"{source}: the proxy URL's port is not a port number") from None
        if not parts.hostname:
            raise ValueError(f"{source}: the proxy URL has no host")
        self.scheme = scheme
        self.host = parts.hostname
        self.port = port or (443 if scheme == "https" else 80)
        netloc = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"{scheme}://{netloc}:{self.port}"
        self.username = unquote(parts.username) if parts.username is not None else None
        self.password = unquote(parts.password) if parts.password is not None else None

    @property
    def auth(self) -> tuple[str, str] | None:
        if self.username is None:
            return None
        return self.username, self.password or ""

    def authorization(self) -> str | None:
        """The `Proxy-Authorization` header value (Basic), or None without credentials."""
        auth = self.auth
        if auth is None:
            return None
        return "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")

    def __repr__(self) -> str:
        return f"Proxy({self.url!r}{', with credentials' if self.username is not None else ''})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Proxy) and (self.url, self.auth) == (other.url, other.auth)

    def __hash__(self) -> int:
        return hash((self.url, self.auth))


class ProxyRoutes:
    """Which `Proxy` serves a target: `for_target(scheme, host, port)` (None: go direct).

    Resolved once, at the transport's construction; the transports cache the answer per origin.
    """

    __slots__ = ("_by_scheme", "_no_proxy")

    def __init__(self, proxy: str | None, *, trust_env: bool) -> None:
        self._by_scheme: dict[str, Proxy] = {}
        self._no_proxy: str | None = None
        if proxy is not None:
            explicit = Proxy(proxy)
            self._by_scheme = {"http": explicit, "https": explicit}
            return
        if not trust_env:
            return
        found = urllib.request.getproxies()
        for scheme in _SCHEMES:
            name = scheme if found.get(scheme) else "all"
            value = found.get(name)
            if value:
                self._by_scheme[scheme] = Proxy(value, source=f"the environment's {name}_proxy")
        self._no_proxy = found.get("no") or None

    @property
    def proxies(self) -> list[Proxy]:
        return list(dict.fromkeys(self._by_scheme.values()))

    def for_target(self, scheme: str, host: str, port: int) -> Proxy | None:
        proxy = self._by_scheme.get(scheme)
        if proxy is None:
            return None
        no_proxy = self._no_proxy
        if no_proxy and _bypass(f"{host}:{port}", {"no": no_proxy}):
            return None
        return proxy

    def __repr__(self) -> str:
        return f"ProxyRoutes({self._by_scheme!r}, no_proxy={self._no_proxy!r})"
