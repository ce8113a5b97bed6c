"""A clock for the sandbox's own tests: token expiry, bucket refills and reset times without
sleeping."""

from __future__ import annotations

import time

import pytest


class SandboxTime:
    """Stands in for the `time` module in the sandbox's state and token endpoint, so that a test
    moves the sandbox's clock on instead of sleeping. The sandbox (not `isolated`) runs in a
    thread of this process, so it reads this clock at once."""

    def __init__(self) -> None:
        # Starts where the real clocks are, so that tokens and buckets made before agree with it.
        self.now = time.monotonic()
        self.epoch = time.time() - self.now

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.epoch + self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def freeze_sandbox_time(monkeypatch: pytest.MonkeyPatch) -> SandboxTime:
    import asyncapi_sandbox._state
    import asyncapi_sandbox._token

    clock = SandboxTime()
    monkeypatch.setattr(asyncapi_sandbox._state, "time", clock)
    monkeypatch.setattr(asyncapi_sandbox._token, "time", clock)
    return clock
