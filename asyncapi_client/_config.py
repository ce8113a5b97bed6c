"""Configuration values, validated at construction with messages that say what to fix."""

from __future__ import annotations

import ipaddress
import math
from typing import Any
from urllib.parse import urlsplit

import attrs


def _positive_or_none(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(
            f"Timeout.{attribute.name} must be a positive number of seconds or None, got {value!r}"
        )


@attrs.frozen(slots=True)
class Timeout:
    """How long a call may take.

    `total` bounds the whole call: every attempt, backoff sleep, limiter wait and token refresh.
    `attempt` bounds one HTTP attempt (the retry layer cuts it to what is left of `total`).
    `connect` bounds opening a connection. `Timeout(10)` means 10 seconds in all.
    """

    total: float | None = attrs.field(default=60.0, validator=_positive_or_none)
    attempt: float | None = attrs.field(default=30.0, validator=_positive_or_none)
    connect: float | None = attrs.field(default=10.0, validator=_positive_or_none)

    @classmethod
    def coerce(cls, value: Timeout | float | None) -> Timeout:
        """`value` as a Timeout: seconds mean that long in all (connect at most 10 s); None means no limit."""
        if isinstance(value, Timeout):
            return value
        if value is None:
            return cls(total=None, attempt=None, connect=None)
        return cls(total=value, attempt=value, connect=min(10.0, value))

    def attempt_timeout(self) -> float | None:
        """The bound of one attempt: `attempt`, cut to `total`."""
        if self.attempt is None:
            return self.total
        if self.total is None:
            return self.attempt
        return min(self.attempt, self.total)


DEFAULT_TIMEOUT = Timeout()


def format_seconds(seconds: float | None) -> str:
    """A duration for a message, rounded to what a reader needs: `30s` (not
    `29.959565351000037s`), `2.5s`, `0.25s`; `no limit` for None."""
    if seconds is None:
        return "no limit"
    if seconds >= 100:
        return f"{seconds:.0f}s"
    return f"{seconds:.3g}s"


def is_loopback_host(host: str) -> bool:
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, *, what: str, allow_insecure_http: bool) -> str:
    """Validate an absolute http(s) URL; refuse plain http to a non-loopback host unless allowed.

    Returns the URL without a trailing slash.
    """
    if not isinstance(url, str) or not url:
        raise ValueError(f"{what} must be a non-empty URL string such as 'https://api.example.com'")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} must be an absolute http:// or https:// URL, got {url!r}")
    if parts.username or parts.password:
        raise ValueError(f"{what} must not carry credentials in the URL; pass them to the auth strategy")
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback_host(parts.hostname):
        raise ValueError(
            f"{what} {url!r} uses plain http to a non-loopback host, which would send credentials "
            "in clear text; use https://, or pass allow_insecure_http=True if you really mean it"
        )
    return url.rstrip("/")
