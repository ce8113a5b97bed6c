"""A virtual clock and a scripted random source for exact, instant retry tests."""

from __future__ import annotations

from collections.abc import Iterable

import anyio
import anyio.lowlevel

WALL_EPOCH = 1_790_000_000.0  # 2026-09-21: what time() reads at monotonic 0


class FakeClock:
    """`sleep()` advances virtual time at once and records the delay; `advance()` lets a
    handler pretend an attempt took time. With `block=True`, sleep waits forever (until
    cancelled), for cancellation tests."""

    def __init__(self, *, start: float = 0.0, block: bool = False) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self.block = block
        self.sleeping = anyio.Event()

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return WALL_EPOCH + self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if self.block:
            self.sleeping.set()
            await anyio.sleep_forever()
        self.now += max(0.0, seconds)
        await anyio.lowlevel.checkpoint()


class ScriptedRandom:
    """Returns the given values in order, then repeats the last one; counts the calls."""

    def __init__(self, values: Iterable[float]) -> None:
        self.values = list(values)
        self.calls = 0

    def __call__(self) -> float:
        value = self.values[min(self.calls, len(self.values) - 1)]
        self.calls += 1
        return value
