"""OAuth strategies against a scripted token endpoint, on a virtual clock."""

from __future__ import annotations

import base64
import itertools
import logging
import math
from typing import Any

import anyio
import pytest

from asyncapi_client import (
    APIConnectionError,
    AsyncClient,
    AuthenticationError,
    ClientCredentials,
    MemoryTokenStore,
    MockTransport,
    OAuthError,
    RefreshToken,
    Request,
    Response,
    Secret,
    TokenProvider,
    TokenSet,
)
from asyncapi_client.testing import FakeClock
from tests.support.fake_oauth import (
    BASE,
    CLIENT_ID,
    CLIENT_SECRET,
    TOKEN_URL,
    FakeOAuthServer,
    api_call,
    bearer,
    form,
    start_cancellable,
)


def make_cc(clock: FakeClock, **kwargs: Any) -> ClientCredentials:
    return ClientCredentials(TOKEN_URL, CLIENT_ID, CLIENT_SECRET, clock=clock, **kwargs)


# -- the token request ------------------------------------------------------------------


async def test_first_call_fetches_a_token_with_basic_auth_and_sends_it() -> None:
    server, clock = FakeOAuthServer(), FakeClock()
    transport = server.transport()
    auth = make_cc(clock, scope=["read", "write"])
    response = await api_call(auth, transport)
    assert response.status_code == 200
    assert bearer(response) == "tok-1"
    (token_request,) = server.token_requests
    assert token_request.method == "POST"
    assert token_request.headers["content-type"] == "application/x-www-form-urlencoded"
    expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert token_request.headers["authorization"] == f"Basic {expected}"
    assert form(token_request) == {"grant_type": "client_credentials", "scope": "read write"}
    assert auth.refresh_count == 1
    assert auth.token is not None and auth.token.expires_at == clock.now + 3600


async def test_client_secret_post_sends_the_credentials_in_the_form() -> None:
    server, clock = FakeOAuthServer(), FakeClock()
    auth = make_cc(clock, auth_method="client_secret_post")
    await api_call(auth, server.transport())
    (token_request,) = server.token_requests
    assert "authorization" not in token_request.headers
    assert form(token_request) == {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }


async def test_extra_params_are_sent_on_every_refetch() -> None:
    server, clock = FakeOAuthServer(expires_in=100), FakeClock()
    transport = server.transport()
    auth = make_cc(clock, scope="read", extra_params={"audience": "https://api.example.com"})
    await api_call(auth, transport)
    clock.advance(200)  # expired
    await api_call(auth, transport)
    server.reject.add("tok-2")  # a 401 forces a third fetch
    await api_call(auth, transport)
    assert len(server.token_requests) == 3
    for fields in server.forms:
        assert fields == {
            "grant_type": "client_credentials",
            "scope": "read",
            "audience": "https://api.example.com",
        }


def test_extra_params_may_not_override_the_grant() -> None:
    with pytest.raises(ValueError, match="grant_type"):
        ClientCredentials(TOKEN_URL, CLIENT_ID, CLIENT_SECRET, extra_params={"grant_type": "password"})


# -- expiry and refresh ahead -------------------------------------------------------------


async def test_refresh_ahead_of_expiry_by_the_margin() -> None:
    server, clock = FakeOAuthServer(expires_in=3600), FakeClock()
    transport = server.transport()
    auth = make_cc(clock, refresh_margin=30)
    await api_call(auth, transport)
    clock.advance(3569.9)
    assert bearer(await api_call(auth, transport)) == "tok-1"
    assert len(server.token_requests) == 1
    clock.advance(0.1)  # exactly 30 s before expiry
    assert bearer(await api_call(auth, transport)) == "tok-2"
    assert len(server.token_requests) == 2
    assert auth.refresh_count == 2


