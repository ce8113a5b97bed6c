"""The waits for shared state: `SharedBucket` (a configured rate: one reservation per attempt)
and `SharedLearning` (no rate: leases of the fleet's learned rate, see `_fleet.py`).

The backend reserves a token and says how long to wait before using it; the wait is a sleep on
the client's clock. A reservation that would pass the call's deadline (or `max_wait`) is refused
by the backend and nothing is taken; a waiter cancelled while it sleeps gives its reserved token
back, so the other processes do not lose it. A pause the server set (Retry-After) is pushed to
the backend, capped, so that every process sharing the bucket pauses.
"""

from __future__ import annotations

import anyio

from .._clock import Clock
from ._config import RateLimitBackend, SharedLearningBackend
from ._fleet import FleetLearner, Lease


class SharedBucket:
    """One backend, with the rate and burst of its buckets."""

    __slots__ = ("backend", "rate", "burst", "_clock")

    def __init__(self, backend: RateLimitBackend, *, rate: float, burst: int, clock: Clock) -> None:
        self.backend = backend
        self.rate = rate
        self.burst = burst
        self._clock = clock

    async def wait(self, key: str, max_wait: float | None) -> float | None:
        """Reserve a token of bucket `key` and sleep until it is due; the seconds waited, or
        None when the backend refused (the wait would pass `max_wait`; nothing was taken)."""
        backend = self.backend
        wait = await backend.acquire(key, rate=self.rate, burst=self.burst, max_wait=max_wait)
        if wait is None:
            return None
        if wait > 0:
            try:
                await self._clock.sleep(wait)
            except BaseException:
                # Cancelled while waiting: give the reserved token back to everyone.
                with anyio.CancelScope(shield=True):
                    await backend.release(key, rate=self.rate, burst=self.burst)
                raise
        return wait

    async def pause(self, key: str, seconds: float) -> None:
        await self.backend.pause(key, seconds, rate=self.rate, burst=self.burst)

    async def aclose(self) -> None:
        await self.backend.aclose()


class _FleetPartition:
    __slots__ = ("lease", "learner", "fetching")

    def __init__(self) -> None:
        self.lease = Lease()
        self.learner = FleetLearner()
        self.fetching: anyio.Event | None = None


class SharedLearning:
    """The I/O of shared learning (see `_fleet.py`): leases slots from the backend and hands
    them to this process's requests, proposes cuts, gives slots back, spreads pauses."""

    __slots__ = ("backend", "_clock", "_parts")

    def __init__(self, backend: SharedLearningBackend, *, clock: Clock) -> None:
        self.backend = backend
        self._clock = clock
        self._parts: dict[str, _FleetPartition] = {}

    def _part(self, key: str) -> _FleetPartition:
        part = self._parts.get(key)
        if part is None:
            part = self._parts[key] = _FleetPartition()
        return part

    def rate(self, key: str) -> float | None:
        """The fleet's rate at the last lease of partition `key` (None: open or unknown)."""
        part = self._parts.get(key)
        return None if part is None else part.lease.rate

    async def take(self, key: str, deadline: float | None) -> int | None:
        """Wait for a slot of the fleet's bucket `key` and return the epoch it belongs to; None
        when the wait would pass `deadline` (nothing taken). Most calls take a slot this process
        already leased and make no round trip."""
        part = self._part(key)
        lease = part.lease
        clock = self._clock
        while True:
            now = clock.monotonic()
            stale = lease.expire(now)
            if stale:
                await self.backend.give(key, stale)
            at = lease.take()
            if at is not None:
                epoch = lease.epoch  # the slot's, even if a cut renews the lease while it waits
                if at > now:
                    if deadline is not None and at > deadline:
                        lease.put_back(at)
                        return None
                    try:
                        await clock.sleep(at - now)
                    except BaseException:
                        lease.put_back(at)  # cancelled: the next request of this process takes it
                        raise
                return epoch
            if part.fetching is not None:
                await part.fetching.wait()
                continue
            fetching = part.fetching = anyio.Event()
            try:
                fetch_at = lease.fetch_at(now)
                if fetch_at > now:
                    # The slots handed out reach far enough ahead: do not lease further yet.
                    await clock.sleep(fetch_at - now)
                left = None if deadline is None else max(0.0, deadline - clock.monotonic())
                grant = await self.backend.lease(
                    key,
                    lease.want(),
                    granted=part.learner.report(),
                    ceiling=part.learner.ceiling,
                    burst=part.learner.burst,
                    max_wait=left,
                    below=part.learner.report_below(),
                )
            finally:
                part.fetching = None
                fetching.set()
            if grant is None:  # the store is down and fails open: go
                return lease.epoch
            if not grant.accepted:
                return None
            part.learner.known_epoch = max(part.learner.known_epoch, grant.epoch)
            stale = lease.fill(grant, clock.monotonic())
            if stale:
                await self.backend.give(key, stale)

    async def answered(
        self,
        key: str,
        status: int,
        epoch: int,
        sent_at: float,
        *,
        server_rate: float | None,
        limit: int | None,
        retry_after: float | None,
        empty: bool = False,
        remaining: int | None = None,
    ) -> None:
        """A response to a request sent with a slot of `epoch`: a 429 (or a success that found
        the server's bucket `empty`) of the current epoch is proposed as a cut; if it was one,
        the slots still held go back to be leased anew."""
        part = self._parts.get(key)
        if part is None:
            return
        learner = part.learner
        cut = learner.answered(
            status,
            epoch,
            sent_at,
            self._clock.monotonic(),
            server_rate=server_rate,
            limit=limit,
            retry_after=retry_after,
            empty=empty,
            remaining=remaining,
            open_fleet=part.lease.rate is None,
        )
        if cut is None:
            return
        grant = await self.backend.cut(
            key,
            epoch=cut.epoch,
            sent_ago=cut.sent_ago,
            pause=cut.pause,
            granted=learner.report(),
            beta=cut.beta,
        )
        if grant is None:
            return
        learner.known_epoch = max(learner.known_epoch, grant.epoch)
        part.lease.rate = grant.rate
        stale = part.lease.renew(grant.epoch)
        if stale:
            await self.backend.give(key, stale)

    async def pause(self, key: str, seconds: float) -> None:
        """The server's bucket is empty (or it said Retry-After): every process waits."""
        await self.backend.fleet_pause(key, seconds)

    async def aclose(self) -> None:
        await self.backend.aclose()
