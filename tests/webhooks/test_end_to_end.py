"""End to end: the sandbox delivers signed events over HTTP to a WebhookReceiver served by
uvicorn on loopback. Every event is handled exactly once; a handler that fails once gets its
event again; a sender that gives up waiting re-delivers into an in-flight guard."""

from __future__ import annotations

import socket
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest

from asyncapi_client import AsyncClient, Project, User
from asyncapi_client.webhooks import WebhookDelivery, WebhookEvent, WebhookReceiver
from tests.support.sandbox_token import bearer

pytest.importorskip("uvicorn")
sandbox_module = pytest.importorskip("asyncapi_sandbox")
Sandbox = sandbox_module.Sandbox

pytestmark = pytest.mark.slow

WAIT_LIMIT = 20.0  # seconds; a bound for a broken build, never reached by a passing one
ALL_EVENTS = ["project.created", "project.updated", "project.deleted", "user.created"]


def listening_socket() -> tuple[socket.socket, str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


@asynccontextmanager
async def serving(app: Any, sock: socket.socket) -> AsyncIterator[None]:
    """Serve `app` with uvicorn on `sock`, as a task of this test's event loop."""
    import uvicorn

    config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False, ws="none")
    server = uvicorn.Server(config)
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve, [sock])
        await wait_for(lambda: server.started, what="uvicorn to start")
        try:
            yield
        finally:
            server.should_exit = True


async def wait_for(condition: Callable[[], bool], *, what: str) -> None:
    with anyio.fail_after(WAIT_LIMIT):
        for _ in range(int(WAIT_LIMIT / 0.02) + 1):
            if condition():
                return
            await anyio.sleep(0.02)
    pytest.fail(f"timed out waiting for {what}")  # pragma: no cover


async def wait_for_async(condition: Callable[[], Awaitable[bool]], *, what: str) -> None:
    with anyio.fail_after(WAIT_LIMIT):
        for _ in range(int(WAIT_LIMIT / 0.05) + 1):
            if await condition():
                return
            await anyio.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")  # pragma: no cover


@asynccontextmanager
async def api_client(sb: Any) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(sb.base_url, auth=await bearer(sb), allow_insecure_http=True) as client:
        yield client


def by_event(deliveries: list[WebhookDelivery]) -> dict[str, list[WebhookDelivery]]:
    grouped: dict[str, list[WebhookDelivery]] = defaultdict(list)
    for delivery in sorted(deliveries, key=lambda d: (d.event_id, d.attempt)):
        grouped[delivery.event_id].append(delivery)
    return grouped


