"""What the Redis backends share: opening the client, and the asyncio check.

redis-py's asyncio client (`redis.asyncio`) runs on asyncio only: under trio its first command
fails with `RuntimeError: no running event loop` (wrapped in a `ConnectionError`), which a
backend that fails open would take for an outage and silently stop sharing. So every Redis
backend refuses trio with `AsyncioRequiredError`: at construction when it is made inside a
running trio program, else at its first operation (`AsyncioGuard`). `redis` is imported only
here, when a backend is made.
"""

from __future__ import annotations

from typing import Any

import sniffio

from ._errors import AsyncioRequiredError


def _running_library() -> str | None:
    try:
        return sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return None


def require_asyncio(who: str) -> None:
    """Raise `AsyncioRequiredError` if this runs under an async library other than asyncio."""
    library = _running_library()
    if library is not None and library != "asyncio":
        raise AsyncioRequiredError(
            f"{who} needs asyncio: redis-py's asyncio client does not run on {library}. Run the "
            f"program with asyncio (anyio.run(main) or asyncio.run(main)), or leave {who} out"
        )


class AsyncioGuard:
    """`guard.check()` at each operation: the library is looked up once, at the first one."""

    __slots__ = ("_who", "_checked")

    def __init__(self, who: str) -> None:
        self._who = who
        self._checked = False
        require_asyncio(who)

    def check(self) -> None:
        if not self._checked:
            require_asyncio(self._who)
            self._checked = _running_library() == "asyncio"


def open_redis(redis: Any, who: str, *, socket_timeout: float | None = None) -> tuple[Any, bool]:
    """`(client, owned)`: a client opened from a `redis://` URL (owned: the backend closes it,
    with `socket_timeout` on every command and connect) or the `redis.asyncio.Redis` given."""
    import redis.asyncio as aioredis

    if isinstance(redis, str):
        if socket_timeout is None:
            return aioredis.from_url(redis), True
        return aioredis.from_url(
            redis, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
        ), True
    if isinstance(redis, aioredis.Redis):
        return redis, False
    raise TypeError(f"{who} needs a redis:// URL or a redis.asyncio.Redis, got {type(redis).__name__}")
