"""A small program written as a user would, type-checked by tests/typing/test_user_program.py
with `mypy --strict`. The `assert_type` lines fail the check if any of these types were `Any`.
Never imported by the tests; mypy reads it."""

from __future__ import annotations

import json
from collections.abc import Mapping

from fastapi import FastAPI
from typing_extensions import assert_type

from asyncapi_client import (
    APIError,
    AsyncClient,
    CreatedWebhook,
    Project,
    RateLimitStatus,
    Secret,
    User,
)
from asyncapi_client.integrations.fastapi import ClientDep, UserClientDep, client_lifespan
from asyncapi_client.types import JSONValue, ProjectDict, UserDict
from asyncapi_client.webhooks import WebhookEvent, WebhookReceiver

app = FastAPI(lifespan=client_lifespan(lambda: AsyncClient()))


@app.get("/projects")
async def projects(client: ClientDep) -> list[str]:
    page = await client.projects.list_page(1, 20)
    rows = [project.to_dict() for project in page.data]
    assert_type(rows, list[ProjectDict])
    return [row["name"] for row in rows]


@app.get("/me")
async def me(client: UserClientDep) -> UserDict:
    user = await client.users.me()
    assert_type(user, User)
    return user.to_dict()


async def register(client: AsyncClient) -> WebhookReceiver:
    hook = await client.webhooks.create("https://app.example.com/hooks", ["project.created"])
    assert_type(hook, CreatedWebhook)
    assert_type(hook.secret, Secret)
    receiver = WebhookReceiver(hook.secret)

    @receiver.on("project.created")
    async def created(event: WebhookEvent[Project]) -> None:
        print(event.data.name, event.data.to_dict()["created_at"])

    return receiver


async def inspect_one(client: AsyncClient) -> str | None:
    raw = await client.projects.with_raw_response.get(1)
    assert_type(raw.parsed, Project)
    print(raw.parsed.name, raw.status_code)
    return raw.request_id


async def export(client: AsyncClient) -> str:
    async with client.projects.list(prefetch=4) as pager:
        rows = [project.to_dict() async for project in pager]
    back = [Project.from_dict(row) for row in rows]
    assert_type(back, list[Project])
    status = client.rate_limit_status()
    assert_type(status, RateLimitStatus)
    print(status.remaining, status.limit)
    return json.dumps(rows)


async def import_users(client: AsyncClient) -> dict[int, str]:
    result = await client.users.bulk_create([{"name": "Ada", "email": "ada@example.com"}])
    failures: dict[int, str] = {}
    for index, error in result.failed.items():
        assert_type(error, APIError)
        assert_type(error.details, Mapping[str, JSONValue])
        field = error.details.get("field")
        failures[index] = f"{error.message} ({field})"
    for index, user in result.created.items():
        failures.pop(index, None)
        print(user.to_json())
    return failures
