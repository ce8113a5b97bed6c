"""The pager against MockTransport: exact edges, ordering, windows, errors, cleanup."""

from __future__ import annotations

import asyncio
import math
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from asyncapi_client import AsyncPager, InternalServerError, Page, PageMeta, Project, Request, Response
from tests.support.fake_projects import FakeProjects, project
from tests.support.virtual_time import virtual_time

FORMS = ["bare", "context"]


async def collect(pager: AsyncPager[Project], form: str) -> list[Project]:
    if form == "context":
        async with pager:
            return [item async for item in pager]
    return [item async for item in pager]


async def collect_pages(pager: AsyncPager[Project], form: str) -> list[Page[Project]]:
    if form == "context":
        async with pager:
            return [page async for page in pager.pages()]
    return [page async for page in pager.pages()]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("prefetch", [0, 1, 3, 8])
@pytest.mark.parametrize("total", [0, 1, 99, 100, 101, 250, 1000])
async def test_every_item_once_in_order(total: int, prefetch: int, form: str) -> None:
    fake = FakeProjects(total)
    async with fake.client() as client:
        items = await collect(client.projects.list(limit=100, prefetch=prefetch), form)
    assert [p.id for p in items] == [i + 1 for i in range(total)]
    # Stops on meta.totalPages: never asks past it (one request for an empty list).
    assert sorted(fake.pages) == list(range(1, max(1, math.ceil(total / 100)) + 1))


@pytest.mark.parametrize("form", FORMS)
async def test_pages_carry_meta_and_total_is_known_after_the_first(form: str) -> None:
    fake = FakeProjects(250)
    async with fake.client() as client:
        pager = client.projects.list(limit=100, prefetch=2)
        assert pager.total_items is None and pager.total_pages is None
        pages = await collect_pages(pager, form)
        assert pager.total_items == 250 and pager.total_pages == 3
    assert [p.meta.current_page for p in pages] == [1, 2, 3]
    assert [len(p.data) for p in pages] == [100, 100, 50]
    assert all(p.meta.total_items == 250 for p in pages)


async def test_empty_list_yields_one_empty_page_with_its_meta() -> None:
    fake = FakeProjects(0)
    async with fake.client() as client:
        pages = [page async for page in client.projects.list(prefetch=4).pages()]
    assert len(pages) == 1 and pages[0].data == [] and pages[0].meta.total_pages == 0


@pytest.mark.parametrize("prefetch", [0, 4])
async def test_a_short_page_is_not_the_end_and_an_empty_one_is(prefetch: int) -> None:
    # Page 2 comes back short (items deleted meanwhile) and page 4 empty, though meta says 5
    # pages: with offset pagination nothing can follow an empty page.
    def data(page: int, limit: int) -> list[dict[str, Any]] | None:
        if page == 2:
            return [project(100)]
        if page == 4:
            return []
        return None

    fake = FakeProjects(500, data_override=data)
    async with fake.client() as client, client.projects.list(limit=100, prefetch=prefetch) as pager:
        ids = [p.id async for p in pager]
    assert ids == [*range(1, 101), 101, *range(201, 301)]
    assert sorted(set(fake.pages))[:4] == [1, 2, 3, 4]
    if prefetch == 0:
        assert fake.pages == [1, 2, 3, 4]  # nothing asked past the empty page


async def test_total_pages_shrinking_midway_stops_there() -> None:
    # The list shrinks while we read: page 2 says there are only 2 pages now.
    fake = FakeProjects(500, total_pages_override=lambda page: 2 if page >= 2 else None)
    async with fake.client() as client, client.projects.list(limit=100, prefetch=4) as pager:
        ids = [p.id async for p in pager]
    assert ids == list(range(1, 201))


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("prefetch", [0, 5])
async def test_resume_from_a_page(prefetch: int, form: str) -> None:
    fake = FakeProjects(1000)
    progress: list[tuple[int, int | None]] = []
    async with fake.client() as client:
        pager = client.projects.list(
            limit=100,
            prefetch=prefetch,
            start_page=8,
            on_progress=lambda done, total: progress.append((done, total)),
        )
        items = await collect(pager, form)
    assert [p.id for p in items] == list(range(701, 1001))
    assert min(fake.pages) == 8
    assert progress == [(100, 300), (200, 300), (300, 300)]


