"""Which `webhook-id`s were processed: the receiver's guard against duplicates and replays.

A delivery goes through three steps against the store: `claim` (atomically: processed already?
being processed right now? else mark it in flight), then `complete` once its handlers succeeded,
or `release` when they failed, so that the sender's re-delivery is processed. Recording the id
only after success is what makes a failed handler get its event again; the in-flight mark is what
keeps two concurrent deliveries of one id from both running.
"""

from __future__ import annotations

import enum
import threading
from collections import OrderedDict
from typing import Protocol, runtime_checkable

from .._clock import SYSTEM_CLOCK, Clock
from .._config import check_count, check_seconds

DEFAULT_TTL = 3 * 24 * 3600.0
DEFAULT_MAX_ENTRIES = 100_000


class Claim(enum.Enum):
    """The outcome of `DedupeStore.claim`."""

    CLAIMED = "claimed"  # ours to process; complete() or release() it afterwards
    DUPLICATE = "duplicate"  # processed already: acknowledge, do nothing
    IN_FLIGHT = "in_flight"  # another delivery of the same id is being processed now


@runtime_checkable
class DedupeStore(Protocol):
    """Where processed webhook ids are remembered. Implement it to use another backend."""

    async def claim(self, key: str) -> Claim:
        """Mark `key` (a `webhook-id`) as being processed: `CLAIMED` (process it), `DUPLICATE` (done
        already) or `IN_FLIGHT` (another delivery has it now)."""

    async def complete(self, key: str) -> None:
        """Record `key` as processed, so later deliveries are duplicates."""

    async def release(self, key: str) -> None:
        """Give up a claim (the handler failed), so a re-delivery is processed."""


class InMemoryDedupeStore:
    """Processed ids in this process's memory: right for one worker.

    Ids are kept for `ttl` seconds (default three days, longer than senders' retry schedules)
    and at most `max_entries` of them (the oldest are forgotten first, so memory stays bounded;
    an id forgotten early could be processed again if its message is re-sent later still).
    With several workers or processes, use `RedisDedupeStore` so that they share one view.
    """

    def __init__(
        self,
        *,
        ttl: float = DEFAULT_TTL,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Clock | None = None,
    ) -> None:
        self._ttl = check_seconds("InMemoryDedupeStore ttl", ttl, above_minimum=True)
        self._max_entries = check_count("InMemoryDedupeStore max_entries", max_entries)
        self._clock = clock or SYSTEM_CLOCK
        self._done: OrderedDict[str, float] = OrderedDict()  # id -> expiry (monotonic), oldest first
        self._in_flight: set[str] = set()
        # Plain lock: no await inside, and it keeps the store safe if shared across event loops.
        self._lock = threading.Lock()

    def _purge(self, now: float) -> None:
        done = self._done
        while done:
            key, expiry = next(iter(done.items()))
            if expiry > now:
                break
            del done[key]

    async def claim(self, key: str) -> Claim:
        """See `DedupeStore.claim`."""
        with self._lock:
            self._purge(self._clock.monotonic())
            if key in self._done:
                return Claim.DUPLICATE
            if key in self._in_flight:
                return Claim.IN_FLIGHT
            self._in_flight.add(key)
            return Claim.CLAIMED

    async def complete(self, key: str) -> None:
        """See `DedupeStore.complete`."""
        with self._lock:
            self._in_flight.discard(key)
            self._done[key] = self._clock.monotonic() + self._ttl
            self._done.move_to_end(key)
            while len(self._done) > self._max_entries:
                self._done.popitem(last=False)

    async def release(self, key: str) -> None:
        """See `DedupeStore.release`."""
        with self._lock:
            self._in_flight.discard(key)

    def __len__(self) -> int:
        """How many processed ids are remembered (expired ones may still count until the next claim)."""
        return len(self._done)

    def __repr__(self) -> str:
        return (
            f"InMemoryDedupeStore(ttl={self._ttl:g}, max_entries={self._max_entries}, size={len(self._done)})"
        )
