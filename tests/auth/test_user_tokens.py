"""Per-user tokens (`AuthorizationCodeFlow.for_user`): single flight per user in a process and
across processes, rotation persisted, a refused grant meaning "reconnect", a failing store
failing the call. The fake token endpoint for the engine's rules; authlib's server and a real
redis-server for the 4-process run."""

from __future__ import annotations

import asyncio
import multiprocessing
import uuid
from typing import Any

import anyio
import attrs
import httpx
import pytest

from asyncapi_client import (
    APIConnectionError,
    AsyncClient,
    AuthorizationCodeFlow,
    MemoryTokenStore,
    ReconnectRequiredError,
    RedisTokenStore,
    Response,
    TokenSet,
)
from asyncapi_client.testing import FakeClock
from tests.support.authlib_server import CLIENT_ID as AUTHLIB_CLIENT_ID
from tests.support.authlib_server import CLIENT_SECRET as AUTHLIB_CLIENT_SECRET
from tests.support.authlib_server import REDIRECT_URI as AUTHLIB_REDIRECT_URI
from tests.support.authlib_server import AuthlibServer
from tests.support.fake_oauth import CLIENT_ID, CLIENT_SECRET, TOKEN_URL, FakeOAuthServer, api_call, bearer
from tests.support.services import serving_asgi_in_thread

AUTHORIZE_URL = "https://auth.example.com/oauth/authorize"
REDIRECT = "https://app.example.com/oauth/callback"


def make_flow(clock: FakeClock, **kwargs: Any) -> AuthorizationCodeFlow:
    return AuthorizationCodeFlow(
        AUTHORIZE_URL, TOKEN_URL, CLIENT_ID, CLIENT_SECRET, redirect_uri=REDIRECT, clock=clock, **kwargs
    )


def login_tokens(clock: FakeClock, n: int = 0, *, expires_in: float = 300) -> TokenSet:
    return TokenSet(
        access_token=f"login-{n}",
        expires_in=expires_in,
        expires_at=clock.monotonic() + expires_in,
        refresh_token=f"rt-login-{n}",
    )


async def test_one_refresh_per_user_under_concurrent_calls_and_users_apart() -> None:
    server, clock = FakeOAuthServer(expires_in=300, rotate=True), FakeClock()
    transport = server.transport()
    saved: list[tuple[str, str | None]] = []
    flow = make_flow(
        clock,
        on_token=lambda user, t: saved.append((user, t.refresh_token.get() if t.refresh_token else None)),
    )
    for n, user in enumerate(("alice", "bob")):
        server.valid.add(f"login-{n}")
        await flow.save_tokens(user, login_tokens(clock, n))
    clock.advance(301)  # both access tokens expired

    async def call(user: str) -> str:
        return bearer(await api_call(flow.for_user(user), transport))

    seen: list[str] = []
    async with anyio.create_task_group() as tg:
        for _ in range(500):
            for user in ("alice", "bob"):
                tg.start_soon(lambda u=user: _append(seen, call(u)))
    assert len(server.token_requests) == 2  # one per user, not one per call
    assert sorted(f["refresh_token"] for f in server.forms) == ["rt-login-0", "rt-login-1"]
    assert sorted(set(seen)) == ["tok-1", "tok-2"] and len(seen) == 1000
    alice, bob = await flow.tokens("alice"), await flow.tokens("bob")
    assert alice is not None and bob is not None and alice.access_token != bob.access_token
    assert sorted(saved) == sorted((u, t.refresh_token.get()) for u, t in (("alice", alice), ("bob", bob)))  # type: ignore[union-attr]


async def _append(seen: list[str], value: Any) -> None:
    seen.append(await value)


async def test_a_401_refreshes_with_the_stored_refresh_token_and_keeps_the_grant() -> None:
    server, clock = FakeOAuthServer(expires_in=300, rotate=True), FakeClock()
    transport = server.transport()
    flow = make_flow(clock)
    await flow.save_tokens("u", login_tokens(clock))  # the API does not know login-0: a 401
    assert bearer(await api_call(flow.for_user("u"), transport)) == "tok-1"
    assert server.forms[0]["refresh_token"] == "rt-login-0"
    stored = await flow.tokens("u")
    assert stored is not None and stored.refresh_token is not None and stored.refresh_token.get() == "rt-1"