async def test_start_page_past_the_end_yields_nothing() -> None:
    fake = FakeProjects(150)
    async with fake.client() as client:
        items = [p async for p in client.projects.list(limit=100, start_page=5, prefetch=3)]
    assert items == [] and fake.pages == [5]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("prefetch", [0, 8])
async def test_max_items_stops_early_and_fetches_only_what_it_needs(prefetch: int, form: str) -> None:
    fake = FakeProjects(10_000)
    progress: list[tuple[int, int | None]] = []
    async with fake.client() as client:
        pager = client.projects.list(
            limit=100, prefetch=prefetch, max_items=150, on_progress=lambda d, t: progress.append((d, t))
        )
        items = await collect(pager, form)
    assert [p.id for p in items] == list(range(1, 151))
    assert sorted(fake.pages) == [1, 2]
    assert progress == [(100, 150), (150, 150)]


async def test_max_items_cuts_the_last_page_and_zero_fetches_nothing() -> None:
    fake = FakeProjects(1000)
    async with fake.client() as client:
        pages = [page async for page in client.projects.list(limit=30, max_items=70).pages()]
        assert [len(p.data) for p in pages] == [30, 30, 10]
        assert [p async for p in client.projects.list(max_items=0)] == []
    assert sorted(fake.pages) == [1, 2, 3]


async def test_progress_reports_done_and_total() -> None:
    fake = FakeProjects(250)
    seen: list[tuple[int, int | None]] = []
    async with fake.client() as client:
        async for _ in client.projects.list(limit=100, on_progress=lambda d, t: seen.append((d, t))):
            pass
    assert seen == [(100, 250), (200, 250), (250, 250)]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": True}, "limit"),
        ({"limit": 1.5}, "limit"),
        ({"prefetch": -1}, "prefetch"),
        ({"start_page": 0}, "start_page"),
        ({"max_items": -1}, "max_items"),
    ],
)
async def test_arguments_are_checked_at_call_time(kwargs: dict[str, Any], message: str) -> None:
    fake = FakeProjects(10)
    async with fake.client() as client:
        with pytest.raises(ValueError, match=message):
            client.projects.list(**kwargs)
        with pytest.raises(ValueError, match=message):
            client.users.list(**kwargs)
        with pytest.raises(TypeError, match="on_progress"):
            client.projects.list(on_progress=42)  # type: ignore[arg-type]
    assert fake.pages == []


async def test_list_page_still_fetches_one_page() -> None:
    fake = FakeProjects(250)
    async with fake.client() as client:
        page = await client.projects.list_page(2, 100)
    assert page.meta.current_page == 2 and [p.id for p in page.data] == list(range(101, 201))


async def test_prefetch_window_is_bounded_and_the_first_page_goes_alone() -> None:
    # Virtual time: every page asked for at one instant is in flight before any is answered,
    # however loaded the machine (in real time a 2 ms reply could come before the last left).
    fake = FakeProjects(5000, delay=0.002)
    with virtual_time():
        async with fake.client() as client, client.projects.list(limit=100, prefetch=6) as pager:
            count = 0
            async for _ in pager:
                if count == 0:
                    # Only page 1 was asked for before the total was known.
                    assert fake.pages[0] == 1
                count += 1
    assert count == 5000
    assert fake.max_in_flight == 7  # the page waited for and 6 past it
    assert fake.pages[:2] == [1, 2]


async def test_bare_form_prefetches_in_rounds_within_the_bound() -> None:
    fake = FakeProjects(2000, delay=0.002)
    with virtual_time():  # (as above)
        async with fake.client() as client:
            count = sum([1 async for _ in client.projects.list(limit=100, prefetch=4)])
    assert count == 2000
    assert fake.max_in_flight == 5  # rounds of the page waited for and 4 past it


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("prefetch", [0, 3])
async def test_a_failed_page_raises_in_turn_after_every_earlier_item(prefetch: int, form: str) -> None:
    fake = FakeProjects(1000, fail_pages=[3])
    seen: list[int] = []
    async with fake.client() as client:
        pager = client.projects.list(limit=100, prefetch=prefetch)
        with pytest.raises(InternalServerError):
            if form == "context":
                async with pager:
                    async for p in pager:
                        seen.append(p.id)
            else:
                async for p in pager:
                    seen.append(p.id)
    assert seen == list(range(1, 201))


