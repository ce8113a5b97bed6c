"""Exactly once for every method that changes something, against servers that apply a write and
then lose or spoil its reply.

Peers (each a server of this test's own):

- `WriteServer`, a bare ASGI app served by uvicorn: projects it can update (PATCH) and delete,
  and create (POST). It applies each write, then answers the first attempt of each
  `Idempotency-Key` with the fault under test (a 500 or 504, or a 2xx whose body is HTML); a
  repeat of a key gets the reply it stored, as the API's contract says. With `honour_keys=False`
  it ignores keys, as a server that does not implement them would.
- a raw-socket server that applies a create and sends its 201 cut short of its Content-Length.

What must hold: PATCH and DELETE carry an `Idempotency-Key`, the same on every attempt; each
write is applied once; a DELETE whose retry is answered 404 after an attempt that may have
applied is reported done; a 2xx that cannot be read is fetched again under the same key.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

import asyncapi_client as sdk
from tests.support.hostile_servers import (
    RawServer,
    Receive,
    Scope,
    Send,
    header,
    http_reply,
    read_body,
    reply,
    serving,
)

STAMP = "2026-01-01T00:00:00Z"
RETRY = sdk.RetryPolicy(max_attempts=4, backoff_base=0.0, backoff_max=0.0)


def _project(pid: int, name: str) -> dict[str, Any]:
    return {"id": pid, "name": name, "description": None, "created_at": STAMP, "updated_at": STAMP}


class WriteServer:
    def __init__(self, fault: str, *, honour_keys: bool = True) -> None:
        self.fault = fault  # "500", "504" or "html": what the first attempt of a write gets
        self.honour_keys = honour_keys
        self.projects = {1: "one", 2: "two"}
        self.applied: list[str] = []
        self.keys: list[str | None] = []
        self._replies: dict[str, tuple[int, Any]] = {}
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await read_body(receive)
        method, path = scope["method"], scope["path"]
        key = header(scope, "idempotency-key")
        with self._lock:
            self.keys.append(key)
            stored = self._replies.get(key) if key and self.honour_keys else None
            if stored is not None:
                status, payload = stored
            else:
                status, payload = self._apply(method, path, body)
                if key and self.honour_keys:
                    self._replies[key] = (status, payload)
                if status < 300:
                    status, payload = self._spoil(status, payload)
        await reply(send, status, payload if payload is not None else b"", content_type=self._type(payload))

    def _apply(self, method: str, path: str, body: bytes) -> tuple[int, Any]:
        if method == "POST":
            pid = max(self.projects) + 1
            self.projects[pid] = json.loads(body)["name"]
            self.applied.append(f"create {pid}")
            return 201, _project(pid, self.projects[pid])
        pid = int(path.rsplit("/", 1)[1])
        if pid not in self.projects:
            return 404, {"error": {"code": "NOT_FOUND", "message": f"project {pid} not found"}}
        if method == "PATCH":
            self.projects[pid] = json.loads(body)["name"]
            self.applied.append(f"update {pid}")
            return 200, _project(pid, self.projects[pid])
        del self.projects[pid]
        self.applied.append(f"delete {pid}")
        return 204, None

    def _spoil(self, status: int, payload: Any) -> tuple[int, Any]:
        """The fault, for the first attempt of each write (the first time it is applied)."""
        if self.fault == "html":
            return status, b"<html><body>502 Bad Gateway (but the write went through)</body></html>"
        return int(self.fault), {"error": {"code": "UPSTREAM", "message": "gateway timeout after apply"}}

    @staticmethod
    def _type(payload: Any) -> str:
        return (
            "text/html" if isinstance(payload, bytes) and payload.startswith(b"<html") else "application/json"
        )


def _client(url: str) -> sdk.AsyncClient:
    return sdk.AsyncClient(url, retry=RETRY, timeout=sdk.Timeout(total=30))


@pytest.mark.parametrize("fault", ["500", "504", "html"])
async def test_a_patch_applied_then_failed_is_applied_once(fault: str) -> None:
    server = WriteServer(fault)
    with serving(server) as url:
        async with _client(url) as client:
            project = await client.projects.update(1, name="renamed")
    assert project.name == "renamed" and server.projects[1] == "renamed"
    assert server.applied == ["update 1"]
    assert len(server.keys) == 2 and server.keys[0] is not None and server.keys[0] == server.keys[1]


@pytest.mark.parametrize("fault", ["500", "504", "html"])
async def test_a_create_applied_then_failed_or_unreadable_is_applied_once(fault: str) -> None:
    server = WriteServer(fault)
    with serving(server) as url:
        async with _client(url) as client:
            project = await client.projects.create("fresh")
    assert (project.id, project.name) == (3, "fresh")
    assert server.applied == ["create 3"]
    assert len(server.keys) == 2 and server.keys[0] == server.keys[1]


@pytest.mark.parametrize("fault", ["500", "504"])
async def test_a_delete_applied_then_failed_is_done_on_a_server_that_ignores_keys(fault: str) -> None:
    server = WriteServer(fault, honour_keys=False)
    with serving(server) as url:
        async with _client(url) as client:
            await client.projects.delete(1)  # the retry finds it gone: 404, reported as done
            raw = await client.projects.with_raw_response.delete(2)
            with pytest.raises(sdk.NotFoundError):
                await client.projects.delete(99)  # never there: a first-attempt 404 stands
    assert server.applied == ["delete 1", "delete 2"]
    assert 1 not in server.projects and raw.status_code == 204
    assert server.keys[0] is not None and server.keys[0] == server.keys[1]


@pytest.mark.parametrize("fault", ["500", "504"])
async def test_a_delete_applied_then_failed_gets_its_first_reply_back_under_its_key(fault: str) -> None:
    server = WriteServer(fault)
    with serving(server) as url:
        async with _client(url) as client:
            raw = await client.projects.with_raw_response.delete(1)
    assert raw.status_code == 204 and server.applied == ["delete 1"]
    assert server.keys[0] == server.keys[1]


async def test_a_create_whose_reply_is_cut_short_is_fetched_again_under_its_key() -> None:
    replies: dict[str, bytes] = {}
    applied: list[str] = []
    lock = threading.Lock()

    def handler(method: str, target: str, headers: dict[str, str], body: bytes) -> bytes:
        key = headers.get("idempotency-key", "")
        with lock:
            if key in replies:
                return http_reply(201, replies[key])
            applied.append(key)
            content = json.dumps(_project(len(applied), json.loads(body)["name"])).encode()
            replies[key] = content
        return http_reply(201, content[: len(content) // 2], content_length=len(content))

    with RawServer(handler) as url:
        async with _client(url) as client:
            project = await client.projects.create("cut short")
    assert project.name == "cut short" and len(applied) == 1 and applied[0]


async def test_an_unreadable_reply_to_a_read_is_not_resent() -> None:
    # GET carries no key: its body is read once, by the caller's decode (no second parse).
    server = WriteServer("html")
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            seen.append(scope["method"])
            await reply(send, 200, b"<html>oops</html>", content_type="text/html")

    with serving(app) as url:
        async with _client(url) as client:
            with pytest.raises(sdk.ResponseDecodeError):
                await client.projects.get(1)
    assert seen == ["GET"] and server.applied == []
