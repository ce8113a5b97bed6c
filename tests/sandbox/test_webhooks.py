"""Webhook registration and signed deliveries, verified with the `standardwebhooks` package."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from asyncapi_sandbox import Sandbox

# Raw asyncio sockets, servers or async fixtures: asyncio by nature (the runner's trio test
# and the other sandbox modules cover trio).
ASYNCIO_ONLY = True


class Receiver:
    """A tiny HTTP server in the test's loop that records deliveries and answers `statuses` in
    turn (then 200); a status of 0 means: never answer (the sandbox times out)."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.received: list[tuple[dict[str, str], bytes, int]] = []
        self._arrived = asyncio.Condition()
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode()
            lines = head.split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ln)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            status = self.statuses.pop(0) if self.statuses else 200
            async with self._arrived:
                self.received.append((headers, body, status))
                self._arrived.notify_all()
            if status == 0:
                await asyncio.sleep(5)
                return
            writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def wait_for(self, count: int, timeout: float = 10) -> list[tuple[dict[str, str], bytes, int]]:
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: len(self.received) >= count), timeout)
        return self.received


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    recorder = Receiver()
    server = await asyncio.start_server(recorder.handle, "127.0.0.1", 0)
    recorder.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/hooks"
    async with server:
        yield recorder
        server.close()


async def register(api: httpx.AsyncClient, url: str, events: list[str]) -> dict[str, Any]:
    reply = await api.post("/api/v1/webhooks", json={"url": url, "events": events})
    assert reply.status_code == 201, reply.text
    hook: dict[str, Any] = reply.json()
    return hook


async def settled(sb: Sandbox) -> None:
    """Wait until the sandbox has no delivery left to make (none in flight, none waiting to be
    re-sent): after this, nothing more arrives, without guessing how long that takes."""

    async def poll() -> None:
        while (await sb.stats())["webhook_deliveries_pending"]:  # noqa: ASYNC110 - polling the sandbox
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), 20)


def _verifies(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    try:
        Webhook(secret).verify(body, headers)
    except Exception:
        return False
    return True


async def deliveries_of(api: httpx.AsyncClient, hook_id: int, count: int) -> list[dict[str, Any]]:
    for _ in range(200):
        data: list[dict[str, Any]] = (await api.get(f"/api/v1/webhooks/{hook_id}/deliveries")).json()["data"]
        if len(data) >= count:
            return data
        await asyncio.sleep(0.02)
    raise AssertionError(f"expected {count} delivery records")


async def test_register_list_get_delete(api: httpx.AsyncClient, receiver: Receiver) -> None:
    hook = await register(api, receiver.url, ["project.created", "user.created"])
    assert set(hook) == {"id", "url", "events", "secret", "created_at"}
    assert hook["secret"].startswith("whsec_")
    assert len(Webhook(hook["secret"])._whsecret) == 24  # 24 random bytes
    listed = (await api.get("/api/v1/webhooks")).json()["data"]
    assert listed == [{k: v for k, v in hook.items() if k != "secret"}]
    assert "secret" not in (await api.get(f"/api/v1/webhooks/{hook['id']}")).json()
    assert (await api.delete(f"/api/v1/webhooks/{hook['id']}")).status_code == 204
    assert (await api.get(f"/api/v1/webhooks/{hook['id']}")).status_code == 404
    assert (await api.post(f"/api/v1/webhooks/{hook['id']}/test")).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://x", "events": ["user.created"]}, "url"),
        ({"url": "not a url", "events": ["user.created"]}, "url"),
        ({"events": ["user.created"]}, "url"),
        ({"url": "https://example.com/h", "events": []}, "events"),
        ({"url": "https://example.com/h", "events": ["user.exploded"]}, "events"),
        ({"url": "https://example.com/h"}, "events"),
        ({"url": "https://example.com/h", "events": ["user.created"], "secret": "mine"}, "secret"),
    ],
)
async def test_registration_is_validated(api: httpx.AsyncClient, body: dict[str, Any], field: str) -> None:
    reply = await api.post("/api/v1/webhooks", json=body)
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "INVALID_INPUT"
    assert reply.json()["error"]["details"]["field"] == field


async def test_ping_is_signed_per_standard_webhooks(api: httpx.AsyncClient, receiver: Receiver) -> None:
    hook = await register(api, receiver.url, ["project.created"])
    reply = await api.post(f"/api/v1/webhooks/{hook['id']}/test")
    assert reply.status_code == 202
    [(headers, body, _)] = await receiver.wait_for(1)
    payload = Webhook(hook["secret"]).verify(body, headers)
    assert payload["type"] == "ping"
    assert set(payload) == {"id", "type", "created_at", "data"}
    assert payload["id"] == headers["webhook-id"]
    assert headers["webhook-signature"].startswith("v1,")
    with pytest.raises(Exception, match=r"(?i)signature"):
        Webhook("whsec_" + "A" * 32).verify(body, headers)


