"""An O(1) HTTP/1.1 connection pool over httpcore's (or httpcore2's) own connections.

Why: httpcore's `AsyncConnectionPool` re-examines every connection on each request, twice (on
acquire and on release), and each examination asks the socket whether it is readable through
anyio's typed-attribute machinery (about 10 microseconds). At concurrency 32 that was half of
the CPU of a request (py-spy, benchmarks/overhead.py); at 256 it is most of it. This pool keeps
httpcore's connections (`AsyncHTTPConnection`: connecting, TLS, h11, per-operation timeouts,
closing on cancellation) and replaces only the bookkeeping:

- a counter of free request slots (`max_connections`), with a FIFO of waiters that are handed
  a slot directly when one frees up (cancelled waiters hand theirs on);
- per origin, a LIFO list of idle connections (the most recently used is the least likely to
  have been closed by the server); before reuse, a connection's socket is polled for a
  server-side close (one `poll`, cached socket), and one idle for longer than
  `_CHECK_IDLE_AFTER` seconds gets httpcore's full `has_expired()` (keep-alive expiry too);
  every `_SWEEP_EVERY` seconds the idle lists are swept for expired connections;
- at most `max_connections` connections: a new one evicts the least recently used idle
  connection of another origin when the pool is full.

HTTP/2 (one connection, many streams) and proxied requests stay on httpcore's own pools, and
so does everything when `fast_path_problem` finds the private layout this pool relies on
changed or missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import time
from collections import deque
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any, TypeVar

import anyio

from ._asyncio_net import AsyncioBackend, AsyncioStream

_CHECK_IDLE_AFTER = 0.5
_HAS_UNCANCEL = hasattr(asyncio.Task, "uncancel")  # Python 3.11+: the asyncio backend's deadlines
_SWEEP_EVERY = 5.0
_get_running_loop = getattr(asyncio, "_get_running_loop", None)
T = TypeVar("T")
R = TypeVar("R")

# The versions whose internals this pool was tested against, [first, last] by (major, minor),
# for each module it runs over. pyproject.toml pins the same ranges; tests/transports/
# test_fast_path.py fails when the installed version leaves them or the layout changes.
TESTED_VERSIONS: dict[str, tuple[tuple[int, int], tuple[int, int]]] = {
    "httpcore": ((1, 0), (1, 0)),
    "httpcore2": ((2, 16), (2, 16)),
}


def fast_path_problem(core: ModuleType) -> str | None:
    """Why `Http1Pool` cannot run over `core` here, or None when it can.

    The pool reaches into httpcore's private layout: a connection's `_request_lock` and
    `_connection`, the HTTP/1.1 connection's `_state_lock` and `_network_stream`; it asks the
    socket with `select.poll` (absent on Windows) and finds the loop with
    `asyncio._get_running_loop`. Outside the tested versions, or when any of these is missing,
    the transport uses httpcore's public pool instead.
    """
    name = core.__name__
    tested = TESTED_VERSIONS.get(name)
    if tested is None:
        return f"{name} is not a module this pool was tested over"
    version = _major_minor(getattr(core, "__version__", ""))
    if version is None or not tested[0] <= version <= tested[1]:
        first, last = (".".join(map(str, v)) for v in tested)
        return f"{name} {getattr(core, '__version__', '?')} is outside the tested {first} to {last}.x"
    if not hasattr(select, "poll"):
        return "select.poll is not available on this platform"
    if _get_running_loop is None:
        return "asyncio._get_running_loop is not available"
    try:
        conn = core.AsyncHTTPConnection(origin=core.Origin(b"http", b"127.0.0.1", 80))
        inner = core.AsyncHTTP11Connection(origin=core.Origin(b"http", b"127.0.0.1", 80), stream=None)
    except Exception as exc:  # a changed signature
        return f"{name}'s connection classes changed: {type(exc).__name__}: {exc}"
    for obj, attributes in (
        (conn, ("_request_lock", "_connection")),
        (inner, ("_state_lock", "_network_stream")),
    ):
        for attribute in attributes:
            if not hasattr(obj, attribute):
                return f"{name}'s {type(obj).__name__} has no {attribute} any more"
    return None


def _major_minor(version: str) -> tuple[int, int] | None:
    parts = version.split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return None


class Http1Pool:
    def __init__(self, core: Any, *, ssl_context: Any, max_connections: int, keepalive_expiry: float) -> None:
        self._connection_cls = core.AsyncHTTPConnection
        # Our lean asyncio socket layer (see _asyncio_net.py); None: httpcore's automatic one.
        self._asyncio_backend = AsyncioBackend(core) if _HAS_UNCANCEL else None
        self._ssl_context = ssl_context
        self._keepalive_expiry = keepalive_expiry
        self._max = max_connections
        self._free = max_connections
        self._waiters: deque[anyio.Event] = deque()
        # origin key -> [(idle since, connection), ...], most recently used last.
        self._idle: dict[str, list[tuple[float, Any]]] = {}
        self._active: set[Any] = set()
        self._n_idle = 0
        self._stale: list[Any] = []  # taken out of the idle lists, to close on the next await
        self._last_sweep = time.monotonic()

    # -- slots -----------------------------------------------------------------------------

    async def _wait_for_slot(self) -> None:
        event = anyio.Event()
        self._waiters.append(event)
        try:
            await event.wait()
        except BaseException:
            if event.is_set():
                self._release_slot()  # handed a slot while being cancelled: pass it on
            else:
                self._waiters.remove(event)
            raise

    def _release_slot(self) -> None:
        if self._waiters:
            self._waiters.popleft().set()
        else:
            self._free += 1

    # -- the request -----------------------------------------------------------------------

    async def request(
        self, key: str, origin: Any, core_request: Any, read: Callable[[Any, T], Awaitable[R]], arg: T
    ) -> R:
        """Send `core_request` on a pooled connection to `origin` (`key`: its URL text), and
        return `await read(response, arg)`: the body is read before the connection goes back."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
        else:
            await self._wait_for_slot()
        conn: Any = None
        try:
            conn = self._checkout(key)
            if conn is None:
                conn = await self._new_connection(origin)
            self._active.add(conn)
            response = await conn.handle_async_request(core_request)
            try:
                return await read(response, arg)
            finally:
                # Closing a response whose body was not read to the end (a size limit, a
                # cancellation) closes its connection: httpcore reuses only finished ones.
                await response.aclose()
        finally:
            if conn is not None:
                self._active.discard(conn)
                # is_closed() first: a connection that failed to connect also reports idle.
                if conn.is_closed():
                    pass
                elif conn.is_idle():
                    if "_asyncapi_locks" in conn.__dict__:
                        _use_asyncio_locks(conn)
                    self._idle.setdefault(key, []).append((time.monotonic(), conn))
                    self._n_idle += 1
                elif not conn.is_closed():
                    await _close([conn])  # neither reusable nor closed (e.g. never connected)
            self._release_slot()
            if time.monotonic() - self._last_sweep > _SWEEP_EVERY:
                await self._sweep()

    def _checkout(self, key: str) -> Any:
        idle = self._idle.get(key)
        if not idle:
            return None
        now = time.monotonic()
        # Past this much idle time, the full check (keep-alive expiry included) is worth it.
        full_check_after = min(_CHECK_IDLE_AFTER, self._keepalive_expiry)
        while idle:
            since, conn = idle.pop()
            self._n_idle -= 1
            if conn.is_available() and not (
                conn.has_expired() if now - since >= full_check_after else _server_closed(conn)
            ):
                return conn
            self._stale.append(conn)
        return None

    async def _new_connection(self, origin: Any) -> Any:
        stale, self._stale = self._stale, []
        if len(self._active) + self._n_idle + 1 > self._max:
            victim = self._evict()
            if victim is not None:
                stale.append(victim)
        if stale:
            await _close(stale)
        backend = self._asyncio_backend
        if backend is not None and _get_running_loop is not None and _get_running_loop() is None:
            backend = None  # trio (or another loop): httpcore picks its own
        conn = self._connection_cls(
            origin=origin,
            ssl_context=self._ssl_context,
            keepalive_expiry=self._keepalive_expiry,
            http1=True,
            http2=False,
            retries=0,
            network_backend=backend,
        )
        if backend is not None:
            _use_asyncio_locks(conn)
        return conn

    def _evict(self) -> Any:
        """Take the least recently used idle connection (any origin) out of the pool."""
        oldest: tuple[float, Any, list[tuple[float, Any]]] | None = None
        for conns in self._idle.values():
            if conns and (oldest is None or conns[0][0] < oldest[0]):
                oldest = (conns[0][0], conns[0][1], conns)
        if oldest is None:
            return None
        oldest[2].pop(0)
        self._n_idle -= 1
        return oldest[1]

    async def _sweep(self) -> None:
        self._last_sweep = time.monotonic()
        expired: list[Any] = []
        for key, conns in list(self._idle.items()):
            keep: list[tuple[float, Any]] = []
            for item in conns:
                if item[1].has_expired():
                    expired.append(item[1])
                else:
                    keep.append(item)
            if keep:
                self._idle[key] = keep
            else:
                del self._idle[key]
        self._n_idle -= len(expired)
        expired += self._stale
        self._stale = []
        if expired:
            await _close(expired)

    async def aclose(self) -> None:
        conns = [conn for conns in self._idle.values() for _, conn in conns]
        conns += list(self._active) + self._stale
        self._idle.clear()
        self._active.clear()
        self._stale = []
        self._n_idle = 0
        await _close(conns)

    def status(self) -> tuple[int, int]:
        """(connections open, requests in flight)."""
        return self._n_idle + len(self._active), self._max - self._free


