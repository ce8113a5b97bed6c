"""`RequestSlots`: a bound on requests in flight, handed over first come, first served. asyncio only.

What `asyncio.Semaphore` does, at the cost a transport can pay on every request. With more
callers than slots (256 requests on a pool of 100: nearly every request queues), the standard
semaphore does more than it needs: `locked()` runs a generator over the waiters, each woken
waiter removes itself from the deque (`deque.remove`), and `release()` walks past the futures
already woken but not yet run. Here a released slot is handed straight to the oldest live
waiter (popped from the front). Measured on the benchmark machine, 256 tasks on 100 slots:
2.8 us per request over no bound at all, against 3.7 for `asyncio.Semaphore` (32 tasks: 0.1
against 0.8).

A waiter that is cancelled (or times out) leaves the queue; one cancelled after it was handed a
slot passes the slot on, so no slot is ever lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from ._deadline import fail_after


class RequestSlots:
    """`limit` slots: `take_now()` or `await wait()` for one, `release()` to give it back."""

    __slots__ = ("free", "_waiters")

    def __init__(self, limit: int) -> None:
        self.free = limit
        self._waiters: deque[asyncio.Future[None]] = deque()

    def take_now(self) -> bool:
        """Take a free slot if there is one (and nobody queues before us)."""
        if self.free:
            self.free -= 1
            return True
        return False

    async def wait(self, timeout: float | None) -> None:
        """Queue for a slot; it is ours when this returns. `TimeoutError` when `timeout`
        seconds pass first (None: no limit)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            # fail_after (the shared timer wheel), not asyncio.wait_for: wait_for makes a task
            # per waiter, which at concurrency 256 on a pool of 100 doubled the CPU per request.
            with fail_after(timeout):
                await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot while being cancelled: pass it on
            else:
                waiter.cancel()
                # A release() in between may have popped it already (and skipped it).
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        """Give a slot back: to the oldest waiter still waiting, else to the free count."""
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.free += 1

    @property
    def waiting(self) -> int:
        """Callers queued for a slot."""
        return len(self._waiters)
