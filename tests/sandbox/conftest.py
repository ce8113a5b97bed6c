"""Fixtures for the sandbox's own tests: they speak plain httpx, never the SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from asyncapi_client.sandbox import Sandbox


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
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        yield client


async def get_token(http: httpx.AsyncClient, sb: Sandbox) -> dict[str, str]:
    reply = await http.post(
        sb.token_url, data={"grant_type": "client_credentials"}, auth=(sb.client_id, sb.client_secret)
    )
    assert reply.status_code == 200, reply.text
    data: dict[str, str] = reply.json()
    return data


async def bearer(http: httpx.AsyncClient, sb: Sandbox) -> dict[str, str]:
    return {"Authorization": "Bearer " + (await get_token(http, sb))["access_token"]}


@pytest.fixture
async def api(sb: Sandbox, http: httpx.AsyncClient) -> httpx.AsyncClient:
    """An httpx client with the sandbox's base URL and a valid bearer token."""
    http.base_url = httpx.URL(sb.base_url)
    http.headers.update(await bearer(http, sb))
    return http
