"""RedisTokenStore against a real redis-server: sharing, TTLs, the lock, many processes."""

from __future__ import annotations

import multiprocessing
import uuid
from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from asyncapi_client import ClientCredentials, RedisTokenStore, Request, Response, TokenSet
from asyncapi_client.testing import FakeClock
from tests.support.fake_oauth import (
    CLIENT_ID,
    CLIENT_SECRET,
    TOKEN_URL,
    FakeOAuthServer,
    api_call,
    start_cancellable,
)

pytestmark = pytest.mark.redis


@pytest.fixture
async def redis_client(redis_server_url: str) -> AsyncIterator[Any]:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_server_url)
    yield client
    await client.aclose()


@pytest.fixture
def prefix() -> str:
    return f"test:{uuid.uuid4().hex}"


def make_store(redis_client: Any, prefix: str, clock: FakeClock, **kwargs: Any) -> RedisTokenStore:
    return RedisTokenStore(redis_client, key=prefix, clock=clock, **kwargs)


async def test_round_trip_keeps_the_fields_and_expires_with_the_token(redis_client: Any, prefix: str) -> None:
    clock = FakeClock()
    store = make_store(redis_client, prefix, clock)
    token = TokenSet(
        access_token="a-1", expires_in=120, expires_at=clock.now + 100, scope="read", extra={"x": 1}
    )
    await store.set("cred", token)
    pttl = await redis_client.pttl(f"{prefix}:cred:token")
    assert 99_000 < pttl <= 100_000
    clock.advance(40)  # another process reads it later: still 60 s left on its clock
    got = await store.get("cred")
    assert got is not None
    assert got.access_token.get() == "a-1" and got.scope == "read" and got.extra == {"x": 1}
    assert got.expires_in == 120
    assert got.expires_at == pytest.approx(clock.now + 60, abs=1e-3)
    # With a refresh token the entry outlives the access token (no TTL by default).
    await store.set(
        "cred", TokenSet(access_token="a-2", expires_in=1, expires_at=clock.now + 1, refresh_token="r")
    )
    assert await redis_client.pttl(f"{prefix}:cred:token") == -1
    got = await store.get("cred")
    assert got is not None and got.refresh_token is not None and got.refresh_token.get() == "r"
    # Already expired and no refresh token: not stored.
    await store.set("other", TokenSet(access_token="old", expires_in=1, expires_at=clock.now - 1))
    assert await store.get("other") is None


async def test_delete_only_if_it_is_still_that_token(redis_client: Any, prefix: str) -> None:
    store = make_store(redis_client, prefix, FakeClock())
    await store.set("cred", TokenSet(access_token="new"))
    await store.delete("cred", only_if=TokenSet(access_token="old"))
    assert await store.get("cred") is not None
    await store.delete("cred", only_if=TokenSet(access_token="new"))
    assert await store.get("cred") is None


async def test_a_malformed_entry_is_ignored(redis_client: Any, prefix: str) -> None:
    store = make_store(redis_client, prefix, FakeClock())
    await redis_client.set(f"{prefix}:cred:token", b"not json")
    assert await store.get("cred") is None


async def test_the_lock_excludes_and_a_crashed_holder_blocks_only_until_it_expires(
    redis_client: Any, prefix: str
) -> None:
    server, clock = FakeOAuthServer(), FakeClock()
    store = make_store(redis_client, prefix, clock, lock_ttl=0.3)
    lock_key = f"{prefix}:cred:lock"
    # A holder that crashed: its lock stays until its PX runs out.
    await redis_client.set(lock_key, "crashed-holder", px=300)
    owners: list[bytes | None] = []
    handle = server.handle

    async def token_endpoint(request: Request) -> Response:
        if request.url == TOKEN_URL:
            owners.append(await redis_client.get(lock_key))
        return await handle(request)

    from asyncapi_client import MockTransport

    auth = ClientCredentials(TOKEN_URL, CLIENT_ID, CLIENT_SECRET, store=store, store_key="cred", clock=clock)
    sets_before = await set_calls(redis_client)
    with anyio.fail_after(5):
        response = await api_call(auth, MockTransport(token_endpoint))
    assert response.status_code == 200
    assert len(owners) == 1 and owners[0] not in (None, b"crashed-holder")
    assert await redis_client.get(lock_key) is None  # released after the refresh
    # While it waited ~300 ms, the backoff (5 ms doubling to 100 ms, jittered) polled a handful
    # of times, not hundreds: the SETs are those polls, the lock taken, and the token written.
    assert await set_calls(redis_client) - sets_before <= 20


async def set_calls(redis_client: Any) -> int:
    stats = await redis_client.info("commandstats")
    return int(stats.get("cmdstat_set", {}).get("calls", 0))


