"""Users, projects, validation, the error envelope and pagination, over real HTTP."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from asyncapi_sandbox import Sandbox

# On asyncio and on trio (the anyio_backend fixture in conftest.py).
pytestmark = pytest.mark.anyio

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def envelope(reply: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    assert error["message"]
    assert reply.headers["x-request-id"]
    details: dict[str, Any] = error["details"]
    return details


async def test_users_me_and_get(api: httpx.AsyncClient, sb: Sandbox) -> None:
    me = (await api.get("/api/v1/users/me")).json()
    assert set(me) == {"id", "name", "email", "created_at"}
    assert me["email"] == f"{sb.client_id}@example.com"
    assert RFC3339.match(me["created_at"])
    assert (await api.get(f"/api/v1/users/{me['id']}")).json() == me
    envelope(await api.get("/api/v1/users/99999"), 404, "NOT_FOUND")
    envelope(await api.get("/api/v1/users/abc"), 404, "NOT_FOUND")


async def test_pagination_meta_at_the_edges(api: httpx.AsyncClient) -> None:
    first = (await api.get("/api/v1/projects")).json()
    assert first["meta"] == {"currentPage": 1, "totalPages": 8, "totalItems": 150, "itemsPerPage": 20}
    assert [p["id"] for p in first["data"]] == list(range(1, 21))
    project = first["data"][0]
    assert set(project) == {"id", "name", "description", "created_at", "updated_at"}
    assert RFC3339.match(project["updated_at"])
    last = (await api.get("/api/v1/projects", params={"page": 8})).json()
    assert [p["id"] for p in last["data"]] == list(range(141, 151))
    assert last["meta"]["currentPage"] == 8
    past = (await api.get("/api/v1/projects", params={"page": 9})).json()
    assert past == {
        "data": [],
        "meta": {"currentPage": 9, "totalPages": 8, "totalItems": 150, "itemsPerPage": 20},
    }
    one = (await api.get("/api/v1/projects", params={"limit": 1, "page": 150})).json()
    assert [p["id"] for p in one["data"]] == [150]
    assert one["meta"] == {"currentPage": 150, "totalPages": 150, "totalItems": 150, "itemsPerPage": 1}
    hundred = (await api.get("/api/v1/projects", params={"limit": 100, "page": 2})).json()
    assert len(hundred["data"]) == 50
    assert hundred["meta"] == {"currentPage": 2, "totalPages": 2, "totalItems": 150, "itemsPerPage": 100}
    users = (await api.get("/api/v1/users", params={"limit": 100})).json()
    assert users["meta"] == {"currentPage": 1, "totalPages": 1, "totalItems": 50, "itemsPerPage": 100}
    assert len({u["email"] for u in users["data"]}) == 50


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("limit", "0"),
        ("limit", "101"),
        ("limit", "ten"),
        ("page", "0"),
        ("page", "-1"),
        ("page", ""),
        ("limit", "1.5"),
        ("page", "\u0661"),  # a digit, but not an ASCII one
    ],
)
async def test_invalid_page_or_limit(api: httpx.AsyncClient, field: str, value: str) -> None:
    details = envelope(await api.get("/api/v1/users", params={field: value}), 400, "INVALID_INPUT")
    assert details == {"field": field, "value": value}


async def test_create_user_and_conflict(api: httpx.AsyncClient, sb: Sandbox) -> None:
    reply = await api.post("/api/v1/users", json={"name": "Ada Lovelace", "email": "ada@example.com"})
    assert reply.status_code == 201
    user = reply.json()
    assert user["id"] == 51 and user["name"] == "Ada Lovelace" and RFC3339.match(user["created_at"])
    assert (await api.get("/api/v1/users/51")).json() == user
    details = envelope(
        await api.post("/api/v1/users", json={"name": "Ada", "email": "ADA@example.com"}), 409, "CONFLICT"
    )
    assert details == {"field": "email", "value": "ADA@example.com"}
    stats = await sb.stats()
    assert stats["users_created"] == 1 and stats["users_total"] == 51


@pytest.mark.parametrize(
    ("body", "field", "value"),
    [
        ({"name": "A", "email": "invalid-email"}, "email", "invalid-email"),
        ({"name": "A", "email": "a@b"}, "email", "a@b"),
        ({"name": "A"}, "email", None),
        ({"email": "a@example.com"}, "name", None),
        ({"name": "", "email": "a@example.com"}, "name", ""),
        ({"name": 7, "email": "a@example.com"}, "name", 7),
        ({"name": "x" * 101, "email": "a@example.com"}, "name", "x" * 101),
        ({"name": "A", "email": "a@example.com", "role": "admin"}, "role", "admin"),
    ],
)
async def test_user_validation(api: httpx.AsyncClient, body: dict[str, Any], field: str, value: Any) -> None:
    details = envelope(await api.post("/api/v1/users", json=body), 400, "INVALID_INPUT")
    assert details == {"field": field, "value": value}


async def test_body_errors(api: httpx.AsyncClient) -> None:
    headers = {"content-type": "application/json"}
    envelope(await api.post("/api/v1/users", content=b"{not json", headers=headers), 400, "INVALID_INPUT")
    envelope(await api.post("/api/v1/users", content=b"", headers=headers), 400, "INVALID_INPUT")
    envelope(await api.post("/api/v1/users", json=[1, 2]), 400, "INVALID_INPUT")
    envelope(
        await api.post("/api/v1/users", content=b"name=a", headers={"content-type": "text/plain"}),
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    )


async def test_bulk_create_in_input_order(api: httpx.AsyncClient, sb: Sandbox) -> None:
    items = [{"name": f"Bulk {i}", "email": f"bulk{i}@example.com"} for i in range(100)]
    reply = await api.post("/api/v1/users/bulk", json=items)
    assert reply.status_code == 201
    created = reply.json()["data"]
    assert [u["email"] for u in created] == [i["email"] for i in items]
    assert [u["id"] for u in created] == list(range(51, 151))
    stats = await sb.stats()
    assert stats["bulk_requests"] == 1 and stats["users_created"] == 100


async def test_bulk_is_all_or_nothing(api: httpx.AsyncClient, sb: Sandbox) -> None:
    items = [{"name": f"Bulk {i}", "email": f"bulk{i}@example.com"} for i in range(10)]
    items[7] = {"name": "Bad", "email": "invalid-email"}
    details = envelope(await api.post("/api/v1/users/bulk", json=items), 400, "INVALID_INPUT")
    first = {"index": 7, "field": "email", "value": "invalid-email"}
    message = "item 7: The provided email address is not valid."
    assert details == {**first, "errors": [{**first, "code": "INVALID_INPUT", "message": message}]}
    items[7] = {"name": "Dup", "email": "BULK2@example.com"}
    details = envelope(await api.post("/api/v1/users/bulk", json=items), 409, "CONFLICT")
    assert {k: v for k, v in details.items() if k != "errors"} == {
        "index": 7,
        "field": "email",
        "value": "BULK2@example.com",
    }
    assert [e["index"] for e in details["errors"]] == [7]
    me = (await api.get("/api/v1/users/me")).json()
    items[7] = {"name": "Me again", "email": me["email"]}
    details = envelope(await api.post("/api/v1/users/bulk", json=items), 409, "CONFLICT")
    assert details["index"] == 7
    items[3] = {"name": "Extra", "email": "x@example.com", "admin": True}
    details = envelope(await api.post("/api/v1/users/bulk", json=items), 400, "INVALID_INPUT")
    assert {k: v for k, v in details.items() if k != "errors"} == {"index": 3, "field": "admin", "value": True}
    items[3] = "not an object"
    details = envelope(await api.post("/api/v1/users/bulk", json=items), 400, "INVALID_INPUT")
    assert details["index"] == 3
    stats = await sb.stats()
    assert stats["users_created"] == 0 and stats["users_total"] == 50


async def test_bulk_size_limits(api: httpx.AsyncClient, sb: Sandbox) -> None:
    envelope(await api.post("/api/v1/users/bulk", json=[]), 400, "INVALID_INPUT")
    too_many = [{"name": "N", "email": f"n{i}@example.com"} for i in range(101)]
    details = envelope(await api.post("/api/v1/users/bulk", json=too_many), 400, "INVALID_INPUT")
    assert details["value"] == 101 and details["max"] == 100
    envelope(await api.post("/api/v1/users/bulk", json={"name": "A"}), 400, "INVALID_INPUT")
    await sb.configure(max_bulk=2)
    details = envelope(await api.post("/api/v1/users/bulk", json=too_many[:3]), 400, "INVALID_INPUT")
    assert details["max"] == 2


async def test_project_lifecycle(api: httpx.AsyncClient, sb: Sandbox) -> None:
    reply = await api.post("/api/v1/projects", json={"name": "Apollo", "description": "moon"})
    assert reply.status_code == 201
    project = reply.json()
    assert project["id"] == 151 and project["created_at"] == project["updated_at"]
    assert (await api.get("/api/v1/projects/151")).json() == project
    bare = (await api.post("/api/v1/projects", json={"name": "No description"})).json()
    assert bare["description"] == ""
    patched = await api.patch("/api/v1/projects/151", json={"description": "mars"})
    assert patched.status_code == 200
    assert patched.json()["description"] == "mars" and patched.json()["name"] == "Apollo"
    assert patched.json()["updated_at"] >= project["updated_at"]
    details = envelope(await api.patch("/api/v1/projects/151", json={"owner": "me"}), 400, "INVALID_INPUT")
    assert details["field"] == "owner"
    envelope(await api.patch("/api/v1/projects/151", json={}), 400, "INVALID_INPUT")
    envelope(await api.patch("/api/v1/projects/151", json={"name": None}), 400, "INVALID_INPUT")
    deleted = await api.delete("/api/v1/projects/151")
    assert deleted.status_code == 204 and deleted.content == b""
    envelope(await api.get("/api/v1/projects/151"), 404, "NOT_FOUND")
    envelope(await api.delete("/api/v1/projects/151"), 404, "NOT_FOUND")
    envelope(await api.patch("/api/v1/projects/999", json={"name": "x"}), 404, "NOT_FOUND")
    details = envelope(await api.post("/api/v1/projects", json={"description": "x"}), 400, "INVALID_INPUT")
    assert details == {"field": "name", "value": None}
    stats = await sb.stats()
    assert (stats["projects_created"], stats["projects_updated"], stats["projects_deleted"]) == (2, 1, 1)
    assert stats["projects_total"] == 151


async def test_duplicate_creates_are_counted(api: httpx.AsyncClient, sb: Sandbox) -> None:
    for _ in range(3):
        assert (await api.post("/api/v1/projects", json={"name": "Same"})).status_code == 201
    assert (await sb.stats())["duplicate_creates"] == 2


async def test_unknown_routes_and_methods(api: httpx.AsyncClient, sb: Sandbox) -> None:
    envelope(await api.get("/api/v1/nothing"), 404, "NOT_FOUND")
    envelope(await api.get("/api/v1/projects/1/extra"), 404, "NOT_FOUND")
    envelope(await api.get("/api/v1/projects/"), 404, "NOT_FOUND")
    reply = await api.delete("/api/v1/users/1")
    envelope(reply, 405, "METHOD_NOT_ALLOWED")
    assert reply.headers["allow"] == "GET"
    envelope(await api.get(sb.base_url + "/elsewhere"), 404, "NOT_FOUND")


async def test_request_id_on_every_response(api: httpx.AsyncClient, sb: Sandbox) -> None:
    replies = [
        await api.get("/api/v1/projects"),
        await api.get("/api/v1/projects/0"),
        await api.get("/_sandbox/stats"),
        await api.post(sb.token_url, data={"grant_type": "client_credentials"}),
        await api.get("/nowhere"),
    ]
    ids = [r.headers["x-request-id"] for r in replies]
    assert len(set(ids)) == len(ids)
    echoed = await api.get("/api/v1/users/me", headers={"x-request-id": "trace-123"})
    assert echoed.headers["x-request-id"] == "trace-123"


async def test_reset_restores_seeded_state(api: httpx.AsyncClient, sb: Sandbox) -> None:
    await api.post("/api/v1/projects", json={"name": "Temp"})
    await api.delete("/api/v1/projects/1")
    seeded = (await api.get("/api/v1/projects", params={"limit": 100})).json()
    await sb.reset()
    again = (await api.get("/api/v1/projects", params={"limit": 100})).json()
    assert again["meta"]["totalItems"] == 150 and again["data"][0]["id"] == 1
    assert seeded["data"][0]["id"] == 2
    stats = await sb.stats()
    assert stats["projects_created"] == 0 and stats["requests_total"] == 1
    # The token survived the reset.
    assert (await api.get("/api/v1/users/me")).status_code == 200
