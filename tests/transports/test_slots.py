"""`RequestSlots`: first come first served, and no slot lost to a cancelled or timed-out waiter."""

from __future__ import annotations

import asyncio

import pytest

from asyncapi_client.transports._slots import RequestSlots


async def _until(condition: object) -> None:
    """Let the other tasks run until `condition()` holds (no clock involved)."""
    for _ in range(1000):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0)
    raise AssertionError("the tasks never got there")


async def _take(slots: RequestSlots, order: list[int], i: int) -> None:
    if not slots.take_now():
        await slots.wait(None)
    order.append(i)


def test_slots_go_to_waiters_in_arrival_order() -> None:
    async def main() -> None:
        slots = RequestSlots(2)
        order: list[int] = []
        await _take(slots, order, 0)
        await _take(slots, order, 1)
        tasks = [asyncio.create_task(_take(slots, order, i)) for i in range(2, 6)]
        await _until(lambda: slots.waiting == 4)
        for expected in range(2, 6):
            slots.release()
            await _until(lambda expected=expected: order[-1] == expected)
        await asyncio.gather(*tasks)
        assert order == [0, 1, 2, 3, 4, 5]
        assert slots.free == 0 and slots.waiting == 0

    asyncio.run(main())


def test_a_cancelled_waiter_leaves_the_queue_and_takes_no_slot() -> None:
    async def main() -> None:
        slots = RequestSlots(1)
        assert slots.take_now()
        order: list[int] = []
        first = asyncio.create_task(_take(slots, order, 1))
        second = asyncio.create_task(_take(slots, order, 2))
        await _until(lambda: slots.waiting == 2)
        first.cancel()
        with pytest.raises(asyncio.CancelledError):
            await first
        assert slots.waiting == 1
        slots.release()
        await _until(second.done)
        assert order == [2]
        slots.release()
        assert slots.free == 1 and slots.waiting == 0

    asyncio.run(main())


def test_a_waiter_cancelled_after_it_was_handed_a_slot_passes_it_on() -> None:
    async def main() -> None:
        slots = RequestSlots(1)
        assert slots.take_now()
        order: list[int] = []
        first = asyncio.create_task(_take(slots, order, 1))
        second = asyncio.create_task(_take(slots, order, 2))
        await _until(lambda: slots.waiting == 2)
        slots.release()  # handed to `first`, which has not run yet...
        first.cancel()  # ...and is cancelled before it does
        with pytest.raises(asyncio.CancelledError):
            await first
        await _until(second.done)  # the slot went on to the next waiter
        assert order == [2]
        slots.release()
        assert slots.free == 1 and slots.waiting == 0

    asyncio.run(main())


def test_a_slot_freed_with_nobody_waiting_is_free_again() -> None:
    async def main() -> None:
        slots = RequestSlots(1)
        assert slots.take_now()
        assert not slots.take_now()
        slots.release()
        assert slots.free == 1
        assert slots.take_now()

    asyncio.run(main())


def test_a_waiter_that_times_out_leaves_the_queue_and_takes_no_slot() -> None:
    async def main() -> None:
        slots = RequestSlots(1)
        assert slots.take_now()
        with pytest.raises(TimeoutError):
            await slots.wait(0.0)  # due at once: the timer wheel's next turn ends it
        assert slots.waiting == 0
        slots.release()
        assert slots.free == 1

    asyncio.run(main())
