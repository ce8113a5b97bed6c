"""Worker processes for the multi-process tests: one client, many concurrent calls, one Redis store."""

from __future__ import annotations

import asyncio
from typing import Any


def run(
    redis_url: str,
    base_url: str,
    token_url: str,
    client_id: str,
    client_secret: str,
    prefix: str,
    calls: int,
    barrier: Any,
    results: Any,
) -> None:
    from asyncapi_client import AsyncClient, ClientCredentials, RedisTokenStore

    async def main() -> dict[str, Any]:
        store = RedisTokenStore(redis_url, key=prefix)
        auth = ClientCredentials(token_url, client_id, client_secret, store=store)
        errors: list[str] = []
        ok = 0
        async with AsyncClient(base_url, auth=auth) as client:

            async def call() -> None:
                nonlocal ok
                try:
                    await client.users.me()
                    ok += 1
                except Exception as exc:
                    errors.append(type(exc).__name__)

            # Warm the connection to Redis so that the race starts at the token, not at connect.
            await store.get("warm-up")
            await asyncio.to_thread(barrier.wait)
            await asyncio.gather(*(call() for _ in range(calls)))
        token = auth.token.access_token.get() if auth.token else None
        await store.aclose()
        return {"ok": ok, "errors": errors, "refresh_count": auth.refresh_count, "token": token}

    results.put(asyncio.run(main()))


def run_user(
    redis_url: str,
    server_url: str,
    client_id: str,
    client_secret: str,
    redirect_uri: str,
    prefix: str,
    user_id: str,
    calls: int,
    barrier: Any,
    results: Any,
) -> None:
    """`calls` concurrent calls acting for one web-app user whose grant is in Redis."""
    from asyncapi_client import AsyncClient, AuthorizationCodeFlow, RedisTokenStore

    async def main() -> dict[str, Any]:
        store = RedisTokenStore(redis_url, key=prefix)
        flow = AuthorizationCodeFlow(
            server_url + "/oauth/authorize",
            server_url + "/oauth/token",
            client_id,
            client_secret,
            redirect_uri=redirect_uri,
            store=store,
        )
        errors: list[str] = []
        ok = 0
        async with AsyncClient(server_url) as client:
            view = client.with_options(auth=flow.for_user(user_id))

            async def call() -> None:
                nonlocal ok
                try:
                    await view.users.me()
                    ok += 1
                except Exception as exc:
                    errors.append(f"{type(exc).__name__}: {exc}")

            await store.get("warm-up")
            await asyncio.to_thread(barrier.wait)
            await asyncio.gather(*(call() for _ in range(calls)))
        auth = flow.for_user(user_id)
        token = auth.token.access_token.get() if auth.token else None
        await store.aclose()
        return {"ok": ok, "errors": errors, "refresh_count": auth.refresh_count, "token": token}

    results.put(asyncio.run(main()))
