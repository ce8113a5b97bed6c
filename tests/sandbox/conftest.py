"""Fixtures for the sandbox's own tests: they speak plain httpx, never the SDK."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from asyncapi_sandbox import Sandbox
from tests.support.sandbox_time import SandboxTime, freeze_sandbox_time


@pytest.fixture(scope="session")
def shared_sandbox() -> Iterator[Sandbox]:
    with Sandbox() as server:
        yield server


@pytest.fixture
def sb(shared_sandbox: Sandbox) -> Sandbox:
    """The session's sandbox, reset to its seeded state and options for this test."""
    shared_sandbox.reset_sync()
    return shared_sandbox


@pytest.fixture
def http() -> httpx.AsyncClient:
    """A plain httpx client. Sync, with no keep-alive: nothing stays open that would need an
    awaited close, so the one fixture serves the tests on asyncio and on trio."""
    return httpx.AsyncClient(trust_env=False, timeout=10, limits=httpx.Limits(max_keepalive_connections=0))


@pytest.fixture
def api(sb: Sandbox, http: httpx.AsyncClient) -> httpx.AsyncClient:
    """An httpx client with the sandbox's base URL and a valid bearer token."""
    reply = httpx.post(
        sb.token_url,
        data={"grant_type": "client_credentials"},
        auth=(sb.client_id, sb.client_secret),
        trust_env=False,
    )
    assert reply.status_code == 200, reply.text
    http.base_url = httpx.URL(sb.base_url)
    http.headers["Authorization"] = "Bearer " + reply.json()["access_token"]
    return http


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def sandbox_time(monkeypatch: pytest.MonkeyPatch) -> SandboxTime:
    """The clock of every in-process sandbox for this test, standing still until advanced."""
    return freeze_sandbox_time(monkeypatch)
