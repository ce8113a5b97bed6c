"""`fail_after(seconds)`: `anyio.fail_after`'s meaning at half its cost on asyncio.

Bounding an attempt is on the hot path of every request (the client's backstop and the httpcore
transports' attempt bound). `anyio.fail_after` costs about 8 microseconds per use on asyncio
(measured on the benchmark machine), `asyncio.timeout` about 4 (and more under load: see
`_Wheel`), and this plain context manager (`Task.cancel` / `Task.uncancel` exactly as
`asyncio.timeout` does them, on a coarse timer wheel shared by the loop) about 1. Deadlines fire
up to `_GRAIN` (50 ms) late, never early: fine for attempt timeouts and backstops. On trio, on Python 3.10 (no `Task.uncancel`) and when no asyncio task is running, it defers
to `anyio.fail_after`. A `None` deadline costs nothing.

Semantics are asyncio.timeout's: when the deadline passes, the task is cancelled and the
`CancelledError` that comes out of the block becomes `TimeoutError`, unless something else
cancelled the task too, in which case the cancellation propagates.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time as _time
import weakref
from types import TracebackType
from typing import Any

import anyio

_get_running_loop = asyncio._get_running_loop
_HAS_UNCANCEL = hasattr(asyncio.Task, "uncancel")
# `asyncio.current_task(loop)` is `_current_tasks.get(loop)` on 3.11 to 3.13: reading the dict
# is one Python call less per use. Later versions keep the current task elsewhere, so there
# (or if the dict is gone) the public function answers.
_tasks_by_loop: Any = getattr(asyncio.tasks, "_current_tasks", None)
_task_of: Any = (
    _tasks_by_loop.get
    if sys.version_info < (3, 14) and isinstance(_tasks_by_loop, dict)
    else asyncio.current_task
)


_GRAIN = 0.05  # seconds: deadlines fire up to this late, never early
_new = object.__new__


class _Wheel:
    """One event loop's deadlines, bucketed by `_GRAIN`: one timer handle per bucket, not per use.

    A per-use `call_later` costs a TimerHandle and a heap push, and a cancelled handle stays in
    the loop's heap until a rebuild; at thousands of requests per second that measured about
    9 microseconds per request over the network, for a deadline that almost never fires. Here a
    use is a set insertion and removal (done inline by `_AsyncioDeadline`: a method call per
    use was a measurable part of its cost).
    """

    __slots__ = ("buckets", "loop", "time")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        # The loop is the key of a weak dictionary of wheels: a strong reference here would
        # keep it alive, so the wheel keeps only a weak proxy of it and its clock.
        self.buckets: dict[int, set[_AsyncioDeadline]] = {}
        self.loop: Any = weakref.proxy(loop)
        proxy = self.loop
        # asyncio's own loops read time.monotonic (a bound `loop.time` would hold the loop),
        # unless `time` was replaced on the loop itself (as test tools that make time virtual
        # do): the timers are set on `loop.time`, so the slots are read on it too (on another
        # clock they would never fall due, and emptied buckets would pile up).
        standard = type(loop).time is asyncio.BaseEventLoop.time and "time" not in vars(loop)
        self.time: Any = _time.monotonic if standard else (lambda: proxy.time())

    def new_bucket(self, slot: int) -> set[_AsyncioDeadline]:
        bucket = self.buckets[slot] = set()
        self.loop.call_at(slot * _GRAIN, self._fire, slot)
        return bucket

    def _fire(self, slot: int) -> None:
        for entry in self.buckets.pop(slot, ()):
            entry.fire()


_wheels: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Wheel] = weakref.WeakKeyDictionary()


_last: tuple[Any, _Wheel | None] = (None, None)  # (loop, its wheel): skips the weak lookup


def _wheel(loop: asyncio.AbstractEventLoop) -> _Wheel:
    global _last
    wheel = _wheels.get(loop)
    if wheel is None:
        wheel = _wheels[loop] = _Wheel(loop)
    _last = (loop, wheel)
    return wheel


class _AsyncioDeadline:
    __slots__ = ("_delay", "_task", "_wheel", "_bucket", "_cancelling", "_expired")

    # Made by fail_after with _new and plain attribute stores: no __init__ call per use.
    _delay: float
    _task: Any  # an asyncio.Task with cancelling()/uncancel() (3.11+)
    _wheel: _Wheel
    _bucket: set[_AsyncioDeadline]
    _cancelling: int
    _expired: bool

    def __enter__(self) -> None:
        self._cancelling = self._task.cancelling()
        wheel = self._wheel
        slot = int((wheel.time() + self._delay) / _GRAIN) + 1
        bucket = wheel.buckets.get(slot)
        if bucket is None:
            bucket = wheel.new_bucket(slot)
        bucket.add(self)
        self._bucket = bucket

    def fire(self) -> None:
        self._expired = True
        self._task.cancel()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # A bucket that already fired was popped: discarding from it is harmless.
        self._bucket.discard(self)
        # When it fired, undo our own cancel() whatever happened (so an outer scope's count
        # stays right), and turn the CancelledError it caused into TimeoutError.
        if self._expired and self._task.uncancel() <= self._cancelling and exc_type is asyncio.CancelledError:
            raise TimeoutError from exc


def fail_after(seconds: float | None) -> contextlib.AbstractContextManager[Any]:
    """A context manager that raises `TimeoutError` when its block runs past `seconds`."""
    if seconds is None:
        return contextlib.nullcontext()
    if _HAS_UNCANCEL:
        loop = _get_running_loop()
        if loop is not None:
            task = _task_of(loop)
            if task is not None:
                last_loop, wheel = _last
                if last_loop is not loop or wheel is None:
                    wheel = _wheel(loop)
                deadline: _AsyncioDeadline = _new(_AsyncioDeadline)
                deadline._delay = seconds
                deadline._task = task
                deadline._wheel = wheel
                deadline._expired = False
                return deadline
    return anyio.fail_after(seconds)
