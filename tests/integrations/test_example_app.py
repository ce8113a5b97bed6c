"""examples/fastapi_app.py served in-process; the SDK client inside it talks HTTP to the sandbox."""

from __future__ import annotations

import importlib.util
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

import asyncapi_client as sdk
from asyncapi_sandbox import Sandbox
from tests.support.asgi_lifespan import LifespanFailed, running
from tests.support.sandbox_token import fetch_token

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fastapi_app.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fastapi_app_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # pydantic resolves the response models through it
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example() -> ModuleType:
    return load_example()


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


@pytest.fixture
def env(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNCAPI_BASE_URL", sandbox.base_url)
    monkeypatch.setenv("ASYNCAPI_CLIENT_ID", sandbox.client_id)
    monkeypatch.setenv("ASYNCAPI_CLIENT_SECRET", sandbox.client_secret)


@asynccontextmanager
async def serve(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The app with its lifespan running, and an HTTP client calling it in-process. (A context
    manager, not a fixture: the lifespan's task group must start and end in the test's task.)"""
    async with (
        running(app) as served,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=served), base_url="http://app.test") as client,
    ):
        yield client


async def test_projects_are_listed_with_the_apps_own_credentials(
    example: ModuleType, sandbox: Sandbox, env: None
) -> None:
    await sandbox.reset()
    async with serve(example.create_app()) as browser:
        await check_projects(browser, sandbox)


async def check_projects(browser: httpx.AsyncClient, sandbox: Sandbox) -> None:
    answer = await browser.get("/projects", params={"page": 2, "limit": 10})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["page"] == 2 and body["total_items"] == 150 and body["total_pages"] == 15
    async with sdk.AsyncClient(sandbox.base_url, auth=sdk.BearerToken(await fetch_token(sandbox))) as direct:
        expected = await direct.projects.list_page(2, 10)
    assert [p["id"] for p in body["projects"]] == [p.id for p in expected.data]
    assert body["projects"][0]["name"] == expected.data[0].name

    # Validation happens in the app, before any upstream call.
    assert (await browser.get("/projects", params={"limit": 500})).status_code == 422

    # One cached service token for all of the app's calls.
    for _ in range(3):
        assert (await browser.get("/projects")).status_code == 200
    stats = await sandbox.stats()
    assert stats["token_requests"]["client_credentials"] == 2  # the app's one, and ours above


async def test_me_forwards_the_callers_token(example: ModuleType, sandbox: Sandbox, env: None) -> None:
    await sandbox.reset()
    async with serve(example.create_app()) as browser:
        await check_me(browser, sandbox)


async def check_me(browser: httpx.AsyncClient, sandbox: Sandbox) -> None:
    token = await fetch_token(sandbox)
    answer = await browser.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    async with sdk.AsyncClient(sandbox.base_url, auth=sdk.BearerToken(token)) as direct:
        me = await direct.users.me()
    assert answer.json() == {"id": me.id, "name": me.name, "email": me.email}

    # No token: refused by the app; a token the API does not know: refused by the API, and the
    # app says so with a 401 (not a 502), without echoing the token.
    missing = await browser.get("/me")
    assert missing.status_code == 401
    bogus = await browser.get("/me", headers={"Authorization": "Bearer not-a-real-token-123"})
    assert bogus.status_code == 401
    assert bogus.json()["detail"]["code"] == "UNAUTHENTICATED"
    assert "not-a-real-token-123" not in bogus.text
    assert bogus.headers["www-authenticate"] == "Bearer"

    # The per-user calls went through the one shared client (pool, limiter, counters).
    stats = (await browser.get("/stats")).json()
    assert stats["requests"] == 2  # the good and the bogus /me; the missing one never left the app
    assert stats["errors"] == 1
    assert (await sandbox.stats())["token_requests"][
        "client_credentials"
    ] == 1  # only ours: the app used none


async def test_the_module_level_app_reads_its_settings_at_startup(
    example: ModuleType, sandbox: Sandbox, env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with serve(example.app) as browser:
        assert (await browser.get("/projects", params={"limit": 1})).status_code == 200
    monkeypatch.delenv("ASYNCAPI_CLIENT_SECRET")
    with pytest.raises(LifespanFailed, match="ASYNCAPI_CLIENT_SECRET is not"):
        async with running(example.app):
            pass


async def test_an_unreachable_api_becomes_a_502(example: ModuleType) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"  # nothing listens once closed

    def factory() -> sdk.AsyncClient:
        return sdk.AsyncClient(dead, auth=sdk.BearerToken("t"), retry=sdk.RetryPolicy(max_attempts=1))

    app: Any = example.create_app(factory)
    async with serve(app) as browser:
        answer = await browser.get("/projects")
    assert answer.status_code == 502
    assert answer.json()["detail"]["code"] == "UPSTREAM_ERROR"


async def test_each_callers_token_has_its_own_rate_limit(
    example: ModuleType, env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API limits per access token; the example app's limiter partitions by token, so a caller
    who spent their budget does not hold up another caller (a shared partition would wait ~1 s)."""
    async with Sandbox(rate=1, burst=3) as sb:
        alice, bob = await fetch_token(sb), await fetch_token(sb)
        monkeypatch.setenv("ASYNCAPI_BASE_URL", sb.base_url)
        async with serve(example.create_app()) as browser:
            for _ in range(3):
                assert (
                    await browser.get("/me", headers={"Authorization": f"Bearer {alice}"})
                ).status_code == 200
            before = (await browser.get("/stats")).json()
            assert (await browser.get("/me", headers={"Authorization": f"Bearer {bob}"})).status_code == 200
            after = (await browser.get("/stats")).json()
        server = await sb.stats()
    assert server["rate_limited"] == 0
    assert after["requests"] == before["requests"] + 1
    assert after["limiter_wait_seconds"] - before["limiter_wait_seconds"] < 0.2, (before, after)
