"""A scripted random source for exact retry tests: the jitter draws a test chooses."""

from __future__ import annotations

from collections.abc import Iterable


class ScriptedRandom:
    """Returns the given values in order, then repeats the last one; counts the calls."""

    def __init__(self, values: Iterable[float]) -> None:
        self.values = list(values)
        self.calls = 0

    def __call__(self) -> float:
        value = self.values[min(self.calls, len(self.values) - 1)]
        self.calls += 1
        return value