async def test_a_refused_refresh_token_drops_the_grant_and_means_reconnect() -> None:
    server, clock = FakeOAuthServer(), FakeClock()
    server.reply = lambda request: Response.json_response(
        400, {"error": "invalid_grant", "error_description": "refresh token rt-login-0 was revoked"}
    )
    transport = server.transport()
    flow = make_flow(clock)
    await flow.save_tokens("u", login_tokens(clock))
    clock.advance(301)
    results: list[BaseException] = []

    async def call() -> None:
        try:
            await api_call(flow.for_user("u"), transport)
        except ReconnectRequiredError as exc:
            results.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(50):
            tg.start_soon(call)
    assert len(results) == 50 and len(server.token_requests) == 1  # one refusal, fanned out
    error = results[0]
    assert (
        isinstance(error, ReconnectRequiredError) and error.error == "invalid_grant" and error.user_id == "u"
    )
    assert "rt-login-0" not in str(error)  # the server quoted the refresh token back: masked
    assert await flow.tokens("u") is None
    with pytest.raises(ReconnectRequiredError, match="no_grant"):
        await api_call(flow.for_user("u"), transport)
    assert len(server.token_requests) == 1
    # A new login puts the user back in business.
    server.reply = None
    server.valid.add("login-1")
    await flow.save_tokens("u", login_tokens(clock, 1))
    assert bearer(await api_call(flow.for_user("u"), transport)) == "login-1"


async def test_a_user_never_connected_needs_to_connect() -> None:
    server, clock = FakeOAuthServer(), FakeClock()
    flow = make_flow(clock)
    with pytest.raises(ReconnectRequiredError) as missing:
        await api_call(flow.for_user(42), server.transport())
    assert missing.value.error == "no_grant" and missing.value.user_id == "42"
    assert server.token_requests == [] and server.api_requests == []


class BrokenStore(MemoryTokenStore):
    async def get(self, key: str) -> TokenSet | None:
        raise ConnectionError("redis is restarting")


async def test_a_failing_store_fails_the_call_instead_of_refreshing_without_it() -> None:
    server, clock = FakeOAuthServer(), FakeClock()
    flow = make_flow(clock, store=BrokenStore())
    with pytest.raises(APIConnectionError, match="token store") as failed:
        await api_call(flow.for_user("u"), server.transport())
    assert failed.value.request_sent is False  # so the retry layer may retry any method
    assert server.token_requests == []


async def test_an_evicted_user_reads_the_store_again() -> None:
    server, clock = FakeOAuthServer(), FakeClock()
    transport = server.transport()
    flow = make_flow(clock, max_cached_users=2)
    for n, user in enumerate(("a", "b", "c")):
        server.valid.add(f"login-{n}")
        await flow.save_tokens(user, login_tokens(clock, n))
        assert bearer(await api_call(flow.for_user(user), transport)) == f"login-{n}"
    first = flow.for_user("a")  # "a" was evicted when "c" came: a new engine, same stored token
    assert first.token is None
    assert bearer(await api_call(first, transport)) == "login-0"
    assert server.token_requests == []


def test_flow_configuration_is_checked_at_construction() -> None:
    clock = FakeClock()
    with pytest.raises(ValueError, match="redirect_uri"):
        AuthorizationCodeFlow(
            AUTHORIZE_URL, TOKEN_URL, CLIENT_ID, redirect_uri="https://app.example.com/cb#f"
        )
    with pytest.raises(ValueError, match="plain http"):
        AuthorizationCodeFlow(
            "http://auth.example.com/authorize", TOKEN_URL, CLIENT_ID, redirect_uri=REDIRECT
        )
    with pytest.raises(ValueError, match="max_cached_users"):
        make_flow(clock, max_cached_users=0)
    with pytest.raises(ValueError, match="state"):
        make_flow(clock, authorize_params={"state": "fixed"})
    with pytest.raises(ValueError, match="refresh_margin"):
        make_flow(clock, refresh_margin=float("nan"))
    flow = make_flow(clock)
    with pytest.raises(ValueError, match="user_id"):
        flow.for_user(" padded ")
    with pytest.raises(TypeError, match="user_id"):
        flow.for_user(None)  # type: ignore[arg-type]
    assert "s3cr3t" not in repr(flow)


def four_processes_for_one_user(
    redis_url: str, url: str, client_id: str, client_secret: str, redirect_uri: str
) -> tuple[TokenSet, list[dict[str, Any]], TokenSet | None]:
    """Log "alice" in (in this process), make her stored access token one that expired a
    minute ago, then run 4 worker processes x 100 concurrent calls acting for her. Returns the
    login's tokens, the workers' outcomes and the token set Redis holds afterwards."""
    from tests.support import token_race_worker

    processes, calls = 4, 100
    prefix = f"mp-user:{uuid.uuid4().hex}"

    def flow(store: RedisTokenStore) -> AuthorizationCodeFlow:
        return AuthorizationCodeFlow(
            url + "/oauth/authorize",
            url + "/oauth/token",
            client_id,
            client_secret,
            redirect_uri=redirect_uri,
            store=store,
        )

    async def login() -> TokenSet:
        async with RedisTokenStore(redis_url, key=prefix) as store:
            alice = flow(store)
            pending = alice.start()
            async with httpx.AsyncClient(trust_env=False) as browser:
                callback = (await browser.get(pending.url)).headers["location"]
            async with AsyncClient(url) as client:
                token = await alice.complete(client, "alice", pending, callback)
            assert token.expires_at is not None and token.expires_in is not None
            await alice.save_tokens(
                "alice", attrs.evolve(token, expires_at=token.expires_at - token.expires_in - 60)
            )
            return token

    async def stored() -> TokenSet | None:
        async with RedisTokenStore(redis_url, key=prefix) as store:
            return await flow(store).tokens("alice")

    login_token = asyncio.run(login())
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(processes), ctx.Queue()
    workers = [
        ctx.Process(
            target=token_race_worker.run_user,
            args=(
                redis_url,
                url,
                client_id,
                client_secret,
                redirect_uri,
                prefix,
                "alice",
                calls,
                barrier,
                results,
            ),
        )
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=90) for _ in workers]
    for worker in workers:
        worker.join(timeout=10)
    assert [o["errors"] for o in outcomes] == [[]] * processes
    assert sum(o["ok"] for o in outcomes) == processes * calls
    assert sum(o["refresh_count"] for o in outcomes) == 1
    return login_token, outcomes, asyncio.run(stored())


