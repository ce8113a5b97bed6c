"""PyreqwestTransport's queue for a slot: the release that frees a slot starts the next queued
request (`_QueuedStart`), against the conformance suite's loopback server.

What is held: queued requests all complete in order of arrival; a queued request cancelled
before its turn is never started (nothing of it reaches Rust, nothing is left for `aclose()`);
one cancelled after the release started it is finished by the transport (kept until its reply
or its own timeout), and no socket outlives `aclose()`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from asyncapi_client import Request
from tests.support.conformance_server import TestServer, open_sockets_to
from tests.support.transport_kinds import installed

pytestmark = pytest.mark.skipif(not installed("pyreqwest"), reason="pyreqwest is not installed")


@pytest.fixture(scope="module")
def server() -> Iterator[TestServer]:
    with TestServer() as srv:
        yield srv


def _transport() -> Any:
    from asyncapi_client.transports import PyreqwestTransport

    return PyreqwestTransport(max_connections=1)


async def _until(condition: Any) -> None:
    """Let the other tasks (and the loopback server's thread) run until `condition()` holds."""
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.005)  # a turn of the loop; the assertion is on the state, not time
    raise AssertionError("the tasks never got there")


def test_queued_requests_are_started_by_the_release_and_complete_in_order(server: TestServer) -> None:
    async def main() -> None:
        transport = _transport()
        done: list[int] = []

        async def one(i: int) -> None:
            response = await transport.send(Request("GET", f"{server.url}/echo?i={i}", timeout=10.0))
            assert response.status_code == 200
            done.append(i)

        try:
            tasks = [asyncio.create_task(one(i)) for i in range(8)]
            await _until(lambda: transport._slots.waiting == 7)
            await asyncio.gather(*tasks)
        finally:
            await transport.aclose()
        assert done == list(range(8))
        assert transport._slots.free == 1 and transport._slots.waiting == 0

    asyncio.run(main())


def test_a_queued_request_cancelled_before_its_turn_is_never_started(server: TestServer) -> None:
    async def main() -> None:
        transport = _transport()
        try:
            first = asyncio.create_task(transport.send(Request("GET", f"{server.url}/slow/20", timeout=1.0)))
            await _until(lambda: transport._slots.free == 0)
            queued = asyncio.create_task(transport.send(Request("GET", f"{server.url}/echo", timeout=5.0)))
            await _until(lambda: transport._slots.waiting == 1)
            queued.cancel()
            with pytest.raises(asyncio.CancelledError):
                await queued
            assert transport._slots.waiting == 0
            first.cancel()  # on the wire: handed to the transport to finish
            with pytest.raises(asyncio.CancelledError):
                await first
            assert len(transport._abandoned) == 1  # the first only: the queued one never ran
            response = await transport.send(Request("GET", f"{server.url}/echo", timeout=5.0))
            assert response.status_code == 200
        finally:
            await transport.aclose()

    asyncio.run(main())


def test_a_queued_request_cancelled_once_started_is_finished_by_the_transport(server: TestServer) -> None:
    async def main() -> None:
        transport = _transport()
        slots = transport._slots
        try:
            assert slots.take_now()  # the test holds the one slot, as a request on the wire would
            queued = asyncio.create_task(transport.send(Request("GET", f"{server.url}/slow/20", timeout=1.0)))
            await _until(lambda: slots.waiting == 1)
            slots.release()  # what that request's end does: hands the slot on, starting `queued`
            assert not queued.done()
            queued.cancel()  # before its task runs again: the request is in Rust already
            with pytest.raises(asyncio.CancelledError):
                await queued
            assert len(transport._abandoned) == 1  # the transport drives it to its end
            assert slots.free == 1 and slots.waiting == 0
        finally:
            await transport.aclose()  # waits for it: its own 1 s timeout ends it
        assert not transport._abandoned
        for _ in range(200):  # Rust's thread closes the socket a moment after the client goes
            if not open_sockets_to(server.port):
                break
            await asyncio.sleep(0.005)
        assert open_sockets_to(server.port) == 0

    asyncio.run(main())