async def test_during_a_refresh_ahead_other_calls_keep_using_the_valid_token() -> None:
    server, clock = FakeOAuthServer(expires_in=3600), FakeClock()
    transport = server.transport()
    auth = make_cc(clock, refresh_margin=30)
    await api_call(auth, transport)
    clock.advance(3580)  # inside the margin, not expired
    server.gate = anyio.Event()
    server.entered = anyio.Event()
    seen: list[str] = []
    async with anyio.create_task_group() as tg:

        async def leader() -> None:
            seen.append(bearer(await api_call(auth, transport)))

        tg.start_soon(leader)
        await server.entered.wait()
        # The leader is inside the token request; these do not wait for it.
        with anyio.fail_after(1):
            for _ in range(5):
                assert bearer(await api_call(auth, transport)) == "tok-1"
        server.gate.set()
    assert seen == ["tok-2"]
    assert len(server.token_requests) == 2


async def test_expired_token_is_replaced_before_use() -> None:
    server, clock = FakeOAuthServer(expires_in=60), FakeClock()
    transport = server.transport()
    auth = make_cc(clock)
    await api_call(auth, transport)
    clock.advance(61)
    assert bearer(await api_call(auth, transport)) == "tok-2"
    assert all(r.headers["authorization"] != "Bearer tok-1" for r in server.api_requests[1:])


async def test_a_short_lived_token_is_refreshed_when_it_expires_not_ahead() -> None:
    # A tenth of 2 s is under the 30 s margin: the token is short-lived, and it is used until
    # its expiry (counted from when its token request was sent, 0), then refreshed: the next
    # token request goes no sooner than one lifetime after the last, however slow the endpoint.
    clock = FakeClock()
    server = FakeOAuthServer(expires_in=2, clock=clock, token_latency=0.05)
    transport = server.transport()
    auth = make_cc(clock, refresh_margin=30)
    await api_call(auth, transport)  # sent at 0, answered at 0.05, expires at 2.0
    clock.advance(1.949)  # now 1.999
    assert bearer(await api_call(auth, transport)) == "tok-1"
    assert len(server.token_requests) == 1
    clock.advance(0.001)  # now 2.0: expired
    assert bearer(await api_call(auth, transport)) == "tok-2"
    assert len(server.token_requests) == 2


async def test_a_short_lived_token_makes_at_most_one_token_request_per_lifetime() -> None:
    """Calls every 10 ms for 16 s with a 4 s token and an endpoint that takes 10 ms: at most
    16 / 4 + 1 token requests, each at least a lifetime after the one before, where refreshing
    any lead ahead made each interval shorter than the lifetime and a run just under a
    multiple of it one request more."""
    clock = FakeClock()
    server = FakeOAuthServer(expires_in=4, clock=clock, token_latency=0.01)
    transport = server.transport()
    auth = make_cc(clock, refresh_margin=30)
    start = clock.monotonic()
    sent_at: list[float] = []
    while clock.monotonic() - start < 15.99:
        before = len(server.token_requests)
        now = clock.monotonic()
        await api_call(auth, transport)
        if len(server.token_requests) > before:
            sent_at.append(now)
        clock.advance(0.01)
    duration = clock.monotonic() - start
    assert len(server.token_requests) <= duration / 4 + 1
    assert len(sent_at) == len(server.token_requests) >= 4
    assert all(b - a >= 4.0 for a, b in itertools.pairwise(sent_at))


async def test_an_explicit_margin_under_the_cap_is_kept_for_a_short_token() -> None:
    server, clock = FakeOAuthServer(expires_in=2), FakeClock()
    transport = server.transport()
    auth = make_cc(clock, refresh_margin=0.1)  # under a tenth of 2 s: used as given
    await api_call(auth, transport)
    clock.advance(1.89)
    await api_call(auth, transport)
    assert len(server.token_requests) == 1
    clock.advance(0.02)
    await api_call(auth, transport)
    assert len(server.token_requests) == 2


async def test_a_token_without_expires_in_is_used_until_a_401() -> None:
    server, clock = FakeOAuthServer(expires_in=None), FakeClock()
    transport = server.transport()
    auth = make_cc(clock)
    await api_call(auth, transport)
    clock.advance(10 * 365 * 86400)
    assert bearer(await api_call(auth, transport)) == "tok-1"
    assert len(server.token_requests) == 1
    server.reject.add("tok-1")
    assert bearer(await api_call(auth, transport)) == "tok-2"
    assert len(server.token_requests) == 2


