"""The authorization code flow against the sandbox: a login per user, calls acting for each,
the sandbox's refusals as typed errors, revocation meaning "reconnect"."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import httpx
import pytest

from asyncapi_client import (
    AsyncClient,
    AuthorizationCodeFlow,
    AuthorizationError,
    ReconnectRequiredError,
    Secret,
    StateMismatchError,
)
from asyncapi_client.auth import PendingAuthorization
from asyncapi_client.testing import FakeClock
from asyncapi_sandbox import Sandbox

CALLBACK = "http://127.0.0.1:8765/oauth/callback"  # the sandbox's registered URI, on some port


def sandbox_flow(sb: Sandbox, **kwargs: Any) -> AuthorizationCodeFlow:
    return AuthorizationCodeFlow(
        sb.authorize_url,
        sb.token_url,
        sb.client_id,
        sb.client_secret,
        redirect_uri=kwargs.pop("redirect_uri", CALLBACK),
        revocation_url=sb.revocation_url,
        introspection_url=sb.introspection_url,
        **kwargs,
    )


async def authorize(pending: PendingAuthorization, **params: str) -> str:
    async with httpx.AsyncClient(trust_env=False) as browser:
        reply = await browser.get(pending.url, params=params or None)
    assert reply.status_code == 302, reply.text
    return reply.headers["location"]


@asynccontextmanager
async def sandbox(**options: Any) -> AsyncIterator[tuple[Sandbox, AsyncClient]]:
    options.setdefault("authorize_mode", "auto")
    async with Sandbox(**options) as sb, AsyncClient(sb.base_url) as client:
        yield sb, client


async def test_two_users_log_in_and_each_view_acts_for_its_own_user() -> None:
    async with sandbox() as (sb, client):
        flow = sandbox_flow(sb, scope="users:read")
        for app_user, login_hint in (("a", "4"), ("b", "9")):
            pending = flow.start(login_hint=login_hint)
            await flow.complete(client, app_user, pending, await authorize(pending))
        me_a = await client.with_options(auth=flow.for_user("a")).users.me()
        me_b = await client.with_options(auth=flow.for_user("b")).users.me()
        assert (me_a.id, me_b.id) == (4, 9)
        stored = await flow.tokens("a")
        assert stored is not None
        info = await flow.introspect(client, stored.access_token)
        assert info.active and info.sub == "4" and info.scope == "users:read"
        assert (await sb.stats())["token_requests"]["authorization_code"] == 2


async def test_wrong_state_reused_code_wrong_verifier_other_redirect_uri_each_refused() -> None:
    async with sandbox() as (sb, client):
        flow = sandbox_flow(sb)
        pending = flow.start()
        callback = await authorize(pending)
        with pytest.raises(StateMismatchError):
            await flow.complete(client, "u", flow.start(), callback)
        with pytest.raises(AuthorizationError) as verifier:
            await flow.complete(client, "u", attrs.evolve(pending, code_verifier=Secret("x" * 50)), callback)
        assert verifier.value.error == "invalid_grant"
        with pytest.raises(AuthorizationError) as moved:
            other = attrs.evolve(pending, redirect_uri="http://127.0.0.1:8766/oauth/callback")
            await flow.complete(client, "u", other, callback)
        assert moved.value.error == "invalid_grant"
        assert await flow.tokens("u") is None
        token = await flow.complete(client, "u", pending, callback)
        with pytest.raises(AuthorizationError) as reused:
            await flow.complete(client, "u", pending, callback)
        assert reused.value.error == "invalid_grant"
        # The reuse revoked the grant the code gave: the user must log in again.
        assert not (await flow.introspect(client, token.access_token)).active
        with pytest.raises(ReconnectRequiredError):
            await client.with_options(auth=flow.for_user("u")).users.me()


async def test_a_denied_login_and_an_unregistered_redirect_uri() -> None:
    async with sandbox(authorize_mode="deny") as (sb, client):
        flow = sandbox_flow(sb)
        pending = flow.start()
        with pytest.raises(AuthorizationError) as denied:
            await flow.complete(client, "u", pending, await authorize(pending))
        assert denied.value.error == "access_denied"
        elsewhere = sandbox_flow(sb, redirect_uri="https://app.example.com/oauth/callback")
        async with httpx.AsyncClient(trust_env=False) as browser:
            refused = await browser.get(elsewhere.start().url)
        assert refused.status_code == 400 and "location" not in refused.headers


async def test_rotation_on_expiry_then_disconnect_means_reconnect() -> None:
    clock = FakeClock()
    async with sandbox() as (sb, client):
        saved: list[str] = []
        flow = sandbox_flow(
            sb,
            clock=clock,
            on_token=lambda user, t: saved.append(t.refresh_token.get() if t.refresh_token else ""),
        )
        pending = flow.start(login_hint="2")
        first = await flow.complete(client, "u", pending, await authorize(pending))
        view = client.with_options(auth=flow.for_user("u"))
        clock.advance(3600)
        assert (await view.users.me()).id == 2  # refreshed, still user 2
        rotated = await flow.tokens("u")
        assert rotated is not None and rotated.refresh_token != first.refresh_token
        assert len(saved) == 2 and saved[-1] == rotated.refresh_token.get()  # type: ignore[union-attr]
        await flow.disconnect(client, "u")
        assert (await sb.stats())["revocations"] == 1
        assert not (await flow.introspect(client, rotated.access_token)).active
        with pytest.raises(ReconnectRequiredError):
            await view.users.me()


async def test_a_refresh_token_revoked_at_the_server_means_reconnect() -> None:
    clock = FakeClock()
    async with sandbox() as (sb, client):
        flow = sandbox_flow(sb, clock=clock)
        pending = flow.start()
        token = await flow.complete(client, "u", pending, await authorize(pending))
        assert token.refresh_token is not None
        await flow.revoke(client, token.refresh_token, "refresh_token")  # another app of the user's, say
        clock.advance(3600)
        with pytest.raises(ReconnectRequiredError) as gone:
            await client.with_options(auth=flow.for_user("u")).users.me()
        assert gone.value.error == "invalid_grant"
        assert await flow.tokens("u") is None
