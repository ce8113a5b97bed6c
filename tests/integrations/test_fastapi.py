"""The FastAPI integration with a MockTransport under the SDK: lifespan, dependencies, per-user
views. (The example app against the real sandbox is in test_example_app.py.)"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI, WebSocket
from fastapi import Request as FastAPIRequest
from fastapi.testclient import TestClient

import asyncapi_client as sdk
from asyncapi_client import MockTransport, Request, Response, TokenProvider
from asyncapi_client.integrations.fastapi import (
    ClientDep,
    ClientNotConfiguredError,
    UserClientDep,
    client_dependency,
    client_lifespan,
    for_user,
    get_client,
    user_client,
)
from tests.support.asgi_lifespan import LifespanFailed, running
from tests.support.resources import USER


def echo_auth(request: Request) -> Response:
    """Answers `users.me` with the token it was called with, so tests see whose call it was."""
    return Response.json_response(200, {**USER, "name": request.headers.get("authorization", "anonymous")})


def new_client(transport: MockTransport) -> sdk.AsyncClient:
    return sdk.AsyncClient(
        "https://api.example.test", transport=transport, auth=sdk.BearerToken("service-token"), timeout=None
    )


def http(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app.test")


def make_app(**lifespan_kwargs: Any) -> tuple[FastAPI, list[sdk.AsyncClient], MockTransport]:
    transport = MockTransport(echo_auth)
    made: list[sdk.AsyncClient] = []

    def factory() -> sdk.AsyncClient:
        client = new_client(transport)
        made.append(client)
        return client

    app = FastAPI(lifespan=client_lifespan(factory, **lifespan_kwargs))

    @app.get("/whoami")
    async def whoami(client: ClientDep) -> dict[str, Any]:
        me = await client.users.me()
        return {"name": me.name, "client": id(client)}

    @app.get("/user/whoami")
    async def user_whoami(client: UserClientDep) -> dict[str, Any]:
        me = await client.users.me()
        return {"name": me.name}

    return app, made, transport


async def test_lifespan_opens_one_shared_client_and_closes_it_at_shutdown() -> None:
    app, made, transport = make_app()
    async with running(app) as served, http(served) as browser:
        first = (await browser.get("/whoami")).json()
        second = (await browser.get("/whoami")).json()
        assert len(made) == 1
        client = made[0]
        assert first == second == {"name": "Bearer service-token", "client": id(client)}
        assert app.state.asyncapi_client is client
        assert not client.is_closed
    assert client.is_closed
    assert transport.closed
    assert not hasattr(app.state, "asyncapi_client")
    # Started again (a second test, a reload), the app gets a fresh client, not the closed one.
    async with running(app) as served, http(served) as browser:
        assert (await browser.get("/whoami")).status_code == 200
    assert len(made) == 2 and made[1] is not client


async def test_dependency_reads_lifespan_state_before_app_state() -> None:
    app, made, _ = make_app()
    async with running(app) as served, http(served) as browser:
        # What a mounted sub-app sees: the lifespan state, but not the root app's app.state.
        del app.state.asyncapi_client
        assert (await browser.get("/whoami")).json()["client"] == id(made[0])


async def test_app_lifespan_composes_inside_and_sees_the_open_client() -> None:
    events: list[str] = []

    @asynccontextmanager
    async def app_lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        client = app.state.asyncapi_client
        events.append(f"app start, client open: {not client.is_closed}")
        await client.users.me()  # warm up at startup
        yield {"greeting": "hello"}
        events.append(f"app stop, client open: {not client.is_closed}")

    app, made, transport = make_app(lifespan=app_lifespan)

    @app.get("/state")
    async def state(request: FastAPIRequest, client: ClientDep) -> dict[str, Any]:
        return {"greeting": request.state.greeting, "same": client is made[0]}

    async with running(app) as served, http(served) as browser:
        assert (await browser.get("/state")).json() == {"greeting": "hello", "same": True}
    assert events == ["app start, client open: True", "app stop, client open: True"]
    assert made[0].is_closed
    assert len(transport.requests) == 1


async def test_a_failing_app_lifespan_still_closes_the_client() -> None:
    @asynccontextmanager
    async def broken(app: FastAPI) -> AsyncIterator[None]:
        if not made[0].is_closed:  # always: the client is open while the app starts
            raise RuntimeError("database down")
        yield

    app, made, transport = make_app(lifespan=broken)
    with pytest.raises(LifespanFailed):
        async with running(app):
            pass
    assert made[0].is_closed and transport.closed


async def test_route_without_the_lifespan_gets_a_clear_error() -> None:
    app = FastAPI()

    @app.get("/whoami")
    async def whoami(client: ClientDep) -> str:
        return "unreachable"

    async with http(app) as browser:
        with pytest.raises(ClientNotConfiguredError, match=r"lifespan=client_lifespan\(\.\.\.\)"):
            await browser.get("/whoami")


async def test_kwargs_async_factory_and_argument_errors() -> None:
    transport = MockTransport(echo_auth)
    app = FastAPI(lifespan=client_lifespan(base_url="https://api.example.test", transport=transport))

    @app.get("/whoami")
    async def whoami(client: ClientDep) -> str:
        return (await client.users.me()).name

    async with running(app) as served, http(served) as browser:
        assert (await browser.get("/whoami")).json() == "anonymous"
    assert transport.closed

    async def async_factory() -> sdk.AsyncClient:
        return new_client(MockTransport(echo_auth))

    app2 = FastAPI(lifespan=client_lifespan(async_factory))
    app2.get("/whoami")(whoami)
    async with running(app2) as served, http(served) as browser:
        assert (await browser.get("/whoami")).json() == "Bearer service-token"

    with pytest.raises(TypeError, match="not both"):
        client_lifespan(lambda: new_client(transport), base_url="https://x.test")
    with pytest.raises(TypeError, match="not AsyncClient arguments"):
        client_lifespan(base_url="https://x.test", retries=3)
    with pytest.raises(TypeError, match="callable"):
        client_lifespan(new_client(MockTransport(echo_auth)))  # type: ignore[arg-type]

    app3 = FastAPI(lifespan=client_lifespan(lambda: "not a client"))  # type: ignore[arg-type,return-value]
    with pytest.raises(LifespanFailed):
        async with running(app3):
            pass


async def test_per_user_view_forwards_the_callers_token_and_shares_the_pool() -> None:
    app, made, transport = make_app()
    async with running(app) as served, http(served) as browser:
        answer = await browser.get("/user/whoami", headers={"Authorization": "Bearer user-token-1"})
        assert answer.status_code == 200
        assert answer.json() == {"name": "Bearer user-token-1"}
        missing = await browser.get("/user/whoami")
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        wrong_scheme = await browser.get("/user/whoami", headers={"Authorization": "Basic dXNlcjpwdw=="})
        assert wrong_scheme.status_code == 401
        # The service's own call still carries the service token.
        assert (await browser.get("/whoami")).json()["name"] == "Bearer service-token"
        # Two calls, one transport, one set of counters: the view is not a new client.
        assert made[0].stats().requests == 2
    assert [r.headers["authorization"] for r in transport.requests] == [
        "Bearer user-token-1",
        "Bearer service-token",
    ]


async def test_user_client_with_a_token_provider_and_a_second_client() -> None:
    transport = MockTransport(echo_auth)
    providers: dict[str, TokenProvider] = {}

    def tenant_auth(tenant: str) -> TokenProvider:
        # One provider per tenant, kept, so its token cache outlives the request.
        if tenant not in providers:
            providers[tenant] = TokenProvider(lambda: f"token-for-{tenant}")
        return providers[tenant]

    app = FastAPI(lifespan=client_lifespan(lambda: new_client(transport), state_key="partner_api"))
    partner_client = client_dependency("partner_api")

    @app.get("/tenants/{tenant}/whoami")
    async def whoami(
        client: sdk.AsyncClient = Depends(user_client(tenant_auth, client=partner_client)),
    ) -> str:
        return (await client.users.me()).name

    @app.get("/default")
    async def default(client: ClientDep) -> str:
        return "unreachable"

    async with running(app) as served, http(served) as browser:
        assert (await browser.get("/tenants/acme/whoami")).json() == "Bearer token-for-acme"
        assert (await browser.get("/tenants/acme/whoami")).json() == "Bearer token-for-acme"
        assert (await browser.get("/tenants/beta/whoami")).json() == "Bearer token-for-beta"
        with pytest.raises(ClientNotConfiguredError, match="'asyncapi_client'"):
            await browser.get("/default")
    assert providers["acme"].refresh_count == 1  # fetched once, reused


async def test_user_client_answers_401_when_the_getter_has_no_credential() -> None:
    app, _, transport = make_app()

    @app.get("/maybe")
    async def maybe(client: sdk.AsyncClient = Depends(user_client(lambda: None))) -> str:
        return "unreachable"

    async with running(app) as served, http(served) as browser:
        assert (await browser.get("/maybe")).status_code == 401
    assert transport.requests == []


async def test_for_user_and_get_client_outside_routes() -> None:
    client = new_client(MockTransport(echo_auth))
    async with client:
        assert (await for_user(client, "abc").users.me()).name == "Bearer abc"
        assert (await for_user(client, sdk.Secret("xyz")).users.me()).name == "Bearer xyz"
        with pytest.raises(TypeError, match="access token"):
            for_user(client, 42)  # type: ignore[arg-type]
    assert get_client.__name__ == "get_client"


def test_starlette_test_client_runs_the_lifespan_and_websockets_get_the_client() -> None:
    app, made, _ = make_app()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket, client: ClientDep) -> None:
        await websocket.accept()
        token = await websocket.receive_text()
        me = await for_user(client, token).users.me()
        await websocket.send_text(me.name)
        await websocket.close()

    with TestClient(app) as browser:
        assert browser.get("/whoami").json()["name"] == "Bearer service-token"
        with browser.websocket_connect("/ws") as socket:
            socket.send_text("ws-user-token")
            assert socket.receive_text() == "Bearer ws-user-token"
    assert made[0].is_closed
    # Without `with`, TestClient does not run the lifespan: the error says what is missing.
    with pytest.raises(ClientNotConfiguredError, match="start the lifespan"):
        TestClient(app).get("/whoami")


def test_lifespan_and_dependencies_on_trio() -> None:
    import trio

    app, made, _ = make_app()

    async def main() -> list[Any]:
        async with running(app) as served, http(served) as browser:
            return [
                (await browser.get("/whoami")).json()["name"],
                (await browser.get("/user/whoami", headers={"Authorization": "Bearer t"})).json()["name"],
            ]

    assert trio.run(main) == ["Bearer service-token", "Bearer t"]
    assert made[0].is_closed