@pytest.mark.slow
def test_four_processes_100_calls_one_user_expired_token_one_refresh_authlib(redis_server_url: str) -> None:
    """4 worker processes x 100 concurrent calls for one user whose access token expired, on
    authlib's rotating refresh token grant: exactly one refresh request, every call succeeds,
    and Redis holds the newest token set."""
    server = AuthlibServer()
    with serving_asgi_in_thread(server.app()) as url:
        login_token, outcomes, final = four_processes_for_one_user(
            redis_server_url, url, AUTHLIB_CLIENT_ID, AUTHLIB_CLIENT_SECRET, AUTHLIB_REDIRECT_URI
        )
    refreshes = [r for r in server.token_requests if r["grant_type"] == "refresh_token"]
    assert len(refreshes) == 1
    assert login_token.refresh_token is not None
    assert refreshes[0]["refresh_token"] == login_token.refresh_token.get()
    newest = server.tokens[-1]
    assert final is not None and final.refresh_token is not None
    assert final.access_token.get() == newest.access_token  # type: ignore[attr-defined]
    assert final.refresh_token.get() == newest.refresh_token  # type: ignore[attr-defined]
    assert not newest.revoked and server.tokens[-2].revoked  # the login's grant was rotated once
    assert {o["token"] for o in outcomes} == {newest.access_token}  # type: ignore[attr-defined]


@pytest.mark.slow
def test_four_processes_100_calls_one_user_expired_token_one_refresh_sandbox(redis_server_url: str) -> None:
    """The same against the sandbox (rotating refresh tokens, per-user tokens): one refresh,
    and what Redis holds is what the sandbox says is active."""
    from asyncapi_sandbox import Sandbox

    with Sandbox(authorize_mode="auto") as sb:
        redirect = "http://127.0.0.1:8765/oauth/callback"
        login_token, outcomes, final = four_processes_for_one_user(
            redis_server_url, sb.base_url, sb.client_id, sb.client_secret, redirect
        )
        stats = sb.stats_sync()
        assert final is not None and final.refresh_token is not None and login_token.refresh_token is not None

        def active(token: str) -> bool:
            reply = httpx.post(
                sb.introspection_url, data={"token": token}, auth=(sb.client_id, sb.client_secret)
            )
            return bool(reply.json()["active"])

        assert active(final.access_token.get()) and active(final.refresh_token.get())
        assert not active(login_token.refresh_token.get())  # spent once, by the one refresh
    assert stats["token_requests"]["refresh_token"] == 1
    assert {o["token"] for o in outcomes} == {final.access_token.get()}


@pytest.mark.parametrize(
    ("status", "content", "error"),
    [
        (200, b"<html>ok</html>", "invalid_introspection_response"),
        (200, b'{"active": "yes"}', "invalid_introspection_response"),
        (200, b"[1, 2]", "invalid_introspection_response"),
        (503, b"<html>busy</html>", "unexpected_response"),
        (401, b'{"error": "invalid_client"}', "invalid_client"),
    ],
)
async def test_odd_introspection_and_revocation_replies_are_oauth_errors(
    status: int, content: bytes, error: str
) -> None:
    from asyncapi_client import MockTransport, OAuthError

    transport = MockTransport(lambda request: Response(status, {"content-type": "application/json"}, content))
    flow = make_flow(
        FakeClock(),
        revocation_url="https://auth.example.com/oauth/revoke",
        introspection_url="https://auth.example.com/oauth/introspect",
    )
    with pytest.raises(OAuthError) as introspected:
        await flow.introspect(transport, "some-token-value")
    assert introspected.value.error == error
    if error == "invalid_introspection_response":
        await flow.revoke(transport, "some-token-value")  # a 200 is a revocation, whatever its body
    else:
        with pytest.raises(OAuthError) as revoked:
            await flow.revoke(transport, "some-token-value", "refresh_token")
        assert revoked.value.error == error
    sent = transport.requests[-1]
    assert sent.headers["authorization"].startswith("Basic ")  # the client authenticates
    assert b"token=some-token-value" in (sent.content or b"")
