"""WebhookReceiver as an ASGI app: status codes, dedupe, re-delivery after failure, routing."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest
from fastapi import Request as FastAPIRequest  # module level: FastAPI resolves annotations here

from asyncapi_client import ASGITransport, Project, Request, WebhookVerificationError
from asyncapi_client.testing import FakeClock
from asyncapi_client.webhooks import (
    Claim,
    InMemoryDedupeStore,
    RedisDedupeStore,
    WebhookEvent,
    WebhookReceiver,
    signed_headers,
)
from tests.support.resources import USER
from tests.support.signed_deliveries import NOW, SECRET, delivery

OTHER_SECRET = "whsec_YW5vdGhlciBrZXkgb2YgdGhpcnR5LXR3byBieXRlcyE="


def make_receiver(**kwargs: Any) -> tuple[WebhookReceiver, list[WebhookEvent[Any]]]:
    kwargs.setdefault("clock", FakeClock(epoch=NOW))
    receiver = WebhookReceiver(SECRET, **kwargs)
    seen: list[WebhookEvent[Any]] = []

    @receiver.on("project.created")
    async def created(event: WebhookEvent[Project]) -> None:
        seen.append(event)

    return receiver, seen


@pytest.fixture
async def http() -> AsyncIterator[Any]:
    clients: list[httpx.AsyncClient] = []

    def connect(app: Any) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://receiver.test")
        clients.append(client)
        return client

    yield connect
    for client in clients:
        await client.aclose()


async def post(
    client: httpx.AsyncClient, body: bytes, headers: dict[str, str], path: str = "/"
) -> httpx.Response:
    return await client.post(path, content=body, headers=headers)


async def test_processes_once_then_answers_duplicate(http: Any) -> None:
    receiver, seen = make_receiver()
    client = http(receiver)
    body, headers = delivery(msg_id="msg_once")
    response = await post(client, body, headers)
    assert response.status_code == 200 and response.json() == {"status": "processed"}
    assert len(seen) == 1 and isinstance(seen[0].data, Project) and seen[0].webhook_id == "msg_once"
    # the same delivery again (a re-send, or an attacker's replay): acknowledged, not re-run
    again = await post(client, body, headers)
    assert again.status_code == 200 and again.json() == {"status": "duplicate"}
    # a re-delivery is re-signed with a new timestamp but keeps its id
    body, headers = delivery(msg_id="msg_once", timestamp=NOW + 30)
    assert (await post(client, body, headers)).json() == {"status": "duplicate"}
    assert len(seen) == 1


async def test_failed_handler_gets_the_event_again(http: Any, caplog: pytest.LogCaptureFixture) -> None:
    receiver = WebhookReceiver(SECRET, clock=FakeClock(epoch=NOW))
    calls: list[str] = []

    @receiver.on("project.created")
    async def flaky(event: WebhookEvent[Project]) -> None:
        calls.append(event.id)
        if len(calls) == 1:
            raise RuntimeError("database is down")

    client = http(receiver)
    body, headers = delivery(msg_id="msg_flaky")
    with caplog.at_level(logging.ERROR, logger="asyncapi_client.webhooks"):
        failed = await post(client, body, headers)
    assert failed.status_code == 500 and failed.json() == {"error": "handler_failed"}
    assert "database is down" not in failed.text  # the sender learns nothing of our internals
    assert "handler failed" in caplog.text
    retried = await post(client, *delivery(msg_id="msg_flaky", timestamp=NOW + 5))
    assert retried.status_code == 200 and retried.json() == {"status": "processed"}
    assert (await post(client, body, headers)).json() == {"status": "duplicate"}
    assert calls == ["evt_1", "evt_1"]


@pytest.mark.parametrize(
    ("mutate", "status", "reason"),
    [
        (lambda b, h: (b, {k: v for k, v in h.items() if k != "webhook-signature"}), 400, "missing_header"),
        (lambda b, h: (b, {k: v for k, v in h.items() if k != "webhook-id"}), 400, "missing_header"),
        (lambda b, h: (b, {**h, "webhook-timestamp": "soon"}), 400, "invalid_timestamp"),
        (lambda b, h: (b, {**h, "webhook-signature": "v1,@@@"}), 401, "invalid_signature"),
        (lambda b, h: (b + b" ", h), 401, "no_matching_signature"),
        (lambda b, h: delivery(msg_id="msg_x", secret=OTHER_SECRET), 401, "no_matching_signature"),
        (lambda b, h: delivery(msg_id="msg_x", timestamp=NOW - 301), 401, "timestamp_too_old"),
        (lambda b, h: delivery(msg_id="msg_x", timestamp=NOW + 301), 401, "timestamp_too_new"),
        (
            lambda b, h: (b"{nope", signed_headers(SECRET, b"{nope", msg_id="msg_x", timestamp=NOW)),
            400,
            "invalid_body",
        ),
        (lambda b, h: delivery("project.created", {"id": 1}, msg_id="msg_x"), 400, "invalid_payload"),
    ],
)
async def test_bad_input_is_refused_and_nothing_is_recorded(
    http: Any, mutate: Any, status: int, reason: str
) -> None:
    receiver, seen = make_receiver()
    client = http(receiver)
    body, headers = mutate(*delivery(msg_id="msg_x"))
    response = await post(client, body, headers)
    assert response.status_code == status
    assert response.json()["error"] == reason
    assert seen == []
    # the id was not recorded: the genuine delivery is still processed
    genuine = await post(client, *delivery(msg_id="msg_x"))
    assert genuine.json() == {"status": "processed"} and len(seen) == 1


async def test_only_post(http: Any) -> None:
    receiver, seen = make_receiver()
    client = http(receiver)
    for method in ("GET", "PUT", "DELETE"):
        response = await client.request(method, "/")
        assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert seen == []


async def test_body_size_limit(http: Any) -> None:
    receiver, seen = make_receiver(max_body_size=1024)
    client = http(receiver)
    big = b'{"pad": "' + b"x" * 2000 + b'"}'
    response = await post(client, big, signed_headers(SECRET, big, timestamp=NOW))
    assert response.status_code == 413
    # without a Content-Length, the limit still holds while streaming
    sent: list[Any] = []
    chunks = [b"x" * 600, b"x" * 600]

    async def receive() -> dict[str, Any]:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    async def send(message: Any) -> None:
        sent.append(message)

    await receiver({"type": "http", "method": "POST", "path": "/", "headers": []}, receive, send)
    assert sent[0]["status"] == 413 and seen == []


async def test_concurrent_deliveries_of_one_id_run_once(http: Any) -> None:
    receiver = WebhookReceiver(SECRET, clock=FakeClock(epoch=NOW))
    started, release = anyio.Event(), anyio.Event()
    runs: list[str] = []

    @receiver.on("project.created")
    async def slow(event: WebhookEvent[Project]) -> None:
        runs.append(event.id)
        started.set()
        await release.wait()

    client = http(receiver)
    body, headers = delivery(msg_id="msg_concurrent")
    results: list[httpx.Response] = []

    async def first() -> None:
        results.append(await post(client, body, headers))

    async with anyio.create_task_group() as tg:
        tg.start_soon(first)
        await started.wait()
        second = await post(client, body, headers)
        assert second.status_code == 409 and second.json() == {"error": "in_flight"}
        release.set()
    assert results[0].json() == {"status": "processed"}
    assert (await post(client, body, headers)).json() == {"status": "duplicate"}
    assert runs == ["evt_1"]


async def test_sync_handlers_run_in_a_thread(http: Any) -> None:
    receiver = WebhookReceiver(SECRET, clock=FakeClock(epoch=NOW))
    threads: list[int] = []

    @receiver.on("user.created")
    def sync_handler(event: WebhookEvent[Any]) -> None:
        threads.append(threading.get_ident())

    response = await post(http(receiver), *delivery("user.created", USER))
    assert response.json() == {"status": "processed"}
    assert threads and threads[0] != threading.get_ident()


async def test_routing_exact_prefix_catch_all_and_ignored(http: Any) -> None:
    receiver = WebhookReceiver(SECRET, clock=FakeClock(epoch=NOW))
    order: list[str] = []
    receiver.add_handler("*", lambda e: order.append("*:" + e.type))
    receiver.add_handler("project.*", lambda e: order.append("prefix:" + e.type))
    receiver.add_handler("project.deleted", lambda e: order.append("exact:" + e.type))
    client = http(receiver)
    assert (await post(client, *delivery("project.deleted", msg_id="m1"))).json() == {"status": "processed"}
    assert order == ["exact:project.deleted", "prefix:project.deleted", "*:project.deleted"]
    order.clear()
    assert (await post(client, *delivery("ping", {}, msg_id="m2"))).json() == {"status": "processed"}
    assert order == ["*:ping"]

    bare = WebhookReceiver(SECRET, clock=FakeClock(epoch=NOW))
    bare.add_handler("project.created", lambda e: order.append("never"))
    response = await post(http(bare), *delivery("ping", {}, msg_id="m3"))
    assert response.status_code == 200 and response.json() == {"status": "ignored"}


async def test_key_rotation_and_tolerance_follow_the_clock(http: Any) -> None:
    clock = FakeClock(epoch=NOW)
    receiver = WebhookReceiver([OTHER_SECRET, SECRET], tolerance=60, clock=clock)
    receiver.add_handler("*", lambda e: None)
    client = http(receiver)
    assert (await post(client, *delivery(msg_id="a"))).status_code == 200
    assert (await post(client, *delivery(msg_id="b", secret=OTHER_SECRET))).status_code == 200
    clock.advance(61)
    assert (await post(client, *delivery(msg_id="c"))).json()["error"] == "timestamp_too_old"


async def test_dedupe_store_failure_answers_503(http: Any) -> None:
    class BrokenStore:
        async def claim(self, key: str) -> Claim:
            raise ConnectionError("redis is down")

        async def complete(self, key: str) -> None: ...

        async def release(self, key: str) -> None: ...

    receiver, seen = make_receiver(dedupe_store=BrokenStore())
    response = await post(http(receiver), *delivery())
    assert response.status_code == 503 and seen == []


async def test_through_the_sdk_asgi_transport() -> None:
    receiver, seen = make_receiver()
    body, headers = delivery(msg_id="msg_sdk")
    transport = ASGITransport(receiver)
    response = await transport.send(
        Request("POST", "http://receiver.test/hooks", headers=headers, content=body)
    )
    assert response.status_code == 200 and response.json() == {"status": "processed"}
    assert len(seen) == 1
    again = await transport.send(Request("POST", "http://receiver.test/hooks", headers=headers, content=body))
    assert again.status_code == 200 and again.json() == {"status": "duplicate"}
    assert len(seen) == 1


async def test_mounted_in_starlette_and_fastapi(http: Any) -> None:
    from fastapi import FastAPI
    from starlette.applications import Starlette
    from starlette.routing import Mount, Route

    receiver, seen = make_receiver()
    starlette_app = Starlette(routes=[Mount("/webhooks", app=receiver)])
    response = await post(http(starlette_app), *delivery(msg_id="s1"), path="/webhooks/")
    assert response.json() == {"status": "processed"}

    fastapi_app = FastAPI()
    fastapi_app.mount("/hooks", receiver)
    fastapi_app.router.routes.append(Route("/exact", receiver, methods=["POST"]))  # no trailing slash
    client = http(fastapi_app)
    assert (await post(client, *delivery(msg_id="f1"), path="/hooks/")).json() == {"status": "processed"}
    assert (await post(client, *delivery(msg_id="f2"), path="/exact")).json() == {"status": "processed"}
    assert (await post(client, *delivery(msg_id="f2"), path="/exact")).json() == {"status": "duplicate"}
    assert [e.webhook_id for e in seen] == ["s1", "f1", "f2"]


async def test_lifespan_when_served_alone() -> None:
    receiver, _ = make_receiver()
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[Any] = []

    async def receive() -> Any:
        return incoming.pop(0)

    async def send(message: Any) -> None:
        sent.append(message["type"])

    await receiver({"type": "lifespan"}, receive, send)
    assert sent == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_configuration_errors_fail_at_construction() -> None:
    with pytest.raises(WebhookVerificationError):
        WebhookReceiver("whsec_***")
    with pytest.raises(ValueError):
        WebhookReceiver(SECRET, tolerance=-1)
    with pytest.raises(TypeError):
        WebhookReceiver(SECRET, dedupe_store=object())  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        WebhookReceiver(SECRET).on("")(lambda e: None)


async def test_logs_never_carry_the_secret(http: Any, caplog: pytest.LogCaptureFixture) -> None:
    receiver, _ = make_receiver()
    with caplog.at_level(logging.DEBUG, logger="asyncapi_client.webhooks"):
        await post(http(receiver), *delivery(msg_id="m", secret=OTHER_SECRET))
    assert "no_matching_signature" in caplog.text
    assert SECRET[6:] not in caplog.text and OTHER_SECRET[6:] not in caplog.text
    assert "secret" not in repr(receiver).lower() or SECRET not in repr(receiver)


@pytest.mark.redis
async def test_two_workers_share_a_redis_store(http: Any, redis_server_url: str) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    stores = [RedisDedupeStore(redis_server_url, prefix=prefix) for _ in range(2)]
    try:
        workers = [make_receiver(dedupe_store=store) for store in stores]
        body, headers = delivery(msg_id="msg_shared")
        first = await post(http(workers[0][0]), body, headers)
        second = await post(http(workers[1][0]), body, headers)
        assert first.json() == {"status": "processed"} and second.json() == {"status": "duplicate"}
        assert len(workers[0][1]) == 1 and workers[1][1] == []
    finally:
        for store in stores:
            await store.aclose()


def test_in_memory_store_is_the_default() -> None:
    receiver, _ = make_receiver()
    assert isinstance(receiver.dedupe_store, InMemoryDedupeStore)


def test_receiver_runs_on_trio() -> None:
    """anyio throughout: the receiver (sync handlers in threads included) works under trio."""
    trio = pytest.importorskip("trio")
    receiver = WebhookReceiver(SECRET, clock=FakeClock(epoch=NOW))
    seen: list[str] = []
    receiver.add_handler("project.created", lambda e: seen.append(e.id))

    async def main() -> list[int]:
        transport = httpx.ASGITransport(app=receiver)
        async with httpx.AsyncClient(transport=transport, base_url="http://receiver.test") as client:
            body, headers = delivery(msg_id="msg_trio")
            first = await client.post("/", content=body, headers=headers)
            second = await client.post("/", content=body, headers=headers)
        return [first.status_code, second.status_code]

    assert trio.run(main) == [200, 200]
    assert seen == ["evt_1"]


async def test_documented_fastapi_routes(http: Any) -> None:
    """The README's two route patterns: construct_event in a route, and receiver.process."""
    from fastapi import FastAPI, HTTPException

    from asyncapi_client.webhooks import construct_event

    app = FastAPI()
    created: list[Project] = []

    @app.post("/webhooks")
    async def webhooks(request: FastAPIRequest) -> dict[str, str]:
        try:
            event = construct_event(await request.body(), request.headers, SECRET, now=NOW)
        except WebhookVerificationError as exc:
            raise HTTPException(status_code=400, detail=exc.reason) from None
        if event.type == "project.created":
            created.append(event.data)
        return {"status": "ok"}

    receiver, seen = make_receiver()

    @app.post("/custom")
    async def custom(request: FastAPIRequest) -> Any:
        from fastapi.responses import JSONResponse

        status, body = await receiver.process(await request.body(), request.headers)
        return JSONResponse(body, status_code=status)

    client = http(app)
    assert (await post(client, *delivery(), path="/webhooks")).json() == {"status": "ok"}
    assert isinstance(created[0], Project)
    body, headers = delivery()
    refused = await post(client, body + b" ", headers, path="/webhooks")
    assert refused.status_code == 400 and refused.json() == {"detail": "no_matching_signature"}
    assert (await post(client, body, headers, path="/custom")).json() == {"status": "processed"}
    assert (await post(client, body, headers, path="/custom")).json() == {"status": "duplicate"}
    assert len(seen) == 1


async def test_handler_timeout_releases_the_id(http: Any) -> None:
    receiver = WebhookReceiver(SECRET, clock=FakeClock(epoch=NOW), handler_timeout=0.05)
    hang = True
    runs: list[str] = []

    @receiver.on("project.created")
    async def sometimes_hangs(event: WebhookEvent[Project]) -> None:
        runs.append(event.id)
        if hang:
            await anyio.sleep_forever()

    client = http(receiver)
    body, headers = delivery(msg_id="msg_hang")
    assert (await post(client, body, headers)).status_code == 500
    hang = False
    assert (await post(client, body, headers)).json() == {"status": "processed"}
    assert runs == ["evt_1", "evt_1"]
    with pytest.raises(ValueError):
        WebhookReceiver(SECRET, handler_timeout=0)
