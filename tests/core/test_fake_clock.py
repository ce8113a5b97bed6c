"""The pytest plugin's `FakeClock` (`asyncapi_client.testing`): virtual time for users' tests."""

from __future__ import annotations

import anyio
import pytest

from asyncapi_client import AsyncClient, MockTransport, Response, RetryPolicy
from asyncapi_client.testing import DEFAULT_EPOCH, FakeClock

# On asyncio and on trio (the anyio_backend fixture in conftest.py).
pytestmark = pytest.mark.anyio


async def test_sleep_moves_virtual_time_at_once_and_records_the_delay() -> None:
    clock = FakeClock(10.0, epoch=1_700_000_000.0)
    assert (clock.monotonic(), clock.time()) == (10.0, 1_700_000_010.0)
    with anyio.fail_after(1):  # a real sleep of 3600 s would trip this
        await clock.sleep(3600)
        await clock.sleep(-1)  # a negative delay does not move time back
    clock.advance(0.5)
    assert clock.sleeps == [3600, -1]
    assert clock.sleeping.is_set()
    assert clock.monotonic() == 3610.5
    assert clock.time() == 1_700_000_000.0 + 3610.5


def test_defaults() -> None:
    clock = FakeClock()
    assert (clock.monotonic(), clock.time(), clock.sleeps) == (0.0, DEFAULT_EPOCH, [])
    assert not clock.sleeping.is_set()


async def test_a_blocking_sleep_parks_until_cancelled() -> None:
    clock = FakeClock(block=True)
    async with anyio.create_task_group() as tg:
        tg.start_soon(clock.sleep, 5.0)
        with anyio.fail_after(1):
            await clock.sleeping.wait()
        tg.cancel_scope.cancel()
    assert clock.sleeps == [5.0]
    assert clock.monotonic() == 0.0  # the cancelled sleep took no virtual time


async def test_a_client_backs_off_on_the_fake_clock() -> None:
    replies = iter([503, 503, 200])
    transport = MockTransport(lambda request: Response.json_response(next(replies), {}))
    clock = FakeClock()
    retry = RetryPolicy(max_attempts=3, backoff_base=1.0, backoff_max=8.0)
    async with AsyncClient(
        "https://api.example.test", transport=transport, clock=clock, retry=retry
    ) as client:
        with anyio.fail_after(5):
            response = await client.send(client.build_request("GET", "/x"))
    assert response.status_code == 200
    assert len(clock.sleeps) == 2 and all(delay > 0 for delay in clock.sleeps)
    assert clock.monotonic() == pytest.approx(sum(clock.sleeps))