async def test_a_failed_refresh_ahead_keeps_the_valid_token_and_backs_off() -> None:
    server, clock = FakeOAuthServer(expires_in=3600), FakeClock()
    transport = server.transport()
    auth = make_cc(clock)
    await api_call(auth, transport)
    clock.advance(3575)
    server.reply = lambda r: Response.json_response(503, {"error": "temporarily_unavailable"})
    assert bearer(await api_call(auth, transport)) == "tok-1"
    assert bearer(await api_call(auth, transport)) == "tok-1"
    assert len(server.token_requests) == 2  # one failed attempt, then a pause
    clock.advance(5)
    server.reply = None
    assert bearer(await api_call(auth, transport)) == "tok-2"


# -- single flight ------------------------------------------------------------------------


async def test_single_flight_under_10000_concurrent_calls() -> None:
    server, clock = FakeOAuthServer(), FakeClock()
    transport = server.transport()
    auth = make_cc(clock)
    server.gate = anyio.Event()
    results: list[str] = []

    async def call() -> None:
        results.append(bearer(await api_call(auth, transport)))

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            for _ in range(10_000):
                tg.start_soon(call)
            await server.entered.wait()
            await anyio.wait_all_tasks_blocked()
            server.gate.set()
    assert len(server.token_requests) == 1
    assert len(results) == 10_000 and set(results) == {"tok-1"}
    assert auth.refresh_count == 1


async def test_failure_fans_out_the_same_error_and_the_next_call_tries_afresh() -> None:
    server, clock = FakeOAuthServer(), FakeClock()
    transport = server.transport()
    auth = make_cc(clock)
    server.gate = anyio.Event()
    server.reply = lambda r: Response.json_response(
        401, {"error": "invalid_client", "error_description": "unknown client"}
    )
    errors: list[BaseException] = []

    async def call() -> None:
        try:
            await api_call(auth, transport)
        except OAuthError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg:
        for _ in range(200):
            tg.start_soon(call)
        await server.entered.wait()
        await anyio.wait_all_tasks_blocked()
        server.gate.set()
    assert len(server.token_requests) == 1
    assert len(errors) == 200
    assert all(e is errors[0] for e in errors)
    frames, tb = 0, errors[0].__traceback__
    while tb is not None:
        frames, tb = frames + 1, tb.tb_next
    assert frames < 40  # each waiter's raise does not pile onto one traceback
    error = errors[0]
    assert isinstance(error, OAuthError)
    assert (error.error, error.error_description, error.status_code) == (
        "invalid_client",
        "unknown client",
        401,
    )
    assert not server.api_requests
    server.gate = None
    server.reply = None
    assert bearer(await api_call(auth, transport)) == "tok-1"
    assert len(server.token_requests) == 2


async def test_a_cancelled_refresh_leaves_no_one_hanging_and_no_poisoned_state() -> None:
    server, clock = FakeOAuthServer(), FakeClock()
    transport = server.transport()
    auth = make_cc(clock)
    server.gate = anyio.Event()
    results: list[str] = []

    async def call() -> None:
        results.append(bearer(await api_call(auth, transport)))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            leader_scope = start_cancellable(tg, call)
            await server.entered.wait()
            for _ in range(50):
                tg.start_soon(call)
            await anyio.wait_all_tasks_blocked()
            server.entered = anyio.Event()
            leader_scope.cancel()  # the leader is inside the token request
            await server.entered.wait()  # a waiter took over: a second token request
            server.gate.set()
    # The cancelled request never got its token (the fake numbers tokens as it issues them).
    assert len(results) == 50 and set(results) == {"tok-1"}
    assert len(server.token_requests) == 2
    assert auth._flight is None
    assert bearer(await api_call(auth, transport)) == "tok-1"
    assert len(server.token_requests) == 2


