"""`transports._deadline.fail_after`: anyio.fail_after's meaning, on both backends."""

from __future__ import annotations

import asyncio

import anyio
import anyio.lowlevel
import pytest

from asyncapi_client.transports._deadline import fail_after


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_expiry_raises_timeout_error(backend: str) -> None:
    async def main() -> None:
        with pytest.raises(TimeoutError), fail_after(0.01):
            await anyio.sleep(5)
        # The task is usable afterwards: no stray cancellation left behind.
        await anyio.sleep(0.01)

    anyio.run(main, backend=backend)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_block_that_finishes_in_time_returns_normally(backend: str) -> None:
    async def main() -> int:
        with fail_after(5):
            await anyio.lowlevel.checkpoint()
        with fail_after(None):
            await anyio.lowlevel.checkpoint()
        return 1

    assert anyio.run(main, backend=backend) == 1


def test_a_loop_whose_clock_was_replaced_keeps_deadlines_on_that_clock() -> None:
    """`loop.time` replaced on the loop itself (the limiter tests' virtual time): a deadline
    fires on that clock, within the wheel's grain, and its bucket goes with it."""
    from asyncapi_client.transports._deadline import _GRAIN, _wheel
    from tests.support.virtual_time import virtual_time

    async def main() -> None:
        loop = asyncio.get_running_loop()
        with virtual_time(1000.0) as clock:
            start = clock.monotonic()
            with pytest.raises(TimeoutError), fail_after(1.0):
                await anyio.sleep(5)
            assert 1.0 <= clock.monotonic() - start <= 1.0 + 2 * _GRAIN
            with fail_after(1.0):
                await anyio.sleep(0.5)
            await anyio.sleep(1.0 + 2 * _GRAIN)
            assert _wheel(loop).buckets == {}

    asyncio.run(main())


def test_outer_cancellation_is_not_turned_into_timeout() -> None:
    async def main() -> None:
        async def inner() -> None:
            with fail_after(10):
                await asyncio.sleep(5)

        task = asyncio.create_task(inner())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())


def test_nested_inner_deadline_fires_first_and_outer_scope_stays_intact() -> None:
    async def main() -> None:
        with anyio.CancelScope() as outer:
            with pytest.raises(TimeoutError), fail_after(0.01):
                await anyio.sleep(5)
            # Idle a while: a stray cancellation from the inner deadline would land here.
            with anyio.move_on_after(0.01) as idle:
                await anyio.sleep_forever()
        assert idle.cancelled_caught and not outer.cancel_called
        with anyio.move_on_after(0.01) as scope:
            with fail_after(10):
                await anyio.sleep(5)
        assert scope.cancelled_caught

    anyio.run(main, backend="asyncio")
