"""`gather`: `asyncio.gather` for tests on any anyio backend (asyncio or trio)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar

import anyio

T = TypeVar("T")


async def gather(*aws: Awaitable[T]) -> list[T]:
    """`asyncio.gather` on any backend: run the awaitables concurrently, results in order."""
    results: list[Any] = [None] * len(aws)

    async def run(index: int, aw: Awaitable[T]) -> None:
        results[index] = await aw

    async with anyio.create_task_group() as tg:
        for index, aw in enumerate(aws):
            tg.start_soon(run, index, aw)
    return results
