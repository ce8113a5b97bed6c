"""The authorization code flow with PKCE against authlib's own authorization server parts
(`AuthorizationServer`, `AuthorizationCodeGrant` + `CodeChallenge`, a rotating
`RefreshTokenGrant`, `RevocationEndpoint`, `IntrospectionEndpoint`), served by uvicorn."""

from __future__ import annotations

import base64
import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs
import httpx
import pytest

from asyncapi_client import (
    AsyncClient,
    AuthorizationCodeFlow,
    AuthorizationError,
    OAuthError,
    ReconnectRequiredError,
    Secret,
    StateMismatchError,
    TokenSet,
)
from asyncapi_client.auth import PendingAuthorization
from asyncapi_client.testing import FakeClock
from tests.support.authlib_server import CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, AuthlibServer, Client
from tests.support.services import serving_asgi


@attrs.define
class Setup:
    server: AuthlibServer
    url: str
    client: AsyncClient
    clock: FakeClock
    persisted: list[tuple[str, TokenSet]]

    def flow(self, **kwargs: Any) -> AuthorizationCodeFlow:
        options: dict[str, Any] = {
            "redirect_uri": REDIRECT_URI,
            "revocation_url": self.url + "/oauth/revoke",
            "introspection_url": self.url + "/oauth/introspect",
            "clock": self.clock,
            "on_token": lambda user, token: self.persisted.append((user, token)),
            **kwargs,
        }
        client_id = options.pop("client_id", CLIENT_ID)
        secret = options.pop("client_secret", CLIENT_SECRET)
        return AuthorizationCodeFlow(
            self.url + "/oauth/authorize", self.url + "/oauth/token", client_id, secret, **options
        )


@asynccontextmanager
async def authlib_peer() -> AsyncIterator[Setup]:
    server = AuthlibServer()
    async with serving_asgi(server.app()) as url, AsyncClient(url) as client:
        yield Setup(server, url, client, FakeClock(), [])


async def authorize(pending: PendingAuthorization) -> str:
    """What the browser does: GET the authorize URL, and come back with the redirect."""
    async with httpx.AsyncClient() as browser:
        answer = await browser.get(pending.url)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(REDIRECT_URI + "?")
    return location


async def test_login_pkce_exchange_and_calls_acting_for_each_user() -> None:
    async with authlib_peer() as s:
        flow = s.flow(scope=["profile", "email"])
        pending = flow.start()
        query = parse_qs(urlsplit(pending.url).query)
        verifier = pending.code_verifier.get()
        expected_challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
        assert query["code_challenge"] == [expected_challenge.decode()]
        assert query["code_challenge_method"] == ["S256"]
        assert query["state"] == [pending.state.get()] and query["scope"] == ["profile email"]
        assert 43 <= len(verifier) <= 128

        token = await flow.complete(s.client, "app-user-1", pending, await authorize(pending))
        sent = s.server.token_requests[-1]
        assert sent["grant_type"] == "authorization_code"
        assert sent["redirect_uri"] == REDIRECT_URI and sent["code_verifier"] == verifier
        assert "client_secret" not in sent  # HTTP Basic, the default
        assert token.refresh_token is not None and token.scope == "profile email"
        assert [u for u, _ in s.persisted] == ["app-user-1"]

        s.server.user = "bob"  # another person logs in at the authorization server
        second = flow.start()
        await flow.complete(s.client, "app-user-2", second, await authorize(second))

        alice = await s.client.with_options(auth=flow.for_user("app-user-1")).users.me()
        bob = await s.client.with_options(auth=flow.for_user("app-user-2")).users.me()
        assert (alice.name, bob.name) == ("alice", "bob")
        assert flow.for_user("app-user-1") is flow.for_user("app-user-1")  # one engine per user
        stored = await flow.tokens("app-user-1")
        assert stored is not None and stored.access_token == token.access_token


async def test_a_wrong_or_missing_state_is_refused_before_any_token_request() -> None:
    async with authlib_peer() as s:
        flow = s.flow()
        pending = flow.start()
        callback = await authorize(pending)
        other = flow.start()  # another login in flight (another tab, or a forged link)
        with pytest.raises(StateMismatchError) as wrong:
            await flow.complete(s.client, "u", other, callback)
        assert wrong.value.error == "invalid_state"
        without_state = callback.replace("state=", "x=")
        with pytest.raises(StateMismatchError):
            await flow.complete(s.client, "u", pending, without_state)
        assert s.server.token_requests == []
        assert await flow.tokens("u") is None
        # The right login still completes with its own callback.
        await flow.complete(s.client, "u", pending, callback)


