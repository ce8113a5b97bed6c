"""A lean asyncio network backend for httpcore's (and httpcore2's) connections.

httpcore reaches the socket through anyio on asyncio (`AnyIOStream`): every read and every
write opens an anyio cancel scope (`anyio.fail_after`, about 8 microseconds on asyncio even
without a deadline) and goes through anyio's socket stream, which adds checkpoints of its own.
py-spy put that at a quarter of the CPU of a request over the default transport. This backend is
an `asyncio.Protocol` with a buffer: a read that finds data returns it without awaiting, a write
is `transport.write` (awaiting only when the transport asks to pause), and deadlines go to the
shared timer wheel (`_deadline.fail_after`). Errors are httpcore's own (`ReadTimeout`,
`ReadError`, `ConnectError`, ...), so the connection code above it behaves exactly as with anyio.

Used only on asyncio with Python 3.11+; on trio (and 3.10) the connections keep httpcore's
automatic backend.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterable
from typing import Any

from ._deadline import fail_after

_HIGH_WATER = 256 * 1024  # pause reading the socket above this much unread data
_LOW_WATER = 64 * 1024
_CLOSE_WAIT = 1.0  # seconds aclose() waits for the socket to close before aborting it


class _Protocol(asyncio.Protocol):
    __slots__ = (
        "transport",
        "buffer",
        "eof",
        "error",
        "waiter",
        "paused",
        "drain_waiter",
        "reading_paused",
        "lost",
        "closed_waiter",
    )

    def __init__(self) -> None:
        self.transport: Any = None
        self.buffer = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.paused = False
        self.drain_waiter: asyncio.Future[None] | None = None
        self.reading_paused = False
        self.lost = False  # connection_lost has run: the socket is closed
        self.closed_waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > _HIGH_WATER and not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self.lost = True
        self._wake()
        self.paused = False
        self._wake_drain()
        closed = self.closed_waiter
        if closed is not None and not closed.done():
            closed.set_result(None)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._wake_drain()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)

    def _wake_drain(self) -> None:
        waiter = self.drain_waiter
        if waiter is not None:
            self.drain_waiter = None
            if not waiter.done():
                waiter.set_result(None)


class AsyncioStream:
    """httpcore's `AsyncNetworkStream` over an asyncio transport and `_Protocol`."""

    def __init__(self, core: Any, transport: Any, protocol: _Protocol) -> None:
        self._core = core
        self._transport = transport
        self._protocol = protocol
        self._loop = asyncio.get_running_loop()

    def server_closed(self) -> bool:
        """For an idle connection: has the server closed it (or sent something unasked)?"""
        protocol = self._protocol
        return bool(protocol.buffer) or protocol.eof or self._transport.is_closing()

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        protocol = self._protocol
        if not protocol.buffer and not protocol.eof:
            waiter = protocol.waiter = self._loop.create_future()
            try:
                if timeout is None:
                    await waiter
                else:
                    with fail_after(timeout):
                        await waiter
            except TimeoutError:
                raise self._core.ReadTimeout("timed out reading from the server") from None
            finally:
                protocol.waiter = None
        buffer = protocol.buffer
        if buffer:
            if len(buffer) <= max_bytes:
                data = bytes(buffer)
                buffer.clear()
            else:
                data = bytes(buffer[:max_bytes])
                del buffer[:max_bytes]
            if protocol.reading_paused and len(buffer) < _LOW_WATER:
                protocol.reading_paused = False
                self._transport.resume_reading()
            return data
        if protocol.error is not None:
            raise self._core.ReadError(
                str(protocol.error) or type(protocol.error).__name__
            ) from protocol.error
        return b""

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        protocol = self._protocol
        if protocol.error is not None or self._transport.is_closing():
            raise self._core.WriteError("the connection is closed")
        self._transport.write(buffer)
        if protocol.paused:
            waiter = protocol.drain_waiter = self._loop.create_future()
            try:
                if timeout is None:
                    await waiter
                else:
                    with fail_after(timeout):
                        await waiter
            except TimeoutError:
                raise self._core.WriteTimeout("timed out writing to the server") from None
            finally:
                protocol.drain_waiter = None
            if protocol.error is not None:
                raise self._core.WriteError(
                    str(protocol.error) or type(protocol.error).__name__
                ) from protocol.error

    async def aclose(self) -> None:
        # asyncio closes the socket on a later loop iteration; wait for it (briefly: a peer that
        # reads nothing can hold a flush up), so a closed transport holds no socket.
        protocol = self._protocol
        self._transport.close()
        if protocol.lost:
            return
        closed = protocol.closed_waiter = self._loop.create_future()
        try:
            with fail_after(_CLOSE_WAIT):
                await closed
        except TimeoutError:
            self._transport.abort()
        finally:
            protocol.closed_waiter = None

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> AsyncioStream:
        loop = asyncio.get_running_loop()
        try:
            with fail_after(timeout):
                transport = await loop.start_tls(
                    self._transport, self._protocol, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError:
            self._transport.close()
            raise self._core.ConnectTimeout("timed out during the TLS handshake") from None
        except (OSError, ssl.SSLError, ConnectionError) as exc:
            self._transport.close()
            # `from exc`: the reason (CERTIFICATE_VERIFY_FAILED, ...) stays in the chain.
            raise self._core.ConnectError(str(exc) or type(exc).__name__) from exc
        if transport is None:  # pragma: no cover - the loop closed the connection
            raise self._core.ConnectError("the connection closed during the TLS handshake")
        self._protocol.transport = transport
        return AsyncioStream(self._core, transport, self._protocol)

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return self._transport.get_extra_info("sockname")
        if info == "server_addr":
            return self._transport.get_extra_info("peername")
        if info == "socket":
            return self._transport.get_extra_info("socket")
        if info == "is_readable":
            # Idle and readable means the server closed (or sent junk): the loop already told us.
            return self.server_closed()
        return None


class AsyncioBackend:
    """httpcore's `AsyncNetworkBackend` for asyncio: TCP and Unix sockets through the loop."""

    def __init__(self, core: Any) -> None:
        self._core = core

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> AsyncioStream:
        loop = asyncio.get_running_loop()
        local = (local_address, 0) if local_address else None
        try:
            with fail_after(timeout):
                transport, protocol = await loop.create_connection(_Protocol, host, port, local_addr=local)
        except TimeoutError:
            raise self._core.ConnectTimeout(f"timed out connecting to {host}:{port}") from None
        except OSError as exc:
            raise self._core.ConnectError(str(exc) or type(exc).__name__) from exc
        _apply(transport, socket_options)
        return AsyncioStream(self._core, transport, protocol)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> AsyncioStream:
        loop = asyncio.get_running_loop()
        try:
            with fail_after(timeout):
                transport, protocol = await loop.create_unix_connection(_Protocol, path)
        except TimeoutError:
            raise self._core.ConnectTimeout(f"timed out connecting to {path}") from None
        except OSError as exc:
            raise self._core.ConnectError(str(exc) or type(exc).__name__) from exc
        _apply(transport, socket_options)
        return AsyncioStream(self._core, transport, protocol)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def _apply(transport: Any, socket_options: Iterable[Any] | None) -> None:
    if socket_options:
        sock: socket.socket | None = transport.get_extra_info("socket")
        if sock is not None:
            for option in socket_options:
                sock.setsockopt(*option)
