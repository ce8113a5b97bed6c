"""Models serialise as the API writes them (`to_dict`, `to_json`) and read that back
(`from_dict`); checked against the sandbox's own JSON."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from asyncapi_client import CreatedWebhook, NewUser, Page, PageMeta, Project, Secret, User, Webhook
from asyncapi_sandbox import Sandbox
from tests.support.sandbox_token import sandbox_client

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_to_dict_is_the_servers_json(sandbox: Sandbox) -> None:
    async with await sandbox_client(sandbox) as client:
        raw = await client.projects.with_raw_response.get(1)
        project: Project = raw.parsed
        assert project.to_dict() == raw.response.json()
        assert json.loads(project.to_json()) == raw.response.json()
        assert Project.from_dict(project.to_dict()) == project

        raw_user = await client.users.with_raw_response.me()
        user: User = raw_user.parsed
        assert user.to_dict() == raw_user.response.json()
        assert User.from_dict(json.loads(user.to_json())) == user

        raw_page = await client.projects.with_raw_response.list_page(2, 5)
        page: Page[Project] = raw_page.parsed
        assert page.to_dict() == raw_page.response.json()  # meta in camelCase, as sent
        assert Page.from_dict(page.to_dict(), Project) == page

        hook = await client.webhooks.create("http://127.0.0.1:9/hooks", ["project.created"])
        assert isinstance(hook, CreatedWebhook) and isinstance(hook.secret, Secret)
        assert "secret" not in hook.to_dict() and hook.secret.get() not in hook.to_json()
        listed = await client.webhooks.get(hook.id)
        assert listed.to_dict() == hook.to_dict()
        assert Webhook.from_dict(hook.to_dict()) == listed


def test_timestamps_are_rfc3339_in_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    project = Project(
        1,
        "p",
        None,
        datetime(2024, 5, 1, 14, 0, 0, 123000, tzinfo=plus_two),
        datetime(2024, 5, 1, 12, 0, 0, 1, tzinfo=timezone.utc),
    )
    data = project.to_dict()
    assert data["created_at"] == "2024-05-01T12:00:00.123Z"
    assert data["updated_at"] == "2024-05-01T12:00:00.000001Z"
    assert Project.from_dict(data) == project  # the same instants
    assert project.to_json(indent=2).startswith('{\n  "id": 1,')
    assert PageMeta(1, 2, 3, 4).to_dict() == {"currentPage": 1, "totalPages": 2, "totalItems": 3, "itemsPerPage": 4}
    assert NewUser("Zoë", "z@example.com").to_json() == '{"name":"Zoë","email":"z@example.com"}'


def test_from_dict_refuses_what_does_not_fit() -> None:
    good = {"id": 1, "name": "a", "email": "a@example.com", "created_at": "2024-01-01T00:00:00Z"}
    assert User.from_dict({**good, "extra": True}).id == 1  # unknown keys ignored, as in replies
    with pytest.raises(ValueError, match="does not fit User"):
        User.from_dict({**good, "created_at": "yesterday"})
    with pytest.raises(ValueError, match="attribute email"):
        User.from_dict({k: v for k, v in good.items() if k != "email"})
    with pytest.raises(ValueError, match="secret"):
        CreatedWebhook.from_dict({"id": 1, "url": "http://x", "events": ["ping"]})