async def test_when_everyone_is_cancelled_the_next_call_starts_afresh() -> None:
    server, clock = FakeOAuthServer(), FakeClock()
    transport = server.transport()
    auth = make_cc(clock)
    server.gate = anyio.Event()
    async with anyio.create_task_group() as tg:
        for _ in range(20):
            tg.start_soon(api_call, auth, transport)
        await server.entered.wait()
        await anyio.wait_all_tasks_blocked()  # the leader in its token request, the rest waiting
        tg.cancel_scope.cancel()
    assert len(server.token_requests) == 1
    assert auth._flight is None and auth.token is None
    server.gate = None
    with anyio.fail_after(1):
        assert bearer(await api_call(auth, transport)) == "tok-1"
    assert len(server.token_requests) == 2


async def test_auth_objects_sharing_a_store_refresh_once() -> None:
    server, clock = FakeOAuthServer(), FakeClock()
    transport = server.transport()
    store = MemoryTokenStore()
    auths = [make_cc(clock, store=store) for _ in range(5)]
    server.gate = anyio.Event()
    async with anyio.create_task_group() as tg:
        for auth in auths:
            for _ in range(20):
                tg.start_soon(api_call, auth, transport)
        await server.entered.wait()
        await anyio.wait_all_tasks_blocked()
        server.gate.set()
    assert len(server.token_requests) == 1
    assert sum(a.refresh_count for a in auths) == 1
    assert {a.token.access_token.get() for a in auths if a.token} == {"tok-1"}


def test_single_flight_on_trio() -> None:
    async def main() -> None:
        server, clock = FakeOAuthServer(), FakeClock()
        transport = server.transport()
        auth = make_cc(clock)
        async with anyio.create_task_group() as tg:
            for _ in range(100):
                tg.start_soon(api_call, auth, transport)
        assert len(server.token_requests) == 1

    anyio.run(main, backend="trio")


# -- 401 ----------------------------------------------------------------------------------


async def test_a_401_refreshes_once_and_replays_once() -> None:
    server, clock = FakeOAuthServer(), FakeClock()
    transport = server.transport()
    auth = make_cc(clock)
    await api_call(auth, transport)
    server.reject.add("tok-1")  # revoked server-side, well before its expiry
    response = await api_call(auth, transport)
    assert response.status_code == 200 and bearer(response) == "tok-2"
    assert [r.headers["authorization"] for r in server.api_requests] == [
        "Bearer tok-1",
        "Bearer tok-1",
        "Bearer tok-2",
    ]
    assert len(server.token_requests) == 2


async def test_concurrent_401s_cause_one_refresh() -> None:
    server, clock = FakeOAuthServer(), FakeClock()
    transport = server.transport()
    auth = make_cc(clock)
    await api_call(auth, transport)
    server.reject.add("tok-1")
    results: list[str] = []

    async def call() -> None:
        results.append(bearer(await api_call(auth, transport)))

    async with anyio.create_task_group() as tg:
        for _ in range(100):
            tg.start_soon(call)
    assert set(results) == {"tok-2"}
    assert len(server.token_requests) == 2


async def test_a_late_401_for_an_old_token_does_not_drop_the_new_one() -> None:
    server, clock = FakeOAuthServer(), FakeClock()
    transport = server.transport()
    auth = make_cc(clock)
    await api_call(auth, transport)
    old = auth.token
    server.reject.add("tok-1")
    await api_call(auth, transport)  # refreshed to tok-2
    assert old is not None

    # A 401 that arrives for tok-1 now (a slow request) must not throw tok-2 away.
    fresh = await auth._obtain(transport, old)
    assert fresh.token.access_token.get() == "tok-2"
    assert len(server.token_requests) == 2


async def test_a_second_401_raises_authentication_error_through_the_client() -> None:
    server, clock = FakeOAuthServer(), FakeClock()
    server.reject.update({"tok-1", "tok-2", "tok-3"})  # the API refuses every token
    transport = server.transport()
    auth = make_cc(clock)
    async with AsyncClient(BASE, auth=auth, transport=transport, clock=clock) as client:
        with pytest.raises(AuthenticationError) as info:
            await client.users.me()
        assert info.value.status_code == 401
        assert client.stats().token_refreshes == 2
    assert len(server.api_requests) == 2  # the call and one replay: no loop
    assert len(server.token_requests) == 2


