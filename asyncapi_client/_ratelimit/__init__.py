"""Client-side rate limiting: a token bucket that paces itself by the server's headers and 429s.

`RateLimit` configures it; `RateLimitMiddleware` runs it once per attempt inside the retry
loop; `RedisRateLimitBackend` (extra `redis`, imported only when one is made) shares one bucket
per key between processes. What to learn and decide is `_estimator.Estimator` (pure, sans-I/O);
header parsing is `_headers` (pure functions).
"""

from __future__ import annotations

from ._config import RateLimit, RateLimitBackend
from ._headers import RateLimitInfo, parse_rate_limit_headers
from ._middleware import RateLimitMiddleware
from ._partitions import token_partition_key
from ._redis import RedisRateLimitBackend
from ._status import RateLimitStatus

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
