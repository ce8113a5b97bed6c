"""SDK errors a route does not catch become HTTP answers, against the sandbox and a server that
never answers: the caller's refused token 401, the API's 429 a 503 with Retry-After, a timeout
504, the rest 502; the app can change the mapping or turn it off."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, HTTPException
from fastapi import Request as FastAPIRequest
from fastapi.responses import JSONResponse

import asyncapi_client as sdk
from asyncapi_client.integrations.fastapi import (
    ClientDep,
    UserClientDep,
    client_lifespan,
    default_error_mapper,
)
from asyncapi_sandbox import Sandbox
from tests.support.asgi_lifespan import running
from tests.support.sandbox_token import fetch_token
from tests.support.silent_server import silent_server

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


def build_app(factory: Any, **lifespan_kwargs: Any) -> FastAPI:
    app = FastAPI(lifespan=client_lifespan(factory, **lifespan_kwargs))

    @app.get("/project")
    async def project(client: ClientDep) -> str:
        return (await client.projects.get(1)).name

    @app.get("/me")
    async def me(client: UserClientDep) -> str:
        return (await client.users.me()).name

    @app.get("/both")
    async def both(shared: ClientDep, user: UserClientDep) -> str:
        # The app's own call fails here: its 401 is not the caller's to fix.
        return (await shared.projects.get(1)).name + (await user.users.me()).name

    return app


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        running(app) as served,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=served), base_url="http://app.test") as browser,
    ):
        yield browser


def once(url: str, token: str, **kwargs: Any) -> Any:
    return lambda: sdk.AsyncClient(url, auth=sdk.BearerToken(token), retry=sdk.RetryPolicy(max_attempts=1), **kwargs)


async def test_the_callers_refused_token_is_a_401_the_apps_own_a_502(sandbox: Sandbox) -> None:
    await sandbox.reset()
    good = await fetch_token(sandbox)
    async with serve(build_app(once(sandbox.base_url, "the-apps-revoked-token"))) as browser:
        mine = await browser.get("/me", headers={"Authorization": "Bearer not-a-token"})
        assert mine.status_code == 401
        assert mine.headers["www-authenticate"] == "Bearer"
        assert mine.json()["detail"]["code"] == "UNAUTHENTICATED"
        assert "not-a-token" not in mine.text

        ours = await browser.get("/project")
        assert ours.status_code == 502
        assert ours.json()["detail"] == {
            "code": "UPSTREAM_ERROR",
            "message": "the API answered 401",
            "upstream_status": 401,
            "request_id": ours.json()["detail"]["request_id"],
        }
        assert ours.json()["detail"]["request_id"]  # the sandbox's X-Request-Id, for support

        both = await browser.get("/both", headers={"Authorization": f"Bearer {good}"})
        assert both.status_code == 502  # the shared client's 401, though the caller's token is fine


async def test_an_upstream_429_is_a_503_with_retry_after() -> None:
    # Two calls, then one per 100 s: the third is limited whatever the machine's speed.
    with Sandbox(rate=0.01, burst=2) as limited_api:
        token = await fetch_token(limited_api)
        async with serve(build_app(once(limited_api.base_url, token))) as browser:
            answers = [await browser.get("/project") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 503]
    limited = answers[2]
    assert limited.json()["detail"]["code"] == "UPSTREAM_RATE_LIMITED"
    assert limited.json()["detail"]["upstream_status"] == 429
    assert 90 <= int(limited.headers["retry-after"]) <= 100  # the API's wait, in whole seconds


@pytest.fixture
def silent() -> Iterator[str]:
    with silent_server() as url:
        yield url


async def test_a_timeout_is_a_504_and_a_refused_connection_a_502(silent: str) -> None:
    factory = once(silent, "t", timeout=sdk.Timeout(total=0.3, attempt=0.3))
    async with serve(build_app(factory)) as browser:
        answer = await browser.get("/project")
    assert answer.status_code == 504
    assert answer.json()["detail"]["code"] == "UPSTREAM_TIMEOUT"

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    async with serve(build_app(once(dead, "t"))) as browser:
        answer = await browser.get("/project")
    assert answer.status_code == 502
    assert answer.json()["detail"]["upstream_status"] is None


async def test_the_app_changes_the_mapping_or_turns_it_off(sandbox: Sandbox) -> None:
    def teapot_for_404(error: sdk.APIError, from_caller: bool) -> HTTPException | None:
        if isinstance(error, sdk.NotFoundError):
            return HTTPException(418, detail="no such project")
        return default_error_mapper(error, from_caller)

    token = await fetch_token(sandbox)
    await sandbox.reset()
    app = build_app(once(sandbox.base_url, token), error_mapper=teapot_for_404)

    @app.get("/missing")
    async def missing(client: ClientDep) -> str:
        return (await client.projects.get(10**9)).name

    async with serve(app) as browser:
        assert (await browser.get("/missing")).status_code == 418

    await sandbox.reset()
    app = build_app(once(sandbox.base_url, token), error_mapper=None)
    seen: list[int] = []

    @app.exception_handler(sdk.APIStatusError)
    async def own_handler(request: FastAPIRequest, exc: sdk.APIStatusError) -> JSONResponse:
        seen.append(exc.status_code)
        return JSONResponse({"upstream": exc.status_code}, status_code=599)

    @app.get("/missing")
    async def missing_again(client: ClientDep) -> str:
        return (await client.projects.get(10**9)).name

    async with serve(app) as browser:
        answer = await browser.get("/missing")
    assert answer.status_code == 599 and seen == [404]


async def test_the_apps_own_exception_handler_wins(sandbox: Sandbox) -> None:
    """An app that handles an error class itself (as the OAuth login routes do for
    ReconnectRequiredError) gets that class; the mapping answers the rest."""
    token = await fetch_token(sandbox)
    await sandbox.reset()
    app = build_app(once(sandbox.base_url, token))

    @app.exception_handler(sdk.NotFoundError)
    async def not_found(request: FastAPIRequest, exc: sdk.NotFoundError) -> JSONResponse:
        return JSONResponse({"missing": exc.details.get("id")}, status_code=404)

    @app.get("/missing")
    async def missing(client: ClientDep) -> str:
        return (await client.projects.get(10**9)).name

    async with serve(app) as browser:
        answer = await browser.get("/missing")
        assert answer.status_code == 404 and answer.json() == {"missing": "1000000000"}
        assert (await browser.get("/me", headers={"Authorization": "Bearer nope"})).status_code == 401


def test_error_mapper_must_be_callable() -> None:
    with pytest.raises(TypeError, match="error_mapper must be a callable"):
        client_lifespan(lambda: None, error_mapper=42)  # type: ignore[arg-type]