async def test_a_401_through_the_client_recovers_with_one_replay() -> None:
    server, clock = FakeOAuthServer(), FakeClock()
    transport = server.transport()
    auth = make_cc(clock)
    async with AsyncClient(BASE, auth=auth, transport=transport, clock=clock) as client:
        response = await client.request("GET", "/api/v1/users/me")
        assert response.status_code == 200
        server.reject.add("tok-1")
        response = await client.request("GET", "/api/v1/users/me")
        assert bearer(response) == "tok-2"
    assert len(server.api_requests) == 3


# -- RefreshToken and rotation --------------------------------------------------------------


async def test_refresh_token_rotation_reaches_on_token_and_is_used_next() -> None:
    server, clock = FakeOAuthServer(expires_in=100, rotate=True), FakeClock()
    transport = server.transport()
    received: list[TokenSet] = []

    async def on_token(token_set: TokenSet) -> None:
        await anyio.lowlevel.checkpoint()
        received.append(token_set)

    auth = RefreshToken(
        TOKEN_URL,
        CLIENT_ID,
        "rt-0",
        client_secret=CLIENT_SECRET,
        on_token=on_token,
        extra_params={"resource": "api"},
        clock=clock,
    )
    for _ in range(3):
        assert (await api_call(auth, transport)).status_code == 200
        clock.advance(101)
    assert [f["refresh_token"] for f in server.forms] == ["rt-0", "rt-1", "rt-2"]
    assert all(f["grant_type"] == "refresh_token" and f["resource"] == "api" for f in server.forms)
    assert [t.access_token.get() for t in received] == ["tok-1", "tok-2", "tok-3"]
    assert [t.refresh_token.get() for t in received if t.refresh_token] == ["rt-1", "rt-2", "rt-3"]
    assert auth.refresh_token.get() == "rt-3"
    assert received[0].expires_in == 100 and received[0].token_type == "Bearer"


async def test_without_rotation_the_refresh_token_is_kept() -> None:
    server, clock = FakeOAuthServer(expires_in=100, rotate=False), FakeClock()
    transport = server.transport()
    received: list[TokenSet] = []
    auth = RefreshToken(TOKEN_URL, CLIENT_ID, "rt-0", on_token=received.append, clock=clock)
    await api_call(auth, transport)
    clock.advance(101)
    await api_call(auth, transport)
    assert [f["refresh_token"] for f in server.forms] == ["rt-0", "rt-0"]
    # A public client: its id in the form, no Authorization header.
    assert all(f["client_id"] == CLIENT_ID for f in server.forms)
    assert "authorization" not in server.token_requests[0].headers
    assert received[-1].refresh_token == Secret("rt-0")


async def test_an_on_token_callback_that_raises_does_not_fail_the_call(caplog: Any) -> None:
    server, clock = FakeOAuthServer(), FakeClock()

    def broken(token_set: TokenSet) -> None:
        raise RuntimeError("database down")

    auth = make_cc(clock, on_token=broken)
    with caplog.at_level(logging.ERROR, logger="asyncapi_client.auth"):
        assert (await api_call(auth, server.transport())).status_code == 200
    assert "on_token callback raised RuntimeError" in caplog.text


# -- TokenProvider --------------------------------------------------------------------------


async def test_token_provider_is_called_single_flight_and_again_after_a_401() -> None:
    server, clock = FakeOAuthServer(), FakeClock()
    server.valid.update({"user-a", "user-b"})
    transport = server.transport()
    calls: list[int] = []
    tokens = iter(["user-a", "user-b"])

    async def get_token() -> str:
        calls.append(1)
        await anyio.sleep(0.01)
        return next(tokens)

    auth = TokenProvider(get_token, clock=clock)
    async with anyio.create_task_group() as tg:
        for _ in range(50):
            tg.start_soon(api_call, auth, transport)
    assert len(calls) == 1
    server.reject.add("user-a")
    assert bearer(await api_call(auth, transport)) == "user-b"
    assert len(calls) == 2 and auth.refresh_count == 2
    assert not server.token_requests


