"""Parse `Retry-After` (RFC 9110 section 10.2.3): delay-seconds or an HTTP-date. Pure."""

from __future__ import annotations

import email.utils
import math


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from `now` (Unix seconds), or None when the header is absent or malformed.

    A date in the past gives 0. Garbage, negative numbers, NaN and infinities give None: a bad
    header is ignored, never raised.
    """
    if value is None:
        return None
    value = value.strip()
    if not value or len(value) > 64:
        return None
    if value.isdigit() and value.isascii():  # "²".isdigit() is True, int("²") raises
        return float(int(value))
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None or parsed.tzinfo is None:
        return None
    try:
        return max(0.0, parsed.timestamp() - now)
    except (OverflowError, OSError, ValueError):
        return None
