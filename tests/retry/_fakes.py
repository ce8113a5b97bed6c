"""The virtual clock (the SDK's public `FakeClock`) and a scripted random source for exact,
instant retry tests."""

from __future__ import annotations

from collections.abc import Iterable

from asyncapi_client.testing import DEFAULT_EPOCH as WALL_EPOCH
from asyncapi_client.testing import FakeClock

# Re-exported: the retry and pipeline tests import their clock from here.
__all__ = ["WALL_EPOCH", "FakeClock", "ScriptedRandom"]


class ScriptedRandom:
    """Returns the given values in order, then repeats the last one; counts the calls."""

    def __init__(self, values: Iterable[float]) -> None:
        self.values = list(values)
        self.calls = 0

    def __call__(self) -> float:
        value = self.values[min(self.calls, len(self.values) - 1)]
        self.calls += 1
        return value