async def test_every_event_handled_exactly_once_and_a_failure_is_redelivered() -> None:
    async with Sandbox(webhook_backoff_base=0.05, webhook_max_attempts=8) as sb, api_client(sb) as client:
        sock, url = listening_socket()
        hook = await client.webhooks.create(url + "/hooks", ALL_EVENTS)
        assert hook.secret is not None
        assert [h.id for h in await client.webhooks.list()] == [hook.id]
        assert (await client.webhooks.get(hook.id)).secret is None

        receiver = WebhookReceiver(hook.secret)
        calls: Counter[str] = Counter()
        processed: dict[str, WebhookEvent[Any]] = {}

        @receiver.on("*")
        async def record(event: WebhookEvent[Any]) -> None:
            calls[event.id] += 1
            if event.type == "project.updated" and calls[event.id] == 1:
                raise RuntimeError("the first attempt fails")
            assert event.id not in processed, "an event was processed twice"
            processed[event.id] = event

        async with serving(receiver, sock):
            projects = [await client.projects.create(f"hooked {i}") for i in range(3)]
            await client.projects.update(projects[0].id, name="renamed")
            await client.projects.delete(projects[1].id)
            user = await client.users.create("Hook Tester", "hook.tester@example.com")
            await client.webhooks.test(hook.id)

            await wait_for(lambda: len(processed) == 7, what="all seven events to be processed")

            # The sandbox records an attempt once our answer reaches it: wait for every success.
            async def all_acknowledged() -> bool:
                grouped = by_event(await client.webhooks.deliveries(hook.id))
                return len(grouped) == 7 and all(any(d.succeeded for d in ds) for ds in grouped.values())

            await wait_for_async(all_acknowledged, what="the sandbox to record every success")
            deliveries = by_event(await client.webhooks.deliveries(hook.id))

        events = list(processed.values())
        types = Counter(e.type for e in events)
        assert types == {
            "project.created": 3,
            "project.updated": 1,
            "project.deleted": 1,
            "user.created": 1,
            "ping": 1,
        }
        created = [e.data for e in events if e.type == "project.created"]
        assert all(isinstance(p, Project) for p in created)
        assert sorted(p.id for p in created) == sorted(p.id for p in projects)
        (updated,) = [e for e in events if e.type == "project.updated"]
        assert isinstance(updated.data, Project) and updated.data.name == "renamed"
        (user_event,) = [e for e in events if e.type == "user.created"]
        assert isinstance(user_event.data, User) and user_event.data.id == user.id
        (ping,) = [e for e in events if e.type == "ping"]
        assert ping.data == {"webhook_id": hook.id}
        assert all(e.webhook_id == e.id for e in events)  # the sandbox uses the event id as webhook-id

        # Exactly once: one successful handler run per event; the failed one ran twice in all.
        assert calls[updated.id] == 2
        assert all(n == 1 for event_id, n in calls.items() if event_id != updated.id)
        failed_then_ok = deliveries[updated.id]
        assert (failed_then_ok[0].attempt, failed_then_ok[0].status_code, failed_then_ok[0].succeeded) == (
            1,
            500,
            False,
        )
        assert failed_then_ok[-1].succeeded and failed_then_ok[-1].status_code == 200
        for event_id, attempts in deliveries.items():
            assert attempts[-1].succeeded, event_id

        await client.webhooks.delete(hook.id)
        assert await client.webhooks.list() == []


async def test_sender_timeout_while_handling_is_deduplicated() -> None:
    """The sandbox gives up waiting (0.3 s) while the handler still runs and re-delivers: the
    receiver answers 409 while the first delivery is in flight, then 200 duplicate; the handler
    runs once."""
    async with (
        Sandbox(webhook_backoff_base=0.05, webhook_max_attempts=10, webhook_timeout=0.3) as sb,
        api_client(sb) as client,
    ):
        sock, url = listening_socket()
        hook = await client.webhooks.create(url, ["project.created"])
        assert hook.secret is not None
        receiver = WebhookReceiver(hook.secret)
        statuses: list[int] = []
        conflict_seen = anyio.Event()
        runs: list[str] = []

        async def recording(scope: Any, receive: Any, send: Any) -> None:
            async def spy(message: Any) -> None:
                if message["type"] == "http.response.start":
                    statuses.append(message["status"])
                    if message["status"] == 409:
                        conflict_seen.set()
                await send(message)

            await receiver(scope, receive, spy)

        @receiver.on("project.created")
        async def slow(event: WebhookEvent[Project]) -> None:
            runs.append(event.id)
            # Finish only once a re-delivery has hit the in-flight guard.
            with anyio.fail_after(15):
                await conflict_seen.wait()

        async with serving(recording, sock):
            await client.projects.create("slow to handle")
            await wait_for(lambda: 200 in statuses, what="the duplicate re-delivery to be acknowledged")

            async def acknowledged() -> bool:
                return any(d.succeeded for d in await client.webhooks.deliveries(hook.id))

            await wait_for_async(acknowledged, what="the sandbox to record the success")
            deliveries = sorted(await client.webhooks.deliveries(hook.id), key=lambda d: d.attempt)

    assert len(runs) == 1
    assert 409 in statuses and statuses[-1] == 200
    assert deliveries[0].status_code is None and not deliveries[0].succeeded  # the sender timed out
    assert deliveries[-1].succeeded
    assert sum(d.succeeded for d in deliveries) == 1
