"""Client-side rate limiting: a token bucket that paces itself by the server's headers.

`RateLimit` configures it; `RateLimitMiddleware` runs it once per attempt inside the retry
loop; `RedisRateLimitBackend` (extra `redis`) shares one bucket per key between processes.
Header parsing lives in `_headers` (pure functions).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._config import RateLimit, RateLimitBackend
from ._headers import RateLimitInfo, parse_rate_limit_headers
from ._middleware import RateLimitMiddleware, RateLimitStatus, token_partition_key

if TYPE_CHECKING:
    from ._redis import RedisRateLimitBackend

__all__ = [
    "RateLimit",
    "RateLimitBackend",
    "RateLimitInfo",
    "RateLimitMiddleware",
    "RateLimitStatus",
    "RedisRateLimitBackend",
    "parse_rate_limit_headers",
    "token_partition_key",
]


def __getattr__(name: str) -> Any:
    # The Redis backend imports redis only when asked for: `import asyncapi_client` stays light.
    if name == "RedisRateLimitBackend":
        from ._redis import RedisRateLimitBackend

        return RedisRateLimitBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
