"""Configuration values, validated at construction with messages that say what to fix.

The checks every configurable number, URL and header shares live here, so that a NaN, an
infinity, a port out of range or a line break in a header fails where it is written, not as an
`OverflowError` or a `ValueError` from deep inside the first call:

- `check_seconds`: a finite duration (`math.isfinite`), at least a minimum, at most
  `MAX_SECONDS` (a year: longer than anything should wait; pass None where "no limit" is meant);
- `check_count`: a whole number (not a bool, not a float) in a range;
- `check_url`: an absolute http(s) URL with a host, a port in 1-65535, no credentials, no
  fragment, no query for a base URL, no spaces or control characters;
- `check_header`: a header name that is an RFC 9110 token and a value without control
  characters (a CR or LF would split the request).
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

import attrs

#: The longest duration any setting accepts, in seconds (a year).
MAX_SECONDS: Final = 365 * 86400.0

_HEADER_NAME: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE_FORBIDDEN: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_URL_FORBIDDEN: Final = re.compile(r"[\x00-\x20\x7f]")


def check_seconds(
    what: str, value: Any, *, minimum: float = 0.0, above_minimum: bool = False, maximum: float = MAX_SECONDS
) -> float:
    """`value` as a float of seconds; ValueError naming `what` unless it is a finite number in
    `[minimum, maximum]` (`(minimum, maximum]` when `above_minimum`)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number of seconds, got {value!r}")
    if value < minimum or (above_minimum and value == minimum):
        if above_minimum and minimum == 0:
            raise ValueError(f"{what} must be a positive number of seconds, got {value!r}")
        raise ValueError(
            f"{what} must be {'>' if above_minimum else '>='} {minimum:g} seconds, got {value!r}"
        )
    if value > maximum:
        raise ValueError(
            f"{what} must be at most {maximum:g} seconds, got {value!r} (use None where it takes "
            "None for no limit)"
        )
    return float(value)


def check_count(what: str, value: Any, *, minimum: int = 1, maximum: int | None = None) -> int:
    """`value` as an int; ValueError naming `what` unless it is a whole number in the range."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be a whole number, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
        raise ValueError(f"{what} must be {bound}, got {value!r}")
    return value


def check_header(name: Any, value: Any) -> None:
    """ValueError unless `name: value` can be sent as one HTTP header line."""
    if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
        raise ValueError(f"header name {name!r} is not a valid HTTP header name (letters, digits, -)")
    if not isinstance(value, str):
        raise TypeError(f"the value of header {name!r} must be a str, got {type(value).__name__}")
    if _HEADER_VALUE_FORBIDDEN.search(value):
        # The value itself may be a credential: never shown.
        raise ValueError(
            f"the value of header {name!r} holds a control character (line break, NUL...), which "
            "would split or corrupt the request"
        )


def check_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Every header checked; a copy with lower-case names."""
    checked: dict[str, str] = {}
    for name, value in headers.items():
        check_header(name, value)
        checked[name.lower()] = value
    return checked


def _timeout_field(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        check_seconds(f"Timeout.{attribute.name}", value, above_minimum=True)


@attrs.frozen(slots=True)
class Timeout:
    """How long a call may take.

    `total` bounds the whole call: every attempt, backoff sleep, limiter wait and token refresh.
    `attempt` bounds one HTTP attempt (the retry layer cuts it to what is left of `total`).
    `connect` bounds opening a connection. `Timeout(10)` means 10 seconds in all. Each is a
    positive number of seconds up to a year, or None for no limit.
    """

    total: float | None = attrs.field(default=60.0, validator=_timeout_field)
    attempt: float | None = attrs.field(default=30.0, validator=_timeout_field)
    connect: float | None = attrs.field(default=10.0, validator=_timeout_field)

    @classmethod
    def coerce(cls, value: Timeout | float | None) -> Timeout:
        """`value` as a Timeout: seconds mean that long in all (connect at most 10 s); None means no limit."""
        if isinstance(value, Timeout):
            return value
        if value is None:
            return cls(total=None, attempt=None, connect=None)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 10.0:
            return cls(total=value, attempt=value, connect=10.0)
        return cls(total=value, attempt=value, connect=value)

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


def check_url(url: str, *, what: str, allow_insecure_http: bool, allow_query: bool = False) -> str:
    """Validate an absolute http(s) URL; refuse plain http to a non-loopback host unless allowed.

    A base URL (`allow_query=False`) has paths appended to it, so it may carry neither a query
    nor a fragment; a token URL may carry a query (RFC 6749 section 3.2) but no fragment.
    Returns the URL without a trailing slash.
    """
    if not isinstance(url, str) or not url:
        raise ValueError(f"{what} must be a non-empty URL string such as 'https://api.example.com'")
    if _URL_FORBIDDEN.search(url):
        raise ValueError(f"{what} must not contain spaces or control characters, got {url!r}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{what} must be an absolute http:// or https:// URL, got {url!r}")
    if parts.username or parts.password or "@" in parts.netloc:
        raise ValueError(f"{what} must not carry credentials in the URL; pass them to the auth strategy")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0 or (port is None and parts.netloc.endswith(":")):
        raise ValueError(f"{what} has a port that is not a number from 1 to 65535: {parts.netloc!r}")
    if "#" in url:
        raise ValueError(f"{what} must not have a #fragment, got {url!r}")
    if "?" in url and not allow_query:
        raise ValueError(
            f"{what} must not have a ?query (paths and their parameters are added to it), got {url!r}"
        )
    if parts.scheme == "http" and not allow_insecure_http and not is_loopback_host(parts.hostname):
        raise ValueError(
            f"{what} {url!r} uses plain http to a non-loopback host, which would send credentials "
            "in clear text; use https://, or pass allow_insecure_http=True if you really mean it"
        )
    return url.rstrip("/")