async def test_the_blocks_own_exception_comes_out_unwrapped() -> None:
    fake = FakeProjects(1000, delay=0.001)
    async with fake.client() as client:
        with pytest.raises(KeyError):
            async with client.projects.list(limit=100, prefetch=4) as pager:
                async for _ in pager:
                    raise KeyError("mine")
    assert fake.in_flight == 0


async def _settle() -> None:
    for _ in range(3):
        await asyncio.sleep(0)


@pytest.mark.parametrize("form", FORMS)
async def test_break_cancels_prefetches_and_leaves_no_task(form: str) -> None:
    # The context form keeps fetching while the loop body runs: page 4 never answers, so it is
    # in flight at the break. The bare form fetches rounds that settle inside __anext__.
    fake = FakeProjects(10_000, hold_pages=[4]) if form == "context" else FakeProjects(10_000, delay=0.01)
    async with fake.client() as client:
        before = len(asyncio.all_tasks())
        pager = client.projects.list(limit=100, prefetch=8)
        if form == "context":
            async with pager:
                async for p in pager:
                    if p.id == 150:
                        break
                # Inside the block the window keeps going; leaving it cancels what is in flight.
                await fake.held.wait()
                assert fake.in_flight > 0
        else:
            async for p in pager:
                if p.id == 150:
                    break
        # Nothing in flight, nothing left running, right after the loop (no sleep needed).
        assert fake.in_flight == 0
        assert len(asyncio.all_tasks()) == before
    if form == "context":
        assert fake.cancelled > 0
    else:
        assert fake.cancelled == 0  # the bare form never has anything in flight after __anext__


@pytest.mark.parametrize("form", FORMS)
async def test_cancelling_mid_stream_cancels_fetches_and_leaves_no_task(form: str) -> None:
    fake = FakeProjects(10_000, hold_pages=[3])
    got: list[int] = []
    async with fake.client() as client:
        before = len(asyncio.all_tasks())

        async def consume() -> None:
            pager = client.projects.list(limit=100, prefetch=4)
            if form == "context":
                async with pager:
                    async for p in pager:
                        got.append(p.id)
            else:
                async for p in pager:
                    got.append(p.id)

        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:
                tg.start_soon(consume)
                await fake.held.wait()  # page 3 is in flight and will never answer
                # The context form hands over pages 1 and 2 while 3 hangs; the bare form's round
                # (pages 2-6) waits for all of its pages, so only page 1 gets through.
                while len(got) < (200 if form == "context" else 100):  # noqa: ASYNC110
                    await anyio.sleep(0.001)
                scope.cancel()
        assert scope.cancelled_caught
        await _settle()
        assert fake.in_flight == 0
        assert fake.cancelled >= 1
        assert len(asyncio.all_tasks()) == before
    assert got == list(range(1, 201 if form == "context" else 101))


@pytest.mark.parametrize("form", FORMS)
async def test_a_timed_out_wait_can_be_resumed_without_loss(form: str) -> None:
    # A caller whose wait for the next item times out, then carries on, gets every item once.
    # Page 2 is held back until after the timeout, so the wait does time out on any machine.
    release = anyio.Event()

    class Page2Held(FakeProjects):
        async def handler(self, request: Request) -> Response:
            if parse_qs(urlsplit(request.url).query).get("page") == ["2"]:
                await release.wait()
            return await super().handler(request)

    fake = Page2Held(300)
    async with fake.client() as client:
        pager = client.projects.list(limit=100, prefetch=2)
        if form == "context":
            await pager.__aenter__()
        it = aiter(pager)
        ids = [(await anext(it)).id]
        for _ in range(99):
            ids.append((await anext(it)).id)
        with anyio.move_on_after(0.005) as scope:
            ids.append((await anext(it)).id)  # page 2 is not there yet
        assert scope.cancelled_caught
        release.set()
        ids.extend([p.id async for p in it])
        if form == "context":
            await pager.__aexit__(None, None, None)
    assert ids == list(range(1, 301))


async def test_aclose_stops_an_iteration() -> None:
    fake = FakeProjects(1000)
    async with fake.client() as client:
        pager = client.projects.list(limit=100, prefetch=3)
        it = aiter(pager)
        assert (await anext(it)).id == 1
        await pager.aclose()
        # The rest of page 1 was already handed over; after it the stream ends.
        rest = [p.id async for p in it]
        assert rest == list(range(2, 101))


