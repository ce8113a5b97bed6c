"""The Redis backends under trio: redis-py's asyncio client cannot run there, so each backend
says so with `AsyncioRequiredError`, at construction inside a trio program and at its first
operation when it was made outside one; never a silent fail-open. Against a real
redis-server, and on asyncio every one of them works (the control)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest

from asyncapi_client import AsyncioRequiredError, RedisRateLimitBackend, RedisTokenStore
from asyncapi_client.checkpoints import RedisCheckpointStore
from asyncapi_client.webhooks import RedisDedupeStore

Make = Callable[[str], Any]

BACKENDS: dict[str, tuple[Make, Callable[[Any], Any]]] = {
    "RedisTokenStore": (lambda url: RedisTokenStore(url), lambda b: b.get("k")),
    "RedisRateLimitBackend": (
        lambda url: RedisRateLimitBackend(url, fail_open=True),
        lambda b: b.acquire("k", rate=10.0, burst=1, max_wait=None),
    ),
    "RedisDedupeStore": (lambda url: RedisDedupeStore(url), lambda b: b.claim("k")),
    "RedisCheckpointStore": (lambda url: RedisCheckpointStore(url), lambda b: b.load("k")),
}


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_made_inside_a_trio_program_it_refuses_at_construction(name: str, redis_server_url: str) -> None:
    make, _ = BACKENDS[name]

    async def main() -> None:
        with pytest.raises(AsyncioRequiredError, match=f"{name} needs asyncio.*does not run on trio"):
            make(redis_server_url)

    anyio.run(main, backend="trio")


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_made_outside_it_refuses_at_its_first_operation_under_trio(name: str, redis_server_url: str) -> None:
    make, operate = BACKENDS[name]
    backend = make(redis_server_url)  # no event loop yet: nothing to tell

    async def main() -> None:
        with pytest.raises(AsyncioRequiredError, match=f"{name} needs asyncio"):
            await operate(backend)

    anyio.run(main, backend="trio")


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_on_asyncio_each_backend_works(name: str, redis_server_url: str) -> None:
    make, operate = BACKENDS[name]

    async def main() -> None:
        backend = make(redis_server_url)
        await operate(backend)
        await backend.aclose()

    anyio.run(main, backend="asyncio")


def test_a_client_on_trio_with_a_shared_token_store_gets_the_typed_error(redis_server_url: str) -> None:
    """The token engine degrades a failing store to a per-process token; trio is not a failing
    store, so the call says why instead of quietly not sharing the token."""
    from asyncapi_client import AsyncClient, ClientCredentials
    from asyncapi_sandbox import Sandbox

    async def main() -> None:
        async with Sandbox() as sb:
            store = RedisTokenStore(redis_server_url)  # made in the asyncio program serving sb
            auth = ClientCredentials(sb.token_url, sb.client_id, sb.client_secret, store=store)
            base_url = sb.base_url

            def on_trio() -> None:
                async def call() -> None:
                    async with AsyncClient(base_url, auth=auth, allow_insecure_http=True) as client:
                        with pytest.raises(AsyncioRequiredError, match="RedisTokenStore needs asyncio"):
                            await client.users.me()

                anyio.run(call, backend="trio")

            await anyio.to_thread.run_sync(on_trio)

    anyio.run(main, backend="asyncio")
