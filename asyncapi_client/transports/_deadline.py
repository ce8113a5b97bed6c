"""`fail_after(seconds)`: `anyio.fail_after`'s meaning at half its cost on asyncio.

Bounding an attempt is on the hot path of every request (the client's backstop and the httpcore
transports' attempt bound). `anyio.fail_after` costs about 8 microseconds per use on asyncio
(measured on the benchmark machine), `asyncio.timeout` about 4, and this plain context manager
(one timer handle, `Task.cancel` / `Task.uncancel` exactly as `asyncio.timeout` does them) about
2. On trio, on Python 3.10 (no `Task.uncancel`) and when no asyncio task is running, it defers
to `anyio.fail_after`. A `None` deadline costs nothing.

Semantics are asyncio.timeout's: when the deadline passes, the task is cancelled and the
`CancelledError` that comes out of the block becomes `TimeoutError`, unless something else
cancelled the task too, in which case the cancellation propagates.
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType
from typing import Any

import anyio

_get_running_loop = asyncio._get_running_loop
_current_task = asyncio.current_task
_HAS_UNCANCEL = hasattr(asyncio.Task, "uncancel")


class _AsyncioDeadline:
    __slots__ = ("_delay", "_task", "_handle", "_cancelling", "_expired")

    def __init__(self, delay: float, task: Any) -> None:
        self._delay = delay
        self._task = task  # an asyncio.Task with cancelling()/uncancel() (3.11+)
        self._handle: asyncio.TimerHandle | None = None
        self._cancelling = 0
        self._expired = False

    def __enter__(self) -> None:
        task = self._task
        self._cancelling = task.cancelling()
        self._handle = task.get_loop().call_later(self._delay, self._fire)

    def _fire(self) -> None:
        self._expired = True
        self._task.cancel()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        # When it fired, undo our own cancel() whatever happened (so an outer scope's count
        # stays right), and turn the CancelledError it caused into TimeoutError.
        if self._expired and self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
            raise TimeoutError from exc


def fail_after(seconds: float | None) -> contextlib.AbstractContextManager[Any]:
    """A context manager that raises `TimeoutError` when its block runs past `seconds`."""
    if seconds is None:
        return contextlib.nullcontext()
    if _HAS_UNCANCEL and _get_running_loop() is not None:
        task = _current_task()
        if task is not None:
            return _AsyncioDeadline(seconds, task)
    return anyio.fail_after(seconds)