async def test_pager_reiterates_from_start_page() -> None:
    fake = FakeProjects(120)
    async with fake.client() as client:
        pager = client.projects.list(limit=50)
        first = [p.id async for p in pager]
        second = await pager.to_list()
    assert first == [p.id for p in second] == list(range(1, 121))


async def test_context_cannot_be_entered_twice() -> None:
    fake = FakeProjects(10)
    async with fake.client() as client:
        pager = client.projects.list()
        async with pager:
            with pytest.raises(RuntimeError):
                await pager.__aenter__()


def test_runs_on_trio() -> None:
    fake = FakeProjects(450)

    async def main() -> list[int]:
        async with fake.client() as client, client.projects.list(limit=100, prefetch=3) as pager:
            return [p.id async for p in pager]

    assert anyio.run(main, backend="trio") == list(range(1, 451))


async def test_users_list_streams_users() -> None:
    from asyncapi_client import MockTransport, Response

    users = [
        {"id": i, "name": f"u{i}", "email": f"u{i}@x.io", "created_at": "2026-01-01T00:00:00Z"}
        for i in range(1, 31)
    ]

    def handler(request: Any) -> Response:
        page = int(request.url.split("page=")[1].split("&")[0])
        meta = {"currentPage": page, "totalPages": 3, "totalItems": 30, "itemsPerPage": 10}
        return Response.json_response(200, {"data": users[(page - 1) * 10 : page * 10], "meta": meta})

    from asyncapi_client import AsyncClient, BearerToken

    client = AsyncClient("https://api.test", auth=BearerToken("t"), transport=MockTransport(handler))
    async with client as c, c.users.list(limit=10, prefetch=2) as pager:
        emails = [u.email async for u in pager]
    assert emails == [f"u{i}@x.io" for i in range(1, 31)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    total=st.integers(0, 620),
    limit=st.integers(1, 100),
    prefetch=st.integers(0, 9),
    start_page=st.integers(1, 12),
    max_items=st.none() | st.integers(0, 700),
    form=st.sampled_from(FORMS),
)
def test_any_shape_yields_exactly_the_expected_slice(
    total: int, limit: int, prefetch: int, start_page: int, max_items: int | None, form: str
) -> None:
    fake = FakeProjects(total)

    async def main() -> list[int]:
        async with fake.client() as client:
            pager = client.projects.list(
                limit=limit, prefetch=prefetch, start_page=start_page, max_items=max_items
            )
            return [p.id for p in await collect(pager, form)]

    expected = list(range((start_page - 1) * limit + 1, total + 1))
    if max_items is not None:
        expected = expected[:max_items]
    assert anyio.run(main) == expected
    last = max(1, math.ceil(total / limit))
    if max_items != 0:
        # Never a page past the end (beyond the first page asked for), never a page twice.
        assert len(fake.pages) == len(set(fake.pages))
        assert max(fake.pages) <= max(last, start_page)


async def test_prefetch_one_already_overlaps_requests_for_a_fast_consumer() -> None:
    fake = FakeProjects(1000, delay=0.002)
    async with fake.client() as client, client.projects.list(limit=100, prefetch=1) as pager:
        assert len([p async for p in pager]) == 1000
    assert fake.max_in_flight == 2
    fake = FakeProjects(1000, delay=0.002)
    async with fake.client() as client, client.projects.list(limit=100, prefetch=0) as pager:
        assert len([p async for p in pager]) == 1000
    assert fake.max_in_flight == 1


async def test_the_failed_page_is_on_the_pagers_own_copy_of_a_shared_error() -> None:
    # One error object raised to several callers (as a failed token refresh is): each pager's
    # copy names its own page, and the object the others see names none.
    shared = InternalServerError("token endpoint down", status_code=503)

    def failing_from(first_bad: int) -> Any:
        async def fetch(number: int, limit: int) -> Page[int]:
            if number >= first_bad:
                raise shared
            meta = PageMeta(current_page=number, total_pages=9, total_items=90, items_per_page=10)
            return Page(list(range(number * 10, number * 10 + 10)), meta)

        return fetch

    errors = []
    for first_bad in (3, 7):
        with pytest.raises(InternalServerError) as info:
            _ = [item async for item in AsyncPager(failing_from(first_bad), limit=10)]
        errors.append(info.value)
    assert [e.page for e in errors] == [3, 7]
    assert shared.page is None and "start_page" not in str(shared)
    assert all(e is not shared and e.status_code == 503 for e in errors)