async def test_token_provider_with_expiry_refreshes_ahead() -> None:
    server, clock = FakeOAuthServer(), FakeClock()
    server.valid.update({"p-1", "p-2"})
    transport = server.transport()
    counter = iter(range(1, 10))

    def get_token() -> dict[str, Any]:
        return {"access_token": f"p-{next(counter)}", "expires_in": 600}

    auth = TokenProvider(get_token, clock=clock, refresh_margin=30)
    assert bearer(await api_call(auth, transport)) == "p-1"
    clock.advance(569)
    assert bearer(await api_call(auth, transport)) == "p-1"
    clock.advance(1)
    assert bearer(await api_call(auth, transport)) == "p-2"


async def test_token_provider_accepts_an_object_with_expiry() -> None:
    import attrs as _attrs

    @_attrs.define
    class UserToken:
        access_token: str
        expires_in: float

    server, clock = FakeOAuthServer(), FakeClock()
    server.valid.add("obj-token")
    auth = TokenProvider(lambda: UserToken("obj-token", 60), clock=clock)
    assert bearer(await api_call(auth, server.transport())) == "obj-token"
    assert auth.token is not None and auth.token.expires_at == clock.now + 60


async def test_token_provider_rejects_bad_values() -> None:
    server, clock = FakeOAuthServer(), FakeClock()
    auth = TokenProvider(lambda: 42, clock=clock)  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="must return"):
        await api_call(auth, server.transport())
    auth = TokenProvider(lambda: " spaced ", clock=clock)
    with pytest.raises(ValueError, match="empty token or one with spaces"):
        await api_call(auth, server.transport())


# -- malformed replies and transport failures ---------------------------------------------------


def reply_with(status: int, content: bytes, content_type: str = "application/json") -> Any:
    return lambda request: Response(status, {"content-type": content_type}, content)


@pytest.mark.parametrize(
    ("status", "content", "error"),
    [
        (200, b"<html>oops</html>", "invalid_token_response"),
        (200, b"", "invalid_token_response"),
        (200, b"[1, 2]", "invalid_token_response"),
        (200, b'{"token_type": "Bearer"}', "invalid_token_response"),
        (200, b'{"access_token": ""}', "invalid_token_response"),
        (200, b'{"access_token": 12}', "invalid_token_response"),
        (200, b'{"access_token": "a", "expires_in": "soon"}', "invalid_token_response"),
        (200, b'{"access_token": "a", "expires_in": -5}', "invalid_token_response"),
        (200, b'{"access_token": "a", "expires_in": 0}', "invalid_token_response"),
        (200, b'{"access_token": "a", "expires_in": NaN}', "invalid_token_response"),
        (200, b'{"access_token": "a", "expires_in": true}', "invalid_token_response"),
        (200, b'{"access_token": "a", "expires_in": [3600]}', "invalid_token_response"),
        (200, b'{"access_token": "a", "refresh_token": 5}', "invalid_token_response"),
        (200, b'{"access_token": "a", "token_type": "mac"}', "unsupported_token_type"),
        (400, b'{"error": "invalid_scope"}', "invalid_scope"),
        (200, b'{"error": "invalid_client"}', "invalid_client"),  # a 200 with an error body
        (400, b'{"error": 7}', "unexpected_response"),
        (502, b"<html>Bad gateway</html>", "unexpected_response"),
        (500, b"", "unexpected_response"),
    ],
)
async def test_malformed_token_replies_become_oauth_errors(status: int, content: bytes, error: str) -> None:
    server, clock = FakeOAuthServer(), FakeClock()
    server.reply = reply_with(status, content)
    auth = make_cc(clock)
    with pytest.raises(OAuthError) as info:
        await api_call(auth, server.transport())
    assert info.value.error == error
    assert info.value.status_code == status


