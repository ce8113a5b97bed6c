"""The transport protocol: the bottom of the pipeline, where the SDK's Request meets the wire."""

from __future__ import annotations

from functools import lru_cache
from typing import Protocol, runtime_checkable

from .._errors import APIConnectionError, APITimeoutError
from .._types import Request, Response


@runtime_checkable
class Transport(Protocol):
    """Sends one request and returns the fully read response.

    Failures are raised as `APIConnectionError` / `APITimeoutError` (never a library's own
    exception), with `request_sent=False` when nothing left the machine. `request.timeout` bounds
    the whole attempt; `request.extensions["connect_timeout"]`, when set, bounds connecting.
    Cancelling `send` releases the connection.
    """

    async def send(self, request: Request) -> Response:
        """Send one request and return the fully read response, or raise `APIConnectionError` /
        `APITimeoutError`."""

    async def aclose(self) -> None:
        """Close the connection pool. Idempotent."""


@lru_cache(maxsize=256)
def split_origin(url: str) -> tuple[str, str, int, str]:
    """`scheme://host:port/...` -> (scheme, host, port, origin), cached per origin string."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("http", "https"):
        raise ValueError(f"URL must start with http:// or https://, got {url[:40]!r}")
    netloc = rest.split("/", 1)[0]
    host, port = netloc, 443 if scheme == "https" else 80
    if netloc.startswith("["):
        end = netloc.find("]")
        host = netloc[1:end]
        if netloc[end + 1 : end + 2] == ":":
            port = int(netloc[end + 2 :])
    elif ":" in netloc:
        host, _, port_text = netloc.rpartition(":")
        port = int(port_text)
    return scheme, host, port, f"{scheme}://{netloc}"


def origin_and_target(url: str) -> tuple[str, str]:
    """Split a URL into its origin (`scheme://netloc`) and target (`/path?query`)."""
    start = url.find("//") + 2
    slash = url.find("/", start)
    if slash < 0:
        return url, "/"
    return url[:slash], url[slash:]


def timed_out(request: Request, exc: BaseException, *, sent: bool) -> APITimeoutError:
    """The SDK's error for a library's timeout (`sent`: whether the request may have left)."""
    return APITimeoutError(
        f"{request.method} {request.url} timed out ({type(exc).__name__})", request=request, request_sent=sent
    )


def not_connected(request: Request, exc: BaseException) -> APIConnectionError:
    """The SDK's error for a failure before any byte left: always safe to retry."""
    return APIConnectionError(
        f"could not connect for {request.method} {request.url}: {type(exc).__name__}",
        request=request,
        request_sent=False,
    )


def connection_lost(request: Request, exc: BaseException) -> APIConnectionError:
    """The SDK's error for a connection lost after the request was (maybe) sent."""
    return APIConnectionError(
        f"connection lost during {request.method} {request.url}: {type(exc).__name__}",
        request=request,
        request_sent=True,
    )
