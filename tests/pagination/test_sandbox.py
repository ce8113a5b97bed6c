"""The pager against the real sandbox over HTTP: every item once and in order, the page edges,
resuming, and break / cancel with no task and no pool slot lost (a pool of 10)."""

from __future__ import annotations

import asyncio

import anyio
import pytest

from asyncapi_client import AsyncClient, HttpcoreTransport, Project, Request, Response
from asyncapi_sandbox import Sandbox
from tests.support.sandbox_token import sandbox_client


async def reference(client: AsyncClient, total: int) -> list[int]:
    """The ids the server holds, page by page with the plain one-page call."""
    ids: list[int] = []
    page = 1
    while True:
        got = await client.projects.list_page(page, 100)
        ids.extend(p.id for p in got.data)
        if page >= got.meta.total_pages:
            break
        page += 1
    assert len(ids) == total
    return ids


@pytest.mark.parametrize("total", [0, 1, 100, 101, 250])
async def test_every_item_once_and_in_order_at_the_edges(total: int) -> None:
    async with Sandbox(projects=total, users=0) as sb, await sandbox_client(sb) as client:
        expected = await reference(client, total)
        # 100: a multiple of the limit; 101: one more; 250: half a page more, a multiple of 50.
        limits = (1, 50, 100) if total <= 101 else (50, 100)
        for limit in limits:
            for prefetch in (0, 8):
                pager = client.projects.list(limit=limit, prefetch=prefetch)
                assert [p.id for p in await pager.to_list()] == expected, (limit, prefetch)
                assert pager.total_items == total
                async with client.projects.list(limit=limit, prefetch=prefetch) as pager:
                    assert [p.id async for p in pager] == expected
        stats = await sb.stats()
        assert stats["responses_by_status"].get("200", 0) == stats["requests_total"]


async def test_pages_meta_resume_and_max_items() -> None:
    async with Sandbox(projects=250, users=0) as sb, await sandbox_client(sb) as client:
        expected = await reference(client, 250)
        async with client.projects.list(limit=100, prefetch=4) as pager:
            pages = [page async for page in pager.pages()]
        assert [(p.meta.current_page, len(p.data)) for p in pages] == [(1, 100), (2, 100), (3, 50)]
        resumed = client.projects.list(limit=100, start_page=2, prefetch=2)
        assert [p.id for p in await resumed.to_list()] == expected[100:]
        capped = client.projects.list(limit=100, max_items=120, prefetch=8)
        assert [p.id for p in await capped.to_list()] == expected[:120]
        past = client.projects.list(limit=100, start_page=9)
        assert await past.to_list() == []


async def test_users_list_streams_from_the_server() -> None:
    async with (
        Sandbox(projects=0, users=130) as sb,
        await sandbox_client(sb) as client,
        client.users.list(limit=40, prefetch=3) as pager,
    ):
        users = [u async for u in pager]
    assert len(users) == 130 and len({u.id for u in users}) == 130
    assert [u.id for u in users] == sorted(u.id for u in users)


async def _hundred_requests(client: AsyncClient) -> None:
    """The next 100 requests all succeed, 20 at a time, on the pool of 10 (a lost slot would
    leave them waiting for a connection until the timeout)."""
    results: list[Project] = []

    async def one(i: int) -> None:
        results.append(await client.projects.get(1 + i % 50))

    with anyio.fail_after(20):
        for start in range(0, 100, 20):
            async with anyio.create_task_group() as tg:
                for i in range(start, start + 20):
                    tg.start_soon(one, i)
    assert len(results) == 100


class SendsInFlight:
    """The pool's transport, counting the requests inside `send` (each holds, or is about to
    take, a pool slot until its reply is read) and how many were cancelled there."""

    def __init__(self, inner: HttpcoreTransport) -> None:
        self.inner = inner
        self.in_flight = 0
        self.cancelled = 0

    async def send(self, request: Request) -> Response:
        self.in_flight += 1
        try:
            return await self.inner.send(request)
        except anyio.get_cancelled_exc_class():
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.mark.parametrize("form", ["bare", "context"])
async def test_break_and_cancel_lose_no_task_and_no_pool_slot(form: str) -> None:
    transport = HttpcoreTransport(max_connections=10)
    sends = SendsInFlight(transport)
    sandbox = Sandbox(projects=3000, users=0, latency_ms=40)
    async with sandbox as sb, await sandbox_client(sb, transport=sends, timeout=30.0) as client:
        before = len(asyncio.all_tasks())
        for round_ in range(3):
            # break mid-stream, with prefetches in flight (context form) ...
            pager = client.projects.list(limit=50, prefetch=8)
            if form == "context":
                broke = False
                async with pager:
                    async for p in pager:
                        # Break with part of the window on the wire (not a moment chosen by a
                        # sleep: the first item past 120 handed over while a fetch is in flight).
                        if p.id >= 120 + round_ and sends.in_flight:
                            broke = True
                            break
                assert broke, "no item was handed over while a prefetch was in flight"
            else:
                async for p in pager:
                    if p.id >= 120 + round_:
                        break
            assert transport.pool_status()[1] == 0
            assert len(asyncio.all_tasks()) == before
            # ... and cancel mid-stream, while requests are on the wire.
            with anyio.move_on_after(0.1 + 0.03 * round_) as scope:
                pager = client.projects.list(limit=50, prefetch=8)
                if form == "context":
                    async with pager:
                        async for _ in pager:
                            pass
                else:
                    async for _ in pager:
                        pass
            assert scope.cancelled_caught
            assert transport.pool_status()[1] == 0
            assert len(asyncio.all_tasks()) == before
        await _hundred_requests(client)
        assert transport.pool_status()[1] == 0
