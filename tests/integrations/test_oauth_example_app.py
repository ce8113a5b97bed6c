"""examples/oauth_app.py under uvicorn (lifespan on), against the sandbox; an httpx browser with
a cookie jar signs in, connects through the sandbox's authorization endpoint and calls as the
user."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from asyncapi_sandbox import Sandbox
from tests.support.services import free_port, serving_asgi

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "oauth_app.py"
SECRET = "an-app-secret-for-the-example-tests-0123456789"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("oauth_app_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def example() -> ModuleType:
    return load_example()


@asynccontextmanager
async def running(example: ModuleType, **options: Any) -> AsyncIterator[tuple[Sandbox, httpx.AsyncClient]]:
    options.setdefault("authorize_mode", "auto")
    port = free_port()
    app_url = f"http://127.0.0.1:{port}"
    async with Sandbox(**options) as sb:
        settings = example.Settings(sb.base_url, sb.client_id, sb.client_secret, app_url, SECRET)
        async with (
            serving_asgi(example.create_app(settings), port=port, lifespan="on"),
            httpx.AsyncClient(base_url=app_url, follow_redirects=True, trust_env=False) as browser,
        ):
            yield sb, browser


async def test_sign_in_connect_and_call_as_the_user(example: ModuleType) -> None:
    async with running(example, authorize_user=6) as (sb, browser):
        home = await browser.get("/signin", params={"user": "ada"})
        assert home.json() == {"user": "ada", "connected": False, "login_url": "/oauth/login?next=%2Fme"}
        assert (await browser.get("/me")).json()["error"]["code"] == "RECONNECT_REQUIRED"

        me = await browser.get(home.json()["login_url"])
        assert me.status_code == 200, me.text
        assert me.json()["id"] == 6  # the sandbox user who approved, not the demo client's own
        assert (await browser.get("/")).json()["connected"] is True
        projects = await browser.get("/projects")
        assert projects.status_code == 200 and len(projects.json()["names"]) == 10
        stats = await sb.stats()
        assert stats["token_requests"]["authorization_code"] == 1
        assert stats["authorizations"]["approved"] == 1

        assert (await browser.post("/oauth/disconnect")).status_code == 204
        assert (await sb.stats())["revocations"] == 1
        assert (await browser.get("/me")).status_code == 401


async def test_a_user_who_is_not_signed_in_or_denies_access(example: ModuleType) -> None:
    async with running(example, authorize_mode="deny") as (_, browser):
        assert (await browser.get("/me")).status_code == 401
        assert (await browser.get("/oauth/login")).status_code == 401
        await browser.get("/signin", params={"user": "bob"})
        denied = await browser.get("/oauth/login")
        assert denied.status_code == 403 and denied.json()["error"]["oauth_error"] == "access_denied"
        forged = httpx.Cookies()
        forged.set("app_user", "bob.0000", domain="127.0.0.1")
        browser.cookies = forged
        assert (await browser.get("/")).json()["user"] is None  # a cookie the app did not sign


def test_missing_settings_say_what_to_set(example: ModuleType, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ASYNCAPI_BASE_URL", "APP_URL", "APP_SECRET"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(RuntimeError, match="APP_URL"):
        example.create_app()