async def test_a_reused_code_is_refused_by_the_server() -> None:
    async with authlib_peer() as s:
        flow = s.flow()
        pending = flow.start()
        callback = await authorize(pending)
        await flow.complete(s.client, "u", pending, callback)
        with pytest.raises(AuthorizationError) as reused:
            await flow.complete(s.client, "u", pending, callback)
        assert reused.value.error == "invalid_grant" and reused.value.status_code == 400
        assert not isinstance(reused.value, StateMismatchError)


async def test_a_wrong_verifier_is_refused_by_the_server() -> None:
    async with authlib_peer() as s:
        flow = s.flow()
        pending = flow.start()
        callback = await authorize(pending)
        tampered = attrs.evolve(pending, code_verifier=Secret("v" * 64))
        with pytest.raises(AuthorizationError) as wrong:
            await flow.complete(s.client, "u", tampered, callback)
        assert wrong.value.error == "invalid_grant"
        assert "Code challenge failed" in (wrong.value.error_description or "")
        assert await flow.tokens("u") is None


async def test_a_mismatched_redirect_uri_is_refused_by_the_server() -> None:
    async with authlib_peer() as s:
        s.server.clients[CLIENT_ID].redirect_uris.append("http://127.0.0.1/other/callback")
        flow = s.flow()
        pending = flow.start()
        callback = await authorize(pending)
        moved = attrs.evolve(pending, redirect_uri="http://127.0.0.1/other/callback")
        with pytest.raises(AuthorizationError) as mismatch:
            await flow.complete(s.client, "u", moved, callback)
        assert mismatch.value.error == "invalid_grant"
        assert "redirect_uri" in (mismatch.value.error_description or "")


async def test_a_denied_authorization_is_an_authorization_error() -> None:
    async with authlib_peer() as s:
        s.server.deny = True
        flow = s.flow()
        pending = flow.start()
        with pytest.raises(AuthorizationError) as denied:
            await flow.complete(s.client, "u", pending, await authorize(pending))
        assert denied.value.error == "access_denied"
        assert s.server.token_requests == []


async def test_a_public_client_uses_pkce_alone() -> None:
    async with authlib_peer() as s:
        s.server.clients["spa"] = Client("spa", None, [REDIRECT_URI])
        flow = s.flow(client_id="spa", client_secret=None)
        pending = flow.start()
        await flow.complete(s.client, "u", pending, await authorize(pending))
        sent = s.server.token_requests[-1]
        assert sent["client_id"] == "spa" and "client_secret" not in sent
        assert (await s.client.with_options(auth=flow.for_user("u")).users.me()).name == "alice"


async def test_expiry_refreshes_with_rotation_then_revocation_means_reconnect() -> None:
    async with authlib_peer() as s:
        flow = s.flow()
        pending = flow.start()
        first = await flow.complete(s.client, "u", pending, await authorize(pending))
        view = s.client.with_options(auth=flow.for_user("u"))
        assert (await view.users.me()).name == "alice"

        s.clock.advance(3600)  # the access token expired (on the client's clock)
        assert (await view.users.me()).name == "alice"
        refresh = s.server.token_requests[-1]
        assert refresh["grant_type"] == "refresh_token"
        assert first.refresh_token is not None and refresh["refresh_token"] == first.refresh_token.get()
        rotated = await flow.tokens("u")
        assert rotated is not None and rotated.refresh_token is not None
        assert rotated.refresh_token != first.refresh_token  # authlib rotated it
        assert [t.refresh_token for u, t in s.persisted] == [first.refresh_token, rotated.refresh_token]
        assert not (await flow.introspect(s.client, first.refresh_token, "refresh_token")).active

        info = await flow.introspect(s.client, rotated.access_token)
        assert info.active and info.username == "alice" and info.client_id == CLIENT_ID

        # Revoked at the server behind the app's back: the next refresh is refused.
        await flow.revoke(s.client, rotated.refresh_token, "refresh_token")
        s.clock.advance(3600)
        with pytest.raises(ReconnectRequiredError) as gone:
            await view.users.me()
        assert gone.value.error == "invalid_grant" and gone.value.user_id == "u"
        assert await flow.tokens("u") is None  # dropped, so the next call fails without a request
        requests = len(s.server.token_requests)
        with pytest.raises(ReconnectRequiredError) as again:
            await view.users.me()
        assert again.value.error == "no_grant" and len(s.server.token_requests) == requests