async def test_two_stores_two_auth_objects_one_token_request(
    redis_client: Any, redis_server_url: str, prefix: str
) -> None:
    # Two auth objects with their own store instances behave like two processes.
    server, clock = FakeOAuthServer(), FakeClock()
    server.gate = anyio.Event()
    transport = server.transport()
    stores = [RedisTokenStore(redis_server_url, key=prefix, clock=clock) for _ in range(2)]
    auths = [ClientCredentials(TOKEN_URL, CLIENT_ID, CLIENT_SECRET, store=s, clock=clock) for s in stores]
    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            for auth in auths:
                for _ in range(50):
                    tg.start_soon(api_call, auth, transport)
            await server.entered.wait()
            await anyio.wait_all_tasks_blocked()
            server.gate.set()
        assert len(server.token_requests) == 1
        # A 401 seen by one of them: it drops the shared token (it is still that one) and
        # refreshes once; the other picks the new token up from Redis on its own 401.
        server.gate = None
        server.reject.add("tok-1")
        for auth in auths:
            assert (await api_call(auth, transport)).status_code == 200
        assert len(server.token_requests) == 2
        assert sum(a.refresh_count for a in auths) == 2
    for store in stores:
        await store.aclose()


async def test_a_store_that_is_down_degrades_to_per_process_tokens(caplog: Any) -> None:
    from tests.support.services import free_port

    server, clock = FakeOAuthServer(), FakeClock()
    store = RedisTokenStore(f"redis://127.0.0.1:{free_port()}/0", clock=clock)
    auth = ClientCredentials(TOKEN_URL, CLIENT_ID, CLIENT_SECRET, store=store, clock=clock)
    with anyio.fail_after(10):
        assert (await api_call(auth, server.transport())).status_code == 200
    assert "token store get failed" in caplog.text
    await store.aclose()


def test_repr_and_configuration() -> None:
    store = RedisTokenStore("redis://127.0.0.1:1/0", key="k")
    assert repr(store) == "RedisTokenStore(key='k')"
    with pytest.raises(ValueError, match="lock_ttl"):
        RedisTokenStore("redis://127.0.0.1:1/0", lock_ttl=0)
    with pytest.raises(TypeError):
        RedisTokenStore(42)  # type: ignore[arg-type]


@pytest.mark.slow
def test_four_processes_500_concurrent_calls_each_make_one_token_request(redis_server_url: str) -> None:
    from asyncapi_sandbox import Sandbox
    from tests.support import token_race_worker

    processes, calls = 4, 500
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(processes)
    results = ctx.Queue()
    shared_prefix = f"mp:{uuid.uuid4().hex}"  # one key space for all workers
    with Sandbox() as sb:
        workers = [
            ctx.Process(
                target=token_race_worker.run,
                args=(
                    redis_server_url,
                    sb.base_url,
                    sb.token_url,
                    sb.client_id,
                    sb.client_secret,
                    shared_prefix,
                    calls,
                    barrier,
                    results,
                ),
            )
            for _ in range(processes)
        ]
        for worker in workers:
            worker.start()
        outcomes = [results.get(timeout=60) for _ in workers]
        for worker in workers:
            worker.join(timeout=10)
        stats = sb.stats_sync()
    assert [o["errors"] for o in outcomes] == [[]] * processes
    assert sum(o["ok"] for o in outcomes) == processes * calls
    assert stats["token_requests"]["client_credentials"] == 1
    assert sum(o["refresh_count"] for o in outcomes) == 1
    assert len({o["token"] for o in outcomes}) == 1


async def test_a_rotated_refresh_token_is_shared_between_processes(
    redis_server_url: str, prefix: str
) -> None:
    from asyncapi_client import RefreshToken

    server, clock = FakeOAuthServer(expires_in=100, rotate=True), FakeClock()
    transport = server.transport()
    stores = [RedisTokenStore(redis_server_url, key=prefix, clock=clock) for _ in range(2)]
    # Both "processes" start from the refresh token persisted at login.
    a, b = (
        RefreshToken(TOKEN_URL, CLIENT_ID, "rt-0", store=s, store_key="user-7", clock=clock) for s in stores
    )
    await api_call(a, transport)  # a spends rt-0 and gets rt-1
    await api_call(b, transport)  # b picks a's token up: no token request
    assert len(server.token_requests) == 1
    clock.advance(101)
    await api_call(b, transport)  # b refreshes with rt-1 (from Redis), not its stale rt-0
    clock.advance(1)
    await api_call(a, transport)  # and a picks that up in turn
    assert [f["refresh_token"] for f in server.forms] == ["rt-0", "rt-1"]
    assert a.refresh_token.get() == b.refresh_token.get() == "rt-2"
    for store in stores:
        await store.aclose()


async def test_a_cancelled_leader_releases_the_redis_lock(redis_client: Any, prefix: str) -> None:
    server, clock = FakeOAuthServer(), FakeClock()
    server.gate = anyio.Event()
    transport = server.transport()
    store = make_store(redis_client, prefix, clock, lock_ttl=30.0)
    auth = ClientCredentials(TOKEN_URL, CLIENT_ID, CLIENT_SECRET, store=store, store_key="cred", clock=clock)
    results: list[int] = []

    async def call() -> None:
        results.append((await api_call(auth, transport)).status_code)

    # Far less than the lock's 30 s expiry: the takeover finds the lock released, not expired.
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            leader_scope = start_cancellable(tg, call)
            await server.entered.wait()
            assert await redis_client.get(f"{prefix}:cred:lock") is not None
            for _ in range(10):
                tg.start_soon(call)
            await anyio.wait_all_tasks_blocked()
            server.entered = anyio.Event()
            leader_scope.cancel()
            await server.entered.wait()  # a waiter took the lock and asked for a token
            server.gate.set()
    assert results == [200] * 10
    assert len(server.token_requests) == 2
    assert await redis_client.get(f"{prefix}:cred:lock") is None
