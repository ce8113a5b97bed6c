"""The limiter's partitions: one learning state and one bucket per key, least recently used
dropped first.

A partition is the unit the server limits: the whole client (the default), one access token
(`partition="token"`: the key is a hash of the Authorization header, never the token), or
whatever a key function makes of the request (a tenant header).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from typing import Final

from .._clock import Clock
from .._types import Request
from ..auth._base import authorization_hint
from ._bucket import TokenBucket
from ._config import PartitionKey
from ._estimator import Estimator

logger = logging.getLogger("asyncapi_client.ratelimit")

DEFAULT_KEY: Final = "default"


class Partition:
    """One key's bucket and estimator, and what it has counted."""

    __slots__ = ("key", "bucket", "estimator", "rate_limited", "wait_seconds")

    def __init__(self, key: str, bucket: TokenBucket, estimator: Estimator) -> None:
        self.key = key
        self.bucket = bucket
        self.estimator = estimator
        self.rate_limited = 0
        self.wait_seconds = 0.0

    @property
    def busy(self) -> bool:
        return bool(self.estimator.inflight or self.bucket.waiting or self.bucket.outstanding)


def token_partition_key(request: Request) -> str | None:
    """A partition key for the request's credentials: a hash of its Authorization header, or
    of the one its auth strategy will attach (the token itself is never kept)."""
    header = request.headers.get("authorization")
    if not header:
        header = authorization_hint(request.extensions.get("auth"))
        if not header:
            return None
    return hashlib.sha256(header.encode()).hexdigest()[:32]


class Partitions:
    """The registry: `for_request(request)` finds (or makes) the request's partition."""

    __slots__ = ("_make", "_key_of", "_max", "_parts", "default", "last")

    def __init__(
        self,
        make: Callable[[str], Partition],
        partition: str | PartitionKey | None,
        max_partitions: int,
    ) -> None:
        self._make = make
        self._key_of: PartitionKey | None = (
            token_partition_key if partition == "token" else None if isinstance(partition, str) else partition
        )
        self._max = max_partitions
        self._parts: OrderedDict[str, Partition] = OrderedDict()
        self.default = self._add(DEFAULT_KEY)
        self.last = self.default

    @property
    def keyed(self) -> bool:
        return self._key_of is not None

    def __len__(self) -> int:
        return len(self._parts)

    def __iter__(self) -> Iterator[str]:
        return iter(self._parts)

    def get(self, key: str) -> Partition | None:
        return self._parts.get(key)

    def for_request(self, request: Request) -> Partition:
        key_of = self._key_of
        if key_of is None:
            return self.default
        try:
            raw = key_of(request)
        except Exception:  # a user's key function must not break the call
            logger.warning("rate-limit partition key function failed; using the default partition")
            raw = None
        if raw is None:
            part = self.default
        else:
            key = raw if isinstance(raw, str) else repr(raw) if isinstance(raw, Hashable) else DEFAULT_KEY
            parts = self._parts
            found = parts.get(key)
            if found is not None:
                parts.move_to_end(key)
                part = found
            else:
                part = self._add(key)
                if len(parts) > self._max:
                    self._evict()
        self.last = part
        return part

    def _add(self, key: str) -> Partition:
        part = self._make(key)
        self._parts[key] = part
        return part

    def _evict(self) -> None:
        """Drop the least recently used idle partitions (never one with calls in flight)."""
        parts = self._parts
        excess = len(parts) - self._max
        # Look at the oldest few only: O(1) per new partition; if they are all busy, the map
        # stays over its bound for a while rather than scanning thousands.
        for key in list(itertools.islice(parts, excess + 32)):
            if excess <= 0:
                break
            part = parts[key]
            if part is self.default or part.busy:
                continue
            del parts[key]
            excess -= 1


def new_partition(
    key: str,
    *,
    clock: Clock,
    rate: float | None,
    burst: int | None,
    adaptive: bool,
    max_pause: float,
    gated: bool,
) -> Partition:
    now = clock.monotonic()
    estimator = Estimator(rate=rate, burst=burst, adaptive=adaptive, max_pause=max_pause, now=now)
    bucket = TokenBucket(clock, rate=estimator.rate, capacity=estimator.capacity, gated=gated)
    return Partition(key, bucket, estimator)
