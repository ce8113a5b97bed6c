"""`_pyreqwest._Detachable`: a cancellation of the awaiting task stops the wait, not the work.

PyreqwestTransport awaits pyreqwest's coroutine through it, so that a cancelled call can hand
the request, still running in Rust, to a task that closes its response (the conformance
suite's "no socket left after cancellations and aclose()" proves that end to end against a
server). Here with a stand-in for pyreqwest's coroutine: like pyo3's, each step polls work
that runs elsewhere and, while it is pending, yields a fresh future to be woken by."""

from __future__ import annotations

import asyncio
import contextlib
import types
from collections.abc import Generator
from typing import Any

from asyncapi_client.transports._pyreqwest import _Detachable


class _Work:
    """Work running outside the coroutine (as a request runs in Rust)."""

    def __init__(self) -> None:
        self.done = False
        self.polls = 0
        self.waiter: asyncio.Future[None] | None = None

    def finish(self) -> None:
        self.done = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


@types.coroutine
def _polled(work: _Work) -> Generator[Any, None, str]:
    while not work.done:
        work.polls += 1
        waiter = work.waiter = asyncio.get_running_loop().create_future()
        # What awaiting a future does (and pyo3's coroutine with its waker), less reading the
        # future's outcome: resumed, it polls the work again, whichever task drives it.
        waiter._asyncio_future_blocking = True
        yield waiter
    return "reply"


def test_a_cancelled_wait_leaves_the_work_to_be_driven_on_by_another_task() -> None:
    async def main() -> None:
        work = _Work()
        waiter = _Detachable(_polled(work))
        task = asyncio.ensure_future(waiter)
        await asyncio.sleep(0)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        assert task.cancelled() and waiter.detached
        resumed = asyncio.ensure_future(_Detachable(waiter.coro))
        await asyncio.sleep(0)
        work.finish()
        assert await resumed == "reply"
        assert work.polls == 2  # once for each task that drove it

    asyncio.run(main())


def test_an_undisturbed_wait_returns_the_result_and_passes_the_errors_on() -> None:
    async def fails() -> None:
        await asyncio.sleep(0)
        raise ValueError("from the work")

    async def main() -> None:
        work = _Work()
        waiter = _Detachable(_polled(work))
        asyncio.get_running_loop().call_soon(work.finish)
        assert await waiter == "reply" and not waiter.detached
        failing = _Detachable(fails())
        try:
            await failing
        except ValueError as exc:
            assert str(exc) == "from the work"
        else:
            raise AssertionError("the work's error was lost")
        assert not failing.detached

    asyncio.run(main())
