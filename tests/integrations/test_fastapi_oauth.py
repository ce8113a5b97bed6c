"""The FastAPI login/callback routes and the per-user client, end to end: a FastAPI app served
by uvicorn (lifespan on), authlib's authorization server served by uvicorn, and an httpx
"browser" with a cookie jar following the redirects between them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import httpx
import pytest
from fastapi import Depends, FastAPI, Request

from asyncapi_client import AsyncClient, AuthorizationCodeFlow
from asyncapi_client.integrations.fastapi import client_lifespan
from asyncapi_client.integrations.fastapi_oauth import LOGIN_COOKIE, OAuthLogin
from asyncapi_client.testing import FakeClock
from tests.support.authlib_server import CLIENT_ID, CLIENT_SECRET, AuthlibServer
from tests.support.services import free_port, serving_asgi

COOKIE_SECRET = "a-cookie-secret-of-forty-characters-abcd"


@attrs.define
class Site:
    server: AuthlibServer
    app_url: str
    browser: httpx.AsyncClient
    clock: FakeClock

    def sign_in(self, user: str) -> None:
        """The app's own login (a stand-in: a plain cookie naming the user)."""
        self.browser.cookies.set("app_user", user, domain="127.0.0.1")


def make_app(api_url: str, app_url: str, clock: FakeClock) -> FastAPI:
    flow = AuthorizationCodeFlow(
        api_url + "/oauth/authorize",
        api_url + "/oauth/token",
        CLIENT_ID,
        CLIENT_SECRET,
        redirect_uri=app_url + "/oauth/callback",
        revocation_url=api_url + "/oauth/revoke",
    )

    def current_user(request: Request) -> str | None:
        return request.cookies.get("app_user")

    login = OAuthLogin(
        flow, user_id=current_user, cookie_secret=COOKIE_SECRET, secure_cookie=False, clock=clock
    )
    app = FastAPI(lifespan=client_lifespan(base_url=api_url))
    login.install(app)

    @app.get("/me")
    async def me(client: AsyncClient = Depends(login.user_client)) -> dict[str, Any]:
        return {"name": (await client.users.me()).name}

    return app


@asynccontextmanager
async def site() -> AsyncIterator[Site]:
    server, clock = AuthlibServer(), FakeClock()
    port = free_port()
    app_url = f"http://127.0.0.1:{port}"
    async with serving_asgi(server.app()) as api_url:
        server.clients[CLIENT_ID].redirect_uris.append(app_url + "/oauth/callback")
        async with (
            serving_asgi(make_app(api_url, app_url, clock), port=port, lifespan="on"),
            httpx.AsyncClient(base_url=app_url, follow_redirects=True) as browser,
        ):
            yield Site(server, app_url, browser, clock)


async def test_login_callback_and_a_route_acting_for_the_signed_in_user() -> None:
    async with site() as s:
        s.sign_in("app-user-1")
        before = await s.browser.get("/me")
        assert before.status_code == 401
        assert before.json()["error"] == {
            "code": "RECONNECT_REQUIRED",
            "message": "connect your account again",
            "login_url": "/oauth/login?next=%2Fme",
        }
        answer = await s.browser.get(before.json()["error"]["login_url"])
        assert answer.status_code == 200, answer.text
        assert answer.url.path == "/me" and answer.json() == {"name": "alice"}
        hops = [(r.status_code, r.url.path) for r in answer.history]
        assert hops == [(303, "/oauth/login"), (302, "/oauth/authorize"), (303, "/oauth/callback")]
        assert LOGIN_COOKIE not in s.browser.cookies  # spent by the callback
        assert [r["grant_type"] for r in s.server.token_requests] == ["authorization_code"]
        # The grant is the app user's: another app user is not connected.
        s.sign_in("app-user-2")
        assert (await s.browser.get("/me")).json()["error"]["code"] == "RECONNECT_REQUIRED"


async def test_disconnect_revokes_and_the_next_call_asks_to_reconnect() -> None:
    async with site() as s:
        s.sign_in("u")
        assert (await s.browser.get("/oauth/login", params={"next": "/me"})).json() == {"name": "alice"}
        assert (await s.browser.post("/oauth/disconnect")).status_code == 204
        assert all(t.revoked for t in s.server.tokens)
        assert (await s.browser.get("/me")).status_code == 401