async def test_resource_changes_emit_events_to_subscribers(
    sb: Sandbox, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    hook = await register(
        api, receiver.url, ["project.created", "project.updated", "project.deleted", "user.created"]
    )
    other = await register(api, receiver.url + "/other", ["project.deleted"])
    project = (await api.post("/api/v1/projects", json={"name": "Hooked"})).json()
    await api.patch(f"/api/v1/projects/{project['id']}", json={"name": "Hooked 2"})
    await api.delete(f"/api/v1/projects/{project['id']}")
    await api.post("/api/v1/users/bulk", json=[{"name": "W", "email": f"w{i}@example.com"} for i in range(2)])
    received = await receiver.wait_for(6)
    await settled(sb)
    assert len(received) == 6  # 5 for the first hook, 1 for the second
    by_hook: dict[str, list[dict[str, Any]]] = {"/hooks": [], "/hooks/other": []}
    for headers, body, _ in received:
        verified = [c for c in (hook, other) if _verifies(c["secret"], body, headers)]
        assert len(verified) == 1, "every delivery verifies under exactly one of the two secrets"
        by_hook["/hooks/other" if verified[0] is other else "/hooks"].append(json.loads(body))
    assert sorted(e["type"] for e in by_hook["/hooks"]) == sorted(
        ["project.created", "project.updated", "project.deleted", "user.created", "user.created"]
    )
    assert [e["type"] for e in by_hook["/hooks/other"]] == ["project.deleted"]
    updated = next(e for e in by_hook["/hooks"] if e["type"] == "project.updated")
    assert updated["data"]["name"] == "Hooked 2" and updated["data"]["id"] == project["id"]
    stats = await sb.stats()
    assert stats["webhook_deliveries"] == {"succeeded": 6, "failed": 0}


async def test_failed_deliveries_are_retried_with_backoff(
    sb: Sandbox, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    await sb.configure(webhook_backoff_base=0.05, webhook_timeout=1.0)
    receiver.statuses = [500, 0, 200]  # an error, a timeout, then success
    hook = await register(api, receiver.url, ["project.created"])
    await api.post("/api/v1/projects", json={"name": "Retry me"})
    received = await receiver.wait_for(3)
    ids = {headers["webhook-id"] for headers, _, _ in received}
    assert len(ids) == 1  # the same event each time, re-signed per attempt
    for headers, body, _ in received:
        Webhook(hook["secret"]).verify(body, headers)
    records = await deliveries_of(api, hook["id"], 3)
    assert [(r["attempt"], r["status_code"], r["succeeded"]) for r in records] == [
        (1, 500, False),
        (2, None, False),
        (3, 200, True),
    ]
    assert records[1]["error"] and "Timeout" in records[1]["error"]
    assert records[2]["error"] is None
    assert set(records[0]) == {
        "id",
        "event_id",
        "event_type",
        "attempt",
        "status_code",
        "error",
        "succeeded",
        "created_at",
    }
    stats = await sb.stats()
    assert stats["webhook_deliveries"] == {"succeeded": 1, "failed": 2}


async def test_deliveries_give_up_after_max_attempts(
    sb: Sandbox, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    await sb.configure(webhook_backoff_base=0.01, webhook_max_attempts=3)
    receiver.statuses = [503] * 10
    hook = await register(api, receiver.url, ["*"])
    await api.post(f"/api/v1/webhooks/{hook['id']}/test")
    records = await deliveries_of(api, hook["id"], 3)
    await settled(sb)
    assert len(receiver.received) == 3
    assert [
        r["attempt"] for r in (await api.get(f"/api/v1/webhooks/{hook['id']}/deliveries")).json()["data"]
    ] == [1, 2, 3]
    assert not any(r["succeeded"] for r in records)
    assert (await sb.stats())["webhook_deliveries"] == {"succeeded": 0, "failed": 3}


async def test_deleting_a_webhook_stops_its_redeliveries(
    sb: Sandbox, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    await sb.configure(webhook_backoff_base=0.5, webhook_max_attempts=5)
    receiver.statuses = [500] * 10
    hook = await register(api, receiver.url, ["project.created"])
    await api.post("/api/v1/projects", json={"name": "Doomed"})
    await receiver.wait_for(1)
    assert (await api.delete(f"/api/v1/webhooks/{hook['id']}")).status_code == 204
    await settled(sb)  # the re-delivery task wakes after its backoff, sees the deletion, ends
    assert len(receiver.received) == 1
    assert (await sb.stats())["webhook_deliveries"] == {"succeeded": 0, "failed": 1}
