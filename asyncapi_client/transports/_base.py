"""The transport protocol: the bottom of the pipeline, where the SDK's Request meets the wire."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterable
from functools import lru_cache
from typing import Protocol, runtime_checkable

from .._config import format_seconds
from .._errors import APIConnectionError, APITimeoutError
from .._redact import redact
from .._types import Request, Response


@runtime_checkable
class Transport(Protocol):
    """Sends one request and returns the fully read response.

    Failures are raised as `APIConnectionError` / `APITimeoutError` (never a library's own
    exception, which stays the `__cause__`), with `request_sent=False` when nothing left the
    machine and the reason (DNS, refused, TLS) in the message. A body that cannot be decoded is
    `ResponseDecodeError`; one over the size limit `ResponseTooLargeError`. `request.timeout`
    bounds the whole attempt; `request.extensions["connect_timeout"]`, when set, bounds
    connecting. Cancelling `send` releases the connection.
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
    """The SDK's error for a library's timeout (`sent`: whether the request may have left).
    Raise it `from exc`: the library's exception stays the `__cause__`."""
    return APITimeoutError(
        f"{request.method} {request.url} timed out ({type(exc).__name__})", request=request, request_sent=sent
    )


def no_free_connection(request: Request) -> APITimeoutError:
    """The SDK's error for an attempt whose time ran out while it waited for a free connection
    (all `max_connections` busy): nothing was sent."""
    return APITimeoutError(
        f"{request.method} {request.url} waited {format_seconds(request.timeout)} for a free connection",
        request=request,
        request_sent=False,
    )


def not_connected(request: Request, exc: BaseException) -> APIConnectionError:
    """The SDK's error for a failure before any byte left: safe to retry, unless the reason is
    one a retry cannot change (a certificate that does not verify). Raise it `from exc`."""
    reason, permanent = failure_reason(exc, request)
    error = APIConnectionError(
        f"could not connect for {request.method} {request.url}: {reason}",
        request=request,
        request_sent=False,
    )
    if permanent:
        error.retryable = False
    return error


def connection_lost(request: Request, exc: BaseException) -> APIConnectionError:
    """The SDK's error for a connection lost after the request was (maybe) sent. Raise it `from exc`."""
    reason, _ = failure_reason(exc, request)
    return APIConnectionError(
        f"connection lost during {request.method} {request.url}: {reason}",
        request=request,
        request_sent=True,
    )


def failure_reason(exc: BaseException, request: Request) -> tuple[str, bool]:
    """(why, permanent) for a connection failure, read from the exception and what caused it.

    The libraries wrap the operating system's and OpenSSL's errors in their own; the reason a
    user can act on (DNS, refused, the certificate) is the innermost one. pyreqwest reports its
    Rust causes as text, in `details["causes"]`.
    """
    for cause in _causes(exc):
        refused = _proxy_refusal(cause)
        if refused is not None:
            return f"the proxy refused the tunnel ({redact(refused[0])})", refused[1]
        if isinstance(cause, ssl.SSLCertVerificationError):
            detail = cause.verify_message or cause.reason or "certificate verify failed"
            return f"TLS certificate verification failed ({cause.reason}: {detail})", True
        if isinstance(cause, ssl.SSLError):
            return f"TLS handshake failed ({cause.reason or cause})", False
        if isinstance(cause, socket.gaierror):
            return f"DNS lookup failed for {_host(request)} ({cause.strerror or cause})", False
        if isinstance(cause, ConnectionRefusedError):
            return f"connection refused by {_host(request)}", False
        if isinstance(cause, ConnectionResetError):
            return "connection reset by the peer", False
    rust = _rust_causes(exc)
    if rust:
        lowered = rust.lower()
        if "certificate" in lowered or "unknownissuer" in lowered:
            return f"TLS certificate verification failed ({rust})", True
        if "dns error" in lowered or "failed to lookup address" in lowered:
            return f"DNS lookup failed for {_host(request)} ({rust})", False
        if "connection refused" in lowered:
            return f"connection refused by {_host(request)}", False
        if "tunnel" in lowered or "proxy" in lowered:
            permanent = "authentication" in lowered or any(code in rust for code in ("401", "403", "407"))
            return f"the proxy refused the tunnel ({redact(rust)})", permanent
        return redact(rust), False
    text = str(exc)
    return (f"{type(exc).__name__}: {redact(text)}" if text else type(exc).__name__), False


def _proxy_refusal(exc: BaseException) -> tuple[str, bool] | None:
    """(status text, permanent) when a proxy answered the `CONNECT` with an error status:
    httpcore's `ProxyError("407 Proxy Authentication Required")`, aiohttp's
    `ClientHttpProxyError` (`.status`). Wrong credentials are not fixed by retrying."""
    name = type(exc).__name__
    if name not in ("ProxyError", "ClientHttpProxyError"):
        return None
    status = getattr(exc, "status", None)
    text = f"{status} {getattr(exc, 'message', '')}".strip() if isinstance(status, int) else str(exc)
    if not isinstance(status, int):
        head = text.split(" ", 1)[0]
        status = int(head) if head.isdigit() else None
    return text or name, status in (401, 403, 407)


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and what it wraps: `__cause__`, `__context__` and aiohttp's `os_error` /
    `certificate_error`, innermost last; cycles cut."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(seen) < 16 and all(current is not s for s in seen):
        seen.append(current)
        inner = getattr(current, "certificate_error", None) or getattr(current, "os_error", None)
        if not isinstance(inner, BaseException) or inner is current:
            inner = current.__cause__ or current.__context__
        grouped = getattr(inner, "exceptions", None)  # an exception group (3.10: the backport)
        if isinstance(grouped, (list, tuple)) and grouped and isinstance(grouped[0], BaseException):
            inner = grouped[0]  # trio's "all attempts to connect failed": the first attempt's
        current = inner
    return list(reversed(seen))


def _rust_causes(exc: BaseException) -> str:
    details = getattr(exc, "details", None)
    causes = details.get("causes") if isinstance(details, dict) else None
    if not causes:
        return ""
    messages = [c.get("message", "") for c in causes if isinstance(c, dict)]
    # The first is "error sending request for url (...)": the URL is already in our message.
    useful = [m for m in messages[1:] if m and not m.startswith("client error")]
    return ": ".join(useful or messages[-1:])


def _host(request: Request) -> str:
    try:
        _, host, port, _ = split_origin(origin_and_target(request.url)[0] + "/")
    except ValueError:
        return "the host"
    return f"{host}:{port}"


def merge_headers(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Response headers as the SDK keeps them: names lower-cased, a repeated header's values
    joined with ", " in the order received (as httpx's `Headers` reads them)."""
    headers: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        if key in headers:
            headers[key] = f"{headers[key]}, {value}"
        else:
            headers[key] = value
    return headers