_UNKNOWN = object()


def _use_asyncio_locks(conn: Any) -> None:
    """Swap httpcore's per-connection anyio locks for asyncio's.

    This pool gives a connection to one request at a time, so its locks are never contended,
    yet an anyio `Lock` takes a shielded checkpoint (a trip through the event loop) on every
    acquire: about 10% of a request's CPU at concurrency 32. `asyncio.Lock` acquires an
    unheld lock without yielding. Only on asyncio (with our socket layer); the connection's
    HTTP/1.1 state lock exists once it has connected, so the swap completes on its first return
    to the pool. Anything that does not look like httpcore's layout is left alone.
    """
    if conn.__dict__.pop("_asyncapi_locks", None) is None:
        # First call, at creation: the connection-level lock.
        if hasattr(conn, "_request_lock"):
            conn._request_lock = asyncio.Lock()
        conn._asyncapi_locks = True
        return
    inner = getattr(conn, "_connection", None)
    if inner is not None and hasattr(inner, "_state_lock"):
        inner._state_lock = asyncio.Lock()


def _server_closed(conn: Any) -> bool:
    """Has the server closed this idle connection? Our asyncio stream knows without a system
    call; otherwise a poll of the socket (about 1 microsecond), where `has_expired()` asks the
    same question through anyio's attribute machinery (about 10)."""
    sock = conn.__dict__.get("_asyncapi_socket", _UNKNOWN)
    if sock is _UNKNOWN:
        try:
            stream = conn._connection._network_stream
        except AttributeError:  # not httpcore's HTTP/1.1 layout: ask the slow way
            stream = sock = None
        else:
            sock = stream if isinstance(stream, AsyncioStream) else stream.get_extra_info("socket")
        conn._asyncapi_socket = sock
    if isinstance(sock, AsyncioStream):
        return sock.server_closed()
    if sock is None:
        return bool(conn.has_expired())
    fd = sock.fileno()
    if fd < 0:
        return True
    # Readable while idle means EOF (or junk): either way the connection is not reusable.
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


async def _close(conns: list[Any]) -> None:
    with anyio.CancelScope(shield=True):
        for conn in conns:
            # Closing a broken socket may fail; it is gone either way.
            with contextlib.suppress(Exception):
                await conn.aclose()
