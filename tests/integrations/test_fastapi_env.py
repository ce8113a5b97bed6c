"""`client_lifespan()` with no arguments: the app's client is `AsyncClient()`, configured by the
environment when the app starts; against the sandbox."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from asyncapi_client.integrations.fastapi import ClientDep, client_lifespan
from asyncapi_sandbox import Sandbox
from tests.support.asgi_lifespan import LifespanFailed, running

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_the_environment_configures_the_apps_client(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = FastAPI(lifespan=client_lifespan())

    @app.get("/me")
    async def me(client: ClientDep) -> str:
        return (await client.users.me()).email

    # Read at startup, not when the app is defined: a missing variable stops the start.
    with pytest.raises(LifespanFailed, match="ASYNCAPI_BASE_URL"):
        async with running(app):
            pass
    monkeypatch.setenv("ASYNCAPI_BASE_URL", sandbox.base_url)
    monkeypatch.setenv("ASYNCAPI_CLIENT_ID", sandbox.client_id)
    monkeypatch.setenv("ASYNCAPI_CLIENT_SECRET", sandbox.client_secret)
    async with (
        running(app) as served,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=served), base_url="http://app.test") as browser,
    ):
        answer = await browser.get("/me")
    assert answer.json() == "demo-client@example.com"
