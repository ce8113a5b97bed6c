"""Split listings: the plan is a pure function (tables), and N readers, each with its own
client, read the sandbox's listing over HTTP with every id exactly once and nothing else."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from asyncapi_client import AsyncClient, PageSplit, split_pages
from asyncapi_sandbox import Sandbox
from tests.support.sandbox_token import sandbox_client


@pytest.mark.parametrize(
    ("total_pages", "parts", "expected"),
    [
        (0, 1, [range(1, 1)]),
        (0, 3, [range(1, 1)] * 3),
        (1, 1, [range(1, 2)]),
        (1, 3, [range(1, 2), range(2, 2), range(2, 2)]),
        (10, 4, [range(1, 4), range(4, 7), range(7, 9), range(9, 11)]),
        (12, 4, [range(1, 4), range(4, 7), range(7, 10), range(10, 13)]),
        (2000, 4, [range(1, 501), range(501, 1001), range(1001, 1501), range(1501, 2001)]),
    ],
)
def test_split_pages_is_disjoint_and_covers_every_page(
    total_pages: int, parts: int, expected: list[range]
) -> None:
    got = split_pages(total_pages, parts)
    assert list(got) == expected
    covered = [page for part in got for page in part]
    assert covered == list(range(1, total_pages + 1))
    assert max(map(len, got)) - min(map(len, got)) <= 1


@pytest.mark.parametrize(
    ("total_items", "limit", "pages"),
    [(0, 100, 0), (1, 100, 1), (100, 100, 1), (101, 100, 2), (250, 7, 36)],
)
def test_plan_counts_pages_from_the_total(total_items: int, limit: int, pages: int) -> None:
    plan = PageSplit.plan(total_items, limit, 3)
    assert (plan.total_pages, plan.limit, plan.total_items) == (pages, limit, total_items)
    assert sum(map(len, plan.parts)) == pages


@pytest.mark.parametrize("parts", [0, -1, 1.5, True, "4"])
def test_bad_parts_are_refused(parts: object) -> None:
    with pytest.raises(ValueError, match="parts must be an integer >= 1"):
        split_pages(10, parts)  # type: ignore[arg-type]


async def test_bad_page_ranges_are_refused() -> None:
    client = AsyncClient("http://127.0.0.1:9", auth=None)
    with pytest.raises(TypeError, match="pages must be a range"):
        client.projects.list(pages=[1, 2])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="step 1"):
        client.projects.list(pages=range(1, 10, 2))
    with pytest.raises(ValueError, match=">= 1"):
        client.projects.list(pages=range(0, 3))
    with pytest.raises(ValueError, match="not both"):
        client.projects.list(pages=range(2, 3), start_page=2)
    with pytest.raises(ValueError, match="parts must be"):
        await client.projects.split(0)
    with pytest.raises(ValueError, match="limit must be"):
        await client.projects.split(2, limit=101)
    await client.aclose()


def api_requests(stats: dict[str, Any]) -> int:
    return int(stats["requests_total"]) - sum(stats["token_requests"].values())


async def read_part(client: AsyncClient, plan: PageSplit, index: int, prefetch: int) -> list[int]:
    async with client.projects.list(pages=plan.parts[index], limit=plan.limit, prefetch=prefetch) as pager:
        return [project.id async for project in pager]


@pytest.mark.parametrize(
    ("total", "parts", "limit"), [(0, 3, 100), (1, 4, 100), (1000, 4, 100), (1234, 3, 7)]
)
async def test_n_readers_with_their_own_clients_read_every_id_exactly_once(
    total: int, parts: int, limit: int
) -> None:
    async with Sandbox(projects=total, users=0) as sb:
        async with await sandbox_client(sb) as planner:
            plan = await planner.projects.split(parts, limit=limit)
            expected = [p.id for p in await planner.projects.list().to_list()]
        before = api_requests(await sb.stats())
        results: dict[int, list[int]] = {}

        async def worker(index: int) -> None:
            async with await sandbox_client(sb) as client:  # each worker its own client and pool
                results[index] = await read_part(client, plan, index, prefetch=index % 3)

        async with anyio.create_task_group() as tg:
            for index in range(parts):
                tg.start_soon(worker, index)
        union = [pid for index in range(parts) for pid in results[index]]
        assert sorted(union) == sorted(expected) and len(union) == total  # each id once
        assert union == expected  # and part after part, in the listing's order
        # One request per planned page; an empty part asks for nothing.
        assert api_requests(await sb.stats()) - before == plan.total_pages


async def test_a_part_stops_at_its_range_even_when_the_listing_goes_on() -> None:
    async with Sandbox(projects=500, users=0) as sb, await sandbox_client(sb) as client:
        expected = [p.id for p in await client.projects.list().to_list()]
        pager = client.projects.list(pages=range(2, 4), limit=100, prefetch=8)
        assert [p.id for p in await pager.to_list()] == expected[100:300]
        progress: list[tuple[int, int | None]] = []
        pager = client.projects.list(
            pages=range(4, 99), limit=100, prefetch=2, on_progress=lambda d, e: progress.append((d, e))
        )
        assert [p.id for p in await pager.to_list()] == expected[300:]
        assert progress == [(100, 200), (200, 200)]
        assert await client.projects.list(pages=range(3, 3)).to_list() == []
