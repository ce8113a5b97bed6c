"""client.webhooks against a mock transport: paths, bodies, decoding, the secret kept masked."""

from __future__ import annotations

import json

import pytest

from asyncapi_client import (
    AsyncClient,
    MockTransport,
    NotFoundError,
    Request,
    Response,
    ResponseDecodeError,
    Secret,
    Webhook,
)
from asyncapi_client.webhooks import WebhookDelivery
from tests.support.signed_deliveries import SECRET

HOOK = {"id": 5, "url": "https://example.com/hooks", "events": ["project.created"]}
DELIVERY = {
    "id": 1,
    "event_id": "evt_9",
    "event_type": "project.created",
    "attempt": 2,
    "status_code": None,
    "error": "connection refused",
    "succeeded": False,
    "created_at": "2024-01-01T00:00:00Z",
}


def api(request: Request) -> Response:
    path = request.url.split("://", 1)[1].partition("/")[2]
    key = f"{request.method} /{path}"
    if key == "POST /api/v1/webhooks":
        sent = json.loads(request.content or b"")
        return Response.json_response(201, {**HOOK, **sent, "secret": SECRET})
    if key == "GET /api/v1/webhooks":
        return Response.json_response(200, {"data": [HOOK, {**HOOK, "id": 6}]})
    if key == "GET /api/v1/webhooks/5":
        return Response.json_response(200, HOOK)
    if key in ("DELETE /api/v1/webhooks/5", "POST /api/v1/webhooks/5/test"):
        return Response(204 if request.method == "DELETE" else 202)
    if key == "GET /api/v1/webhooks/5/deliveries":
        ok = {**DELIVERY, "id": 2, "event_id": 10, "status_code": 200, "error": None, "succeeded": True}
        return Response.json_response(200, {"data": [DELIVERY, ok]})
    if key == "GET /api/v1/webhooks/6/deliveries":
        return Response.json_response(200, {"data": [{**DELIVERY, "succeeded": "yes"}]})
    return Response.json_response(404, {"error": {"code": "NOT_FOUND", "message": "no such webhook"}})


def make_client() -> tuple[AsyncClient, MockTransport]:
    transport = MockTransport(api)
    return AsyncClient("https://api.test", transport=transport, timeout=None), transport


async def test_create_returns_the_secret_masked() -> None:
    client, transport = make_client()
    async with client:
        hook = await client.webhooks.create("https://example.com/hooks", ["project.created", "user.created"])
    assert isinstance(hook, Webhook) and hook.id == 5
    assert hook.events == ["project.created", "user.created"]
    assert isinstance(hook.secret, Secret) and hook.secret.get() == SECRET
    assert SECRET not in repr(hook) and SECRET not in str(hook)
    assert json.loads(transport.requests[0].content or b"") == {
        "url": "https://example.com/hooks",
        "events": ["project.created", "user.created"],
    }


async def test_create_validates_events() -> None:
    client, transport = make_client()
    async with client:
        with pytest.raises(TypeError):
            await client.webhooks.create("https://example.com", "project.created")
        with pytest.raises(ValueError):
            await client.webhooks.create("https://example.com", [])
    assert transport.requests == []


async def test_list_get_delete_test() -> None:
    client, transport = make_client()
    async with client:
        hooks = await client.webhooks.list()
        assert [h.id for h in hooks] == [5, 6] and all(h.secret is None for h in hooks)
        assert (await client.webhooks.get(5)).url == "https://example.com/hooks"
        await client.webhooks.test(5)
        await client.webhooks.delete(5)
        with pytest.raises(NotFoundError):
            await client.webhooks.get(99)
    assert [(r.method, r.url) for r in transport.requests][2:4] == [
        ("POST", "https://api.test/api/v1/webhooks/5/test"),
        ("DELETE", "https://api.test/api/v1/webhooks/5"),
    ]


async def test_deliveries() -> None:
    client, _ = make_client()
    async with client:
        deliveries = await client.webhooks.deliveries(5)
        with pytest.raises(ResponseDecodeError):
            await client.webhooks.deliveries(6)
    assert all(isinstance(d, WebhookDelivery) for d in deliveries)
    failed, ok = deliveries
    assert (failed.attempt, failed.status_code, failed.error, failed.succeeded) == (
        2,
        None,
        "connection refused",
        False,
    )
    assert (ok.event_id, ok.status_code, ok.succeeded) == ("10", 200, True)