@pytest.mark.parametrize(
    ("expires_in", "lifetime"),
    [
        (b'"3600"', 3600.0),  # a numeric string, as some servers send
        (b"1e300", 365 * 86400.0),  # capped at a year
        (b"99999999999999999999999999999999999999999999999999999999", 365 * 86400.0),
        (b"1e400", 365 * 86400.0),  # parses as infinity: capped too
        (b"12.5", 12.5),
    ],
)
async def test_odd_but_sane_expires_in_values(expires_in: bytes, lifetime: float | None) -> None:
    server, clock = FakeOAuthServer(), FakeClock()
    server.reply = reply_with(200, b'{"access_token": "odd", "expires_in": ' + expires_in + b"}")
    server.valid.add("odd")
    auth = make_cc(clock)
    if lifetime is None:
        with pytest.raises(OAuthError, match="invalid_token_response"):
            await api_call(auth, server.transport())
        return
    await api_call(auth, server.transport())
    assert auth.token is not None and auth.token.expires_in == lifetime
    assert auth.token.expires_at is not None and math.isfinite(auth.token.expires_at)


async def test_transport_failures_propagate_as_api_connection_errors() -> None:
    clock = FakeClock()

    def handler(request: Request) -> Response:
        raise APIConnectionError("connection refused", request=request, request_sent=False)

    auth = make_cc(clock)
    with pytest.raises(APIConnectionError, match="connection refused"):
        await api_call(auth, MockTransport(handler))
    assert auth._flight is None


# -- secrets and configuration ------------------------------------------------------------------


async def test_secrets_never_show_in_repr_str_exceptions_or_logs(caplog: Any) -> None:
    server, clock = FakeOAuthServer(rotate=True), FakeClock()
    transport = server.transport()
    caplog.set_level(logging.DEBUG)
    cc = make_cc(clock)
    rt = RefreshToken(TOKEN_URL, CLIENT_ID, "rt-initial-secret", client_secret=CLIENT_SECRET, clock=clock)
    await api_call(cc, transport)
    await api_call(rt, transport)
    texts = [repr(cc), str(cc), repr(rt), str(rt), repr(cc.token), str(rt.token), repr(rt.refresh_token)]
    # The server echoes the secret and the refresh token in its error description.
    server.reply = lambda r: Response.json_response(
        400,
        {
            "error": "invalid_grant",
            "error_description": f"bad {CLIENT_SECRET} / {form(r).get('refresh_token')} "
            f"refresh_token=abc client_secret={CLIENT_SECRET}",
        },
    )
    await rt.invalidate()
    with pytest.raises(OAuthError) as info:
        await api_call(rt, transport)
    texts += [str(info.value), repr(info.value), str(info.value.error_description), caplog.text]
    for text in texts:
        for secret in (CLIENT_SECRET, "tok-1", "tok-2", "rt-initial-secret", "rt-2"):
            assert secret not in text, (secret, text)
    assert "Secret('***')" in repr(cc)


async def test_the_token_url_is_used_as_given() -> None:
    seen: list[str] = []

    def handler(request: Request) -> Response:
        seen.append(request.url)
        return Response.json_response(200, {"access_token": "t", "token_type": "bearer"})

    auth = ClientCredentials("https://auth.example.com/o/token/", CLIENT_ID, CLIENT_SECRET)
    await api_call(auth, MockTransport(handler))
    assert seen[0] == "https://auth.example.com/o/token/"


