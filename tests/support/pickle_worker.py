"""Run in a worker process by tests/reliability/test_hostile_pickling.py: one call that fails, raised as it is."""

from __future__ import annotations

import anyio


def failing_call(base_url: str, token: str, path: str) -> None:
    """Call `path` with `token` as a default `Authorization` header; the server answers an error
    quoting it, and the SDK's exception is raised for the pool to carry to the parent."""
    import asyncapi_client as sdk

    async def main() -> None:
        headers = {"Authorization": f"Bearer {token}"}
        retry = sdk.RetryPolicy(max_attempts=1)
        async with sdk.AsyncClient(base_url, headers=headers, retry=retry) as client:
            await client.request("GET", path)

    anyio.run(main)