async def test_nobody_signed_in_is_401_on_every_route() -> None:
    async with site() as s:
        for path in ("/oauth/login", "/oauth/callback", "/me"):
            assert (await s.browser.get(path)).status_code == 401
        assert (await s.browser.post("/oauth/disconnect")).status_code == 401


async def stop_at_callback(s: Site) -> httpx.URL:
    """Start a login and follow it to the authorization server's redirect back, unsent."""
    authorize = await s.browser.get("/oauth/login", follow_redirects=False)
    back = await s.browser.get(authorize.headers["location"], follow_redirects=False)
    return httpx.URL(back.headers["location"])


async def test_a_callback_without_its_login_cookie_or_with_a_forged_one_is_refused() -> None:
    async with site() as s:
        s.sign_in("u")
        callback = await stop_at_callback(s)
        real = s.browser.cookies[LOGIN_COOKIE]
        s.browser.cookies.delete(LOGIN_COOKIE)
        missing = await s.browser.get(callback)
        assert missing.status_code == 400 and missing.json()["error"]["oauth_error"] == "invalid_callback"
        s.browser.cookies.set(LOGIN_COOKIE, real[:-4] + "AAAA", domain="127.0.0.1", path="/oauth/callback")
        forged = await s.browser.get(callback)
        assert forged.status_code == 400 and forged.json()["error"]["oauth_error"] == "invalid_callback"
        assert s.server.token_requests == []


async def test_a_login_finished_by_another_app_user_or_too_late_is_refused() -> None:
    async with site() as s:
        s.sign_in("u")
        callback = await stop_at_callback(s)
        s.sign_in("someone-else")
        crossed = await s.browser.get(callback)
        assert crossed.status_code == 400 and "another user" in crossed.json()["error"]["message"]

        s.sign_in("u")
        callback = await stop_at_callback(s)
        s.clock.advance(601)  # the login cookie lives 10 minutes
        late = await s.browser.get(callback)
        assert late.status_code == 400 and "expired" in late.json()["error"]["message"]
        assert s.server.token_requests == []


async def test_a_callback_of_another_login_fails_its_state_check() -> None:
    async with site() as s:
        s.sign_in("u")
        first = await stop_at_callback(s)
        await stop_at_callback(s)  # a second login replaced the first's cookie
        stale = await s.browser.get(first)
        assert stale.status_code == 400 and stale.json()["error"]["oauth_error"] == "invalid_state"


async def test_a_denied_login_is_403_and_next_cannot_leave_the_site() -> None:
    async with site() as s:
        s.sign_in("u")
        s.server.deny = True
        denied = await s.browser.get("/oauth/login")
        assert denied.status_code == 403 and denied.json()["error"]["oauth_error"] == "access_denied"
        s.server.deny = False
        login = await s.browser.get("/oauth/login", params={"next": "//evil.example/steal"})
        assert login.url == httpx.URL(s.app_url + "/")  # after_login, not the foreign host


def test_login_routes_configuration_is_checked() -> None:
    flow = AuthorizationCodeFlow(
        "https://a.example/authorize", "https://a.example/token", "c", redirect_uri="https://app.example/cb"
    )
    with pytest.raises(ValueError, match="cookie_secret"):
        OAuthLogin(flow, user_id=lambda: None, cookie_secret="short")
    with pytest.raises(ValueError, match="after_login"):
        OAuthLogin(
            flow, user_id=lambda: None, cookie_secret=COOKIE_SECRET, after_login="https://evil.example"
        )
    with pytest.raises(ValueError, match="login_ttl"):
        OAuthLogin(flow, user_id=lambda: None, cookie_secret=COOKIE_SECRET, login_ttl=float("nan"))
    with pytest.raises(TypeError, match="AuthorizationCodeFlow"):
        OAuthLogin(object(), user_id=lambda: None, cookie_secret=COOKIE_SECRET)  # type: ignore[arg-type]
