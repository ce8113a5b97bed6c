"""Leaving a task group that an object owns for the length of a caller's `async with` block.

The pager and the bulk job open an anyio task group in `__aenter__` and close it in
`__aexit__`, with the caller's code running in between. Both need the same exit: cancel what is
still running (nothing in it is wanted once the block ends), wait for it, and hand back the
block's own exception unchanged.
"""

from __future__ import annotations

from types import TracebackType

from anyio.abc import TaskGroup


async def cancel_and_exit(
    task_group: TaskGroup,
    exc_type: type[BaseException] | None,
    exc: BaseException | None,
    tb: TracebackType | None,
) -> bool:
    """Cancel `task_group`'s tasks and exit it with the block's exception; returns what an
    `__aexit__` returns (True: the exception was suppressed)."""
    task_group.cancel_scope.cancel()
    try:
        return bool(await task_group.__aexit__(exc_type, exc, tb))
    except BaseException as group:
        # anyio wraps the block's own exception in an ExceptionGroup; the owners' tasks never
        # raise, so a group holding only that exception means: re-raise it as it was.
        inner = getattr(group, "exceptions", None)
        if exc is not None and isinstance(inner, tuple) and len(inner) == 1 and inner[0] is exc:
            return False
        raise
