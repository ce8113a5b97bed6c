"""Idempotency-Key on POST, PATCH and DELETE: a repeat replays the first reply and applies
nothing again."""

from __future__ import annotations

import httpx
import pytest

from asyncapi_sandbox import Sandbox
from tests.support.gather import gather

# On asyncio and on trio (the anyio_backend fixture in conftest.py).
pytestmark = pytest.mark.anyio


async def test_sequential_replay(sb: Sandbox, api: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "key-1"}
    first = await api.post("/api/v1/projects", json={"name": "Once"}, headers=headers)
    second = await api.post("/api/v1/projects", json={"name": "Once"}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert "idempotent-replayed" not in first.headers
    assert second.headers["idempotent-replayed"] == "true"
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    stats = await sb.stats()
    assert stats["projects_created"] == 1 and stats["idempotent_replays"] == 1
    # Another key creates another project.
    third = await api.post("/api/v1/projects", json={"name": "Once"}, headers={"Idempotency-Key": "key-2"})
    assert third.json()["id"] != first.json()["id"]


async def test_concurrent_requests_with_one_key_create_once(sb: Sandbox, api: httpx.AsyncClient) -> None:
    await sb.configure(latency_ms=100)
    headers = {"Idempotency-Key": "concurrent"}
    body = [{"name": "C", "email": "c@example.com"}]
    replies = await gather(*(api.post("/api/v1/users/bulk", json=body, headers=headers) for _ in range(5)))
    assert {r.status_code for r in replies} == {201}
    assert len({r.text for r in replies}) == 1
    assert sum(r.headers.get("idempotent-replayed") == "true" for r in replies) == 4
    stats = await sb.stats()
    assert stats["users_created"] == 1 and stats["idempotent_replays"] == 4


async def test_error_replies_are_replayed_too(sb: Sandbox, api: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "bad"}
    first = await api.post("/api/v1/users", json={"name": "X", "email": "nope"}, headers=headers)
    second = await api.post("/api/v1/users", json={"name": "X", "email": "nope"}, headers=headers)
    assert first.status_code == second.status_code == 400
    assert second.headers["idempotent-replayed"] == "true"


async def test_same_key_with_another_body_is_rejected(sb: Sandbox, api: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "reused"}
    assert (await api.post("/api/v1/projects", json={"name": "A"}, headers=headers)).status_code == 201
    other = await api.post("/api/v1/projects", json={"name": "B"}, headers=headers)
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert (await sb.stats())["projects_created"] == 1


async def test_failed_attempts_are_not_stored(sb: Sandbox, api: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "retry-me"}
    await sb.configure(fail_rate=1.0)
    failed = await api.post("/api/v1/projects", json={"name": "R"}, headers=headers)
    assert failed.status_code in (500, 502, 503)
    assert failed.json()["error"]["code"] in ("INTERNAL", "BAD_GATEWAY", "UNAVAILABLE")
    assert (await sb.stats())["projects_created"] == 0  # decided before processing
    await sb.configure(fail_rate=0.0)
    retried = await api.post("/api/v1/projects", json={"name": "R"}, headers=headers)
    assert retried.status_code == 201
    assert "idempotent-replayed" not in retried.headers


async def test_a_dropped_post_was_processed_and_its_retry_replays(
    sb: Sandbox, api: httpx.AsyncClient
) -> None:
    headers = {"Idempotency-Key": "lost-reply"}
    await sb.configure(drop_rate=1.0)
    try:
        await api.post("/api/v1/projects", json={"name": "Lost"}, headers=headers)
        raise AssertionError("the connection should have been dropped")
    except httpx.TransportError:
        pass
    assert (await sb.stats())["projects_created"] == 1  # the write happened, the reply was lost
    await sb.configure(drop_rate=0.0)
    retried = await api.post("/api/v1/projects", json={"name": "Lost"}, headers=headers)
    assert retried.status_code == 201
    assert retried.headers["idempotent-replayed"] == "true"
    stats = await sb.stats()
    assert stats["projects_created"] == 1 and stats["drops"] == 1


async def test_keys_are_not_shared_with_get_or_other_paths(sb: Sandbox, api: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "k"}
    assert (await api.get("/api/v1/projects", headers=headers)).status_code == 200
    assert (await api.post("/api/v1/projects", json={"name": "P"}, headers=headers)).status_code == 201
    reused = await api.post("/api/v1/users", json={"name": "P"}, headers=headers)
    assert reused.status_code == 422
    too_long = await api.post("/api/v1/projects", json={"name": "P"}, headers={"Idempotency-Key": "x" * 300})
    assert too_long.status_code == 400


async def test_a_dropped_patch_was_applied_and_its_retry_replays(sb: Sandbox, api: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "patch-once"}
    await sb.configure(drop_rate=1.0)
    with pytest.raises(httpx.TransportError):
        await api.patch("/api/v1/projects/1", json={"name": "Renamed"}, headers=headers)
    await sb.configure(drop_rate=0.0)
    assert (await api.get("/api/v1/projects/1")).json()["name"] == "Renamed"  # applied, reply lost
    retried = await api.patch("/api/v1/projects/1", json={"name": "Renamed"}, headers=headers)
    assert retried.status_code == 200 and retried.headers["idempotent-replayed"] == "true"
    assert retried.json()["name"] == "Renamed"
    other = await api.patch("/api/v1/projects/1", json={"name": "Other"}, headers=headers)
    assert other.status_code == 422  # the key belongs to the first body


async def test_a_dropped_delete_was_applied_and_its_retry_gets_the_204(
    sb: Sandbox, api: httpx.AsyncClient
) -> None:
    headers = {"Idempotency-Key": "delete-once"}
    await sb.configure(drop_rate=1.0)
    with pytest.raises(httpx.TransportError):
        await api.delete("/api/v1/projects/2", headers=headers)
    await sb.configure(drop_rate=0.0)
    assert (await api.get("/api/v1/projects/2")).status_code == 404  # applied, reply lost
    retried = await api.delete("/api/v1/projects/2", headers=headers)
    assert retried.status_code == 204 and retried.headers["idempotent-replayed"] == "true"
    unkeyed = await api.delete("/api/v1/projects/2")
    assert unkeyed.status_code == 404  # without the key, the repeat is a new request


async def test_a_key_is_tied_to_its_method(sb: Sandbox, api: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "one-method"}
    assert (await api.delete("/api/v1/projects/3", headers=headers)).status_code == 204
    patched = await api.patch("/api/v1/projects/3", json={"name": "X"}, headers=headers)
    assert patched.status_code == 422