def test_plain_http_token_url_is_refused_unless_loopback_or_allowed() -> None:
    with pytest.raises(ValueError, match="plain http"):
        ClientCredentials("http://auth.example.com/token", CLIENT_ID, CLIENT_SECRET)
    with pytest.raises(ValueError, match="plain http"):
        RefreshToken("http://10.0.0.1/token", CLIENT_ID, "rt")
    for url in ("http://127.0.0.1:8000/token", "http://localhost/token", "http://[::1]/token"):
        ClientCredentials(url, CLIENT_ID, CLIENT_SECRET)
    ClientCredentials("http://auth.internal/token", CLIENT_ID, CLIENT_SECRET, allow_insecure_http=True)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"refresh_margin": -1}, "refresh_margin"),
        ({"refresh_margin": math.nan}, "refresh_margin"),
        ({"timeout": 0}, "timeout"),
        ({"auth_method": "private_key_jwt"}, "auth_method"),
        ({"store": object()}, "TokenStore"),
        ({"client_secret": ""}, "client_secret"),
    ],
)
def test_bad_configuration_fails_at_construction(kwargs: dict[str, Any], match: str) -> None:
    params: dict[str, Any] = {"client_secret": CLIENT_SECRET, **kwargs}
    with pytest.raises((ValueError, TypeError), match=match):
        ClientCredentials(TOKEN_URL, CLIENT_ID, **params)


async def test_a_leader_cancelled_while_on_token_runs_lets_it_finish() -> None:
    server, clock = FakeOAuthServer(), FakeClock()
    transport = server.transport()
    in_callback, release = anyio.Event(), anyio.Event()
    persisted: list[str] = []

    async def slow_on_token(token_set: TokenSet) -> None:
        in_callback.set()
        await release.wait()  # persisting a rotated refresh token, say
        persisted.append(token_set.access_token.get())

    auth = make_cc(clock, on_token=slow_on_token)
    results: list[str] = []

    async def call() -> None:
        results.append(bearer(await api_call(auth, transport)))

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            leader_scope = start_cancellable(tg, call)
            await in_callback.wait()
            for _ in range(20):
                tg.start_soon(call)
            await anyio.wait_all_tasks_blocked()
            # The new token is in use while on_token runs; only a next refresh would wait for it.
            assert results == ["tok-1"] * 20
            leader_scope.cancel()
            await anyio.wait_all_tasks_blocked()
            assert not persisted and auth._flight is not None  # the callback is still running
            release.set()
    assert persisted == ["tok-1"]  # the cancellation did not cut the callback short
    assert auth._flight is None
    assert len(server.token_requests) == 1


async def test_refresh_token_with_the_access_token_already_held() -> None:
    server, clock = FakeOAuthServer(expires_in=300, rotate=True), FakeClock()
    server.valid.add("from-login")
    transport = server.transport()
    auth = RefreshToken(TOKEN_URL, CLIENT_ID, "rt-0", access_token="from-login", expires_in=300, clock=clock)
    assert bearer(await api_call(auth, transport)) == "from-login"
    assert not server.token_requests
    clock.advance(271)  # inside the 30 s margin
    assert bearer(await api_call(auth, transport)) == "tok-1"
    assert server.forms[0]["refresh_token"] == "rt-0"
    with pytest.raises(ValueError, match="pass both or neither"):
        RefreshToken(TOKEN_URL, CLIENT_ID, "rt-0", expires_in=300)


async def test_a_retried_attempt_carries_the_token_valid_when_it_is_sent() -> None:
    from asyncapi_client import RetryPolicy

    server, clock = FakeOAuthServer(expires_in=1), FakeClock()
    handle = server.handle
    first = True

    async def flaky(request: Request) -> Response:
        nonlocal first
        if request.url != TOKEN_URL and first:
            first = False
            server.api_requests.append(request)
            return Response.json_response(503, {"error": {"code": "UNAVAILABLE", "message": "x"}})
        return await handle(request)

    auth = make_cc(clock)
    retry = RetryPolicy(max_attempts=2, backoff_base=2.0, jitter="none")
    async with AsyncClient(
        BASE, auth=auth, transport=MockTransport(flaky), clock=clock, retry=retry
    ) as client:
        response = await client.request("GET", "/api/v1/users/me")
    assert response.status_code == 200
    # The backoff (2 s on the client's clock) outlived the 1 s token: the retry got a new one.
    assert [r.headers["authorization"] for r in server.api_requests] == ["Bearer tok-1", "Bearer tok-2"]
    assert len(server.token_requests) == 2
