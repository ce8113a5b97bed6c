"""Dedupe stores: claim / complete / release, TTL and size bounds, Redis shared across stores."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from asyncapi_client.testing import FakeClock
from asyncapi_client.webhooks import Claim, DedupeStore, InMemoryDedupeStore, RedisDedupeStore


async def test_in_memory_lifecycle() -> None:
    store = InMemoryDedupeStore(clock=FakeClock())
    assert isinstance(store, DedupeStore)
    assert await store.claim("a") is Claim.CLAIMED
    assert await store.claim("a") is Claim.IN_FLIGHT
    await store.release("a")  # the handler failed: the next delivery gets it
    assert await store.claim("a") is Claim.CLAIMED
    await store.complete("a")
    assert await store.claim("a") is Claim.DUPLICATE
    assert await store.claim("b") is Claim.CLAIMED


async def test_in_memory_ttl() -> None:
    clock = FakeClock()
    store = InMemoryDedupeStore(ttl=60, clock=clock)
    assert await store.claim("a") is Claim.CLAIMED
    await store.complete("a")
    clock.advance(59)
    assert await store.claim("a") is Claim.DUPLICATE
    clock.advance(2)
    assert await store.claim("a") is Claim.CLAIMED
    assert len(store) == 0


async def test_in_memory_is_bounded() -> None:
    store = InMemoryDedupeStore(max_entries=3, clock=FakeClock())
    for key in "abcd":
        assert await store.claim(key) is Claim.CLAIMED
        await store.complete(key)
    assert len(store) == 3
    assert await store.claim("a") is Claim.CLAIMED  # the oldest was forgotten first
    assert await store.claim("d") is Claim.DUPLICATE


def test_in_memory_validates() -> None:
    with pytest.raises(ValueError):
        InMemoryDedupeStore(ttl=0)
    with pytest.raises(ValueError):
        InMemoryDedupeStore(max_entries=0)


@pytest.fixture
async def redis_stores(redis_server_url: str) -> AsyncIterator[tuple[RedisDedupeStore, RedisDedupeStore]]:
    prefix = f"test:{uuid.uuid4().hex}:"
    # Two stores, as two workers would have, sharing one Redis.
    first = RedisDedupeStore(redis_server_url, prefix=prefix, in_flight_ttl=0.2)
    second = RedisDedupeStore(redis_server_url, prefix=prefix)
    yield first, second
    await first.aclose()
    await second.aclose()


@pytest.mark.redis
async def test_redis_shared_between_workers(redis_stores: tuple[RedisDedupeStore, RedisDedupeStore]) -> None:
    first, second = redis_stores
    assert isinstance(first, DedupeStore)
    assert await first.claim("a") is Claim.CLAIMED
    assert await second.claim("a") is Claim.IN_FLIGHT
    await second.release("a")  # not its claim: must not drop the first worker's mark
    assert await second.claim("a") is Claim.IN_FLIGHT
    await first.release("a")
    assert await second.claim("a") is Claim.CLAIMED
    await second.complete("a")
    assert await first.claim("a") is Claim.DUPLICATE
    assert await second.claim("a") is Claim.DUPLICATE


@pytest.mark.redis
async def test_redis_in_flight_mark_expires(redis_stores: tuple[RedisDedupeStore, RedisDedupeStore]) -> None:
    import anyio

    first, second = redis_stores
    assert await first.claim("crashed") is Claim.CLAIMED  # its worker "dies" here
    assert await second.claim("crashed") is Claim.IN_FLIGHT
    # Redis expires the 0.2 s lease on its own clock; poll rather than sleep a fixed time.
    for _ in range(100):
        if await second.claim("crashed") is Claim.CLAIMED:
            break
        await anyio.sleep(0.05)
    else:
        pytest.fail("the in-flight mark never expired")


def test_redis_store_arguments() -> None:
    with pytest.raises(ValueError):
        RedisDedupeStore()
    with pytest.raises(ValueError):
        RedisDedupeStore("redis://127.0.0.1:1/0", ttl=0)
