"""The limiter tests' virtual time (`tests/support/virtual_time.py`) reports a task that waits for
time to pass with sleeps that take none, instead of spinning (and growing) for ever; it leaves
the loop as it found it, and runs one after the other in a process keep nothing."""

from __future__ import annotations

import asyncio
import gc
import weakref

import anyio
import pytest

from asyncapi_client import AsyncClient, BearerToken, MockTransport, Request, Response
from tests.support import virtual_time as vt
from tests.support.virtual_time import STILL_LIMIT, virtual_time

# virtual_time() drives asyncio's loop: these run on asyncio only.
pytestmark = pytest.mark.anyio
USER = b'{"id":1,"name":"Ada","email":"ada@example.com","created_at":"2024-01-01T00:00:00Z"}'


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_sleeps_too_short_for_the_clock_are_reported_in_the_sleeping_task() -> None:
    loop = asyncio.get_running_loop()
    sleeps = 0
    with pytest.raises(RuntimeError, match="spinning"), virtual_time(1000.0) as clock:
        start = clock.monotonic()
        # 1e-14 s is under half the float spacing at 1000 s: such a sleep is due at once.
        while clock.monotonic() == start and sleeps < 10 * STILL_LIMIT:
            sleeps += 1
            await anyio.sleep(1e-14)
    assert sleeps == STILL_LIMIT + 1
    # The loop is left as it was: its own class's methods, nothing set on it.
    assert "time" not in vars(loop) and "call_later" not in vars(loop)
    assert "select" not in vars(loop._selector)  # type: ignore[attr-defined]


async def test_short_sleeps_that_time_can_represent_move_it() -> None:
    with virtual_time(1000.0) as clock:
        start = clock.monotonic()
        for _ in range(10 * STILL_LIMIT):
            await anyio.sleep(1e-12)
    assert clock.monotonic() > start


def test_a_loop_that_only_yields_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop itself stops (the spin is no task's sleep): run in a loop of its own."""
    monkeypatch.setattr(vt, "STUCK_LIMIT", 100)
    turns = 0

    async def spin() -> None:
        nonlocal turns
        with virtual_time():
            while turns < 1000:
                turns += 1
                await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match="the loop turned 101 times"):
        asyncio.run(spin())
    assert turns == 101


async def test_runs_one_after_the_other_leave_no_client_behind() -> None:
    """A rate-limited run per phase, many in one process: each run's client, its limiter and
    its transport are garbage once it is closed, whatever time the runs started at."""
    alive: list[weakref.ref[object]] = []

    async def handler(request: Request) -> Response:
        await anyio.sleep(0.004)
        return Response(200, {"content-type": "application/json"}, USER)

    for phase in (0.0, 0.5, 0.0):
        with virtual_time(1000.0 + phase) as clock:
            client = AsyncClient(
                "https://api.example.com",
                transport=MockTransport(handler, record=False),
                clock=clock,
                auth=BearerToken("t"),
            )
            async with client, anyio.create_task_group() as tg:
                for _ in range(8):
                    tg.start_soon(client.users.me)
            alive += [weakref.ref(client), weakref.ref(client._shared.limiter)]
            del client
    gc.collect()
    assert [ref() for ref in alive] == [None] * len(alive)