async def test_disconnect_revokes_the_grant_and_forgets_it() -> None:
    async with authlib_peer() as s:
        flow = s.flow()
        pending = flow.start()
        token = await flow.complete(s.client, "u", pending, await authorize(pending))
        await flow.disconnect(s.client, "u")
        assert await flow.tokens("u") is None
        assert not (await flow.introspect(s.client, token.access_token)).active
        with pytest.raises(ReconnectRequiredError):
            await s.client.with_options(auth=flow.for_user("u")).users.me()


async def test_a_client_the_server_does_not_know_is_an_oauth_error_with_its_code() -> None:
    async with authlib_peer() as s:
        flow = s.flow(client_secret="not-the-secret-value")
        pending = flow.start()
        with pytest.raises(OAuthError) as refused:
            await flow.complete(s.client, "u", pending, await authorize(pending))
        # The app's misconfiguration, not a login to start again.
        assert not isinstance(refused.value, AuthorizationError)
        assert refused.value.error == "invalid_client" and refused.value.status_code == 401
        with pytest.raises(OAuthError) as revoke:
            await flow.revoke(s.client, "whatever-token")
        assert revoke.value.error == "invalid_client"


async def test_no_code_verifier_refresh_token_or_secret_in_logs_reprs_or_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    async with authlib_peer() as s:
        flow = s.flow()
        pending = flow.start()
        with caplog.at_level(logging.WARNING, logger="httpcore"):
            callback = await authorize(pending)  # the test's browser, whose redirect carries the code
        code = parse_qs(urlsplit(callback).query)["code"][0]
        token = await flow.complete(s.client, "u", pending, callback)
        texts = [repr(pending), repr(flow), repr(token), repr(flow.for_user("u")), str(pending)]
        for attempt in (
            flow.complete(s.client, "u", pending, callback),  # reused code
            flow.complete(s.client, "u", attrs.evolve(pending, code_verifier=Secret("w" * 64)), callback),
        ):
            with pytest.raises(OAuthError) as failed:
                await attempt
            texts += [str(failed.value), repr(failed.value), repr(failed.value.__cause__)]
        s.clock.advance(3600)
        await s.client.with_options(auth=flow.for_user("u")).users.me()  # a refresh, with rotation
    # Every record but the peer's own (authlib's server logs the tokens it issues).
    texts += [r.getMessage() for r in caplog.records if not r.name.startswith("authlib")]
    assert any(r.name.startswith("asyncapi_client") for r in caplog.records)
    assert token.refresh_token is not None
    for value in (
        code,
        pending.code_verifier.get(),
        pending.state.get(),
        token.refresh_token.get(),
        CLIENT_SECRET,
    ):
        assert not [t for t in texts if value in t]


def test_an_httpx_auth_is_refused_since_its_auth_flow_is_another_contract() -> None:
    with pytest.raises(TypeError, match="auth strategy"):
        AsyncClient("https://api.example.com", auth=httpx.BasicAuth("user", "pass"))  # type: ignore[arg-type]


def test_callback_parsing_is_strict_and_bounded() -> None:
    from asyncapi_client.auth._authcode import read_callback, start_authorization

    pending = start_authorization("https://a.example/authorize", "c", "https://app.example/cb")
    state = pending.state.get()
    assert read_callback(pending, {"state": state, "code": "abc"}).get() == "abc"
    with pytest.raises(AuthorizationError, match="repeats 'code'"):
        read_callback(pending, f"https://app.example/cb?state={state}&code=a&code=b")
    with pytest.raises(AuthorizationError, match="neither a code nor an error"):
        read_callback(pending, {"state": state})
    with pytest.raises(AuthorizationError) as quoted:
        read_callback(
            pending, {"state": state, "error": "access_denied", "error_description": "token=abc123secret"}
        )
    assert quoted.value.error == "access_denied" and "abc123secret" not in str(quoted.value)
    with pytest.raises(StateMismatchError):  # the state is checked first, even on an error reply
        read_callback(pending, {"state": "other", "error": "access_denied"})
    with pytest.raises(TypeError):
        read_callback(pending, 42)  # type: ignore[arg-type]
