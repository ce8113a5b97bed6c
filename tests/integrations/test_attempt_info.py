"""The per-attempt collector: reports reach every observer of the attempt, and only it."""

from __future__ import annotations

import anyio

from asyncapi_client._attempt_info import (
    begin_attempt_info,
    current_attempt_info,
    end_attempt_info,
    record_limiter_wait,
    record_token_refresh,
)


def test_reports_without_an_observer_are_dropped() -> None:
    assert current_attempt_info() is None
    record_limiter_wait(1.0)
    record_token_refresh()
    assert current_attempt_info() is None


def test_nested_observers_each_see_every_report_and_reset_restores() -> None:
    outer, outer_token = begin_attempt_info()
    inner, inner_token = begin_attempt_info()
    assert current_attempt_info() is inner
    record_limiter_wait(0.5)
    record_limiter_wait(0.0)  # no wait: nothing to add
    record_token_refresh()
    end_attempt_info(inner_token)
    assert current_attempt_info() is outer
    record_limiter_wait(0.25)
    end_attempt_info(outer_token)
    assert current_attempt_info() is None
    assert (inner.limiter_wait_seconds, inner.token_refreshes, inner.token_refreshed) == (0.5, 1, True)
    assert (outer.limiter_wait_seconds, outer.token_refreshes) == (0.75, 1)
    assert "limiter_wait_seconds=0.75" in repr(outer)


async def test_a_task_spawned_by_the_attempt_reports_to_it_and_concurrent_attempts_stay_apart() -> None:
    results: dict[str, float] = {}

    async def attempt(name: str, wait: float) -> None:
        info, token = begin_attempt_info()
        try:
            async with anyio.create_task_group() as tg:  # e.g. a single-flight token refresh
                tg.start_soon(_report, wait)
            await anyio.lowlevel.checkpoint()
        finally:
            end_attempt_info(token)
        results[name] = info.limiter_wait_seconds

    async def _report(wait: float) -> None:
        await anyio.lowlevel.checkpoint()
        record_limiter_wait(wait)

    async with anyio.create_task_group() as tg:
        tg.start_soon(attempt, "a", 1.0)
        tg.start_soon(attempt, "b", 2.0)
    assert results == {"a": 1.0, "b": 2.0}
