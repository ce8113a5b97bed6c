"""Pagers against servers whose pages never end: every stream stops, with a typed error or at an
empty page, after a bounded number of requests, in every form (items, `.pages()`, with and
without prefetch, bare `async for` and `async with`). And a stream that fails says which page
failed, and resumes from there with `start_page`.

The peer is a bare ASGI app served by uvicorn (`_hostile.serving`), one behaviour per mode:

- `stuck`: `meta.currentPage` is 1 whatever is asked, `totalPages` 10^12, the same 10 items;
- `empty`: empty `data` on every page, `totalPages` 10^12;
- `repeat`: honest `currentPage`, the same 10 items on every page;
- `cycle`: honest `currentPage`, pages cycling through three sets of items;
- `honest`: 25 items in pages of 10, except that page 3 fails (500) while `fail_page` is set.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

import asyncapi_client as sdk
from tests.support.hostile_servers import Receive, Scope, Send, query, reply, serving

STAMP = "2026-01-01T00:00:00Z"
HUGE = 10**12
PREFETCH = [0, 8]
FORMS = ["items", "pages", "items-in-block", "pages-in-block"]


def _project(pid: int) -> dict[str, Any]:
    return {"id": pid, "name": f"p{pid}", "description": None, "created_at": STAMP, "updated_at": STAMP}


class PagerServer:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.asked: list[int] = []
        self.fail_page: int | None = 3
        self._lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        params = query(scope)
        page, limit = int(params.get("page", "1")), int(params.get("limit", "10"))
        with self._lock:
            self.asked.append(page)
        current, total_pages, total_items = page, HUGE, HUGE * limit
        if self.mode == "stuck":
            current, ids = 1, range(1, 11)
        elif self.mode == "empty":
            ids = range(0)
        elif self.mode == "repeat":
            ids = range(1, 11)
        elif self.mode == "cycle":
            start = ((page - 1) % 3) * 10 + 1
            ids = range(start, start + 10)
        else:
            if page == self.fail_page:
                await reply(send, 500, {"error": {"code": "INTERNAL", "message": "page 3 is down"}})
                return
            total_items, total_pages = 25, 3
            ids = range((page - 1) * limit + 1, min(page * limit, 25) + 1)
        meta = {
            "currentPage": current,
            "totalPages": total_pages,
            "totalItems": total_items,
            "itemsPerPage": limit,
        }
        await reply(send, 200, {"data": [_project(i) for i in ids], "meta": meta})


async def _drain(pager: sdk.AsyncPager[sdk.Project], form: str, seen: list[int]) -> None:
    """Walk `pager` in `form`, recording every item id handed over."""

    async def walk() -> None:
        if form.startswith("pages"):
            async for page in pager.pages():
                seen.extend(p.id for p in page.data)
        else:
            async for project in pager:
                seen.append(project.id)

    if form.endswith("in-block"):
        async with pager:
            await walk()
    else:
        await walk()


def _client(url: str) -> sdk.AsyncClient:
    return sdk.AsyncClient(url, retry=sdk.RetryPolicy(max_attempts=1), timeout=sdk.Timeout(total=30))


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("prefetch", PREFETCH)
async def test_a_server_that_answers_page_1_to_every_page_is_stopped_at_page_2(
    prefetch: int, form: str
) -> None:
    server = PagerServer("stuck")
    seen: list[int] = []
    with serving(server) as url:
        async with _client(url) as client:
            with pytest.raises(sdk.PaginationError) as info:
                await _drain(client.projects.list(limit=10, prefetch=prefetch), form, seen)
    assert info.value.reason == "page_mismatch" and info.value.page == 2
    assert "asked for page 2, the server answered page 1" in str(info.value)
    assert seen == list(range(1, 11))  # page 1, once
    assert len(server.asked) <= 2 + prefetch  # page 1 alone, then at most the prefetch window


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("prefetch", PREFETCH)
async def test_an_empty_page_ends_the_stream_whatever_total_pages_claims(prefetch: int, form: str) -> None:
    server = PagerServer("empty")
    seen: list[int] = []
    with serving(server) as url:
        async with _client(url) as client:
            pager = client.projects.list(limit=10, prefetch=prefetch)
            await _drain(pager, form, seen)
    assert seen == []
    assert server.asked == [1]  # the first page is fetched alone; it is empty, so that is all
    assert pager.total_pages == HUGE


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("prefetch", PREFETCH)
async def test_a_page_repeating_the_one_before_ends_the_stream(prefetch: int, form: str) -> None:
    server = PagerServer("repeat")
    seen: list[int] = []
    with serving(server) as url:
        async with _client(url) as client:
            with pytest.raises(sdk.PaginationError) as info:
                await _drain(client.projects.list(limit=10, prefetch=prefetch), form, seen)
    assert info.value.reason == "repeated_page" and info.value.page == 2
    assert seen == list(range(1, 11))
    assert len(server.asked) <= 2 + prefetch


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("prefetch", PREFETCH)
async def test_pages_that_make_no_progress_end_the_stream_within_a_bound(prefetch: int, form: str) -> None:
    server = PagerServer("cycle")
    seen: list[int] = []
    with serving(server) as url:
        async with _client(url) as client:
            with pytest.raises(sdk.PaginationError) as info:
                await _drain(client.projects.list(limit=10, prefetch=prefetch), form, seen)
    # Pages 1-3 are new; 4 and 5 bring nothing new and are handed over; 6 is one too many.
    assert info.value.reason == "no_progress" and info.value.page == 6
    assert seen == [*range(1, 31), *range(1, 21)]
    assert len(server.asked) <= 6 + prefetch


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("prefetch", PREFETCH)
async def test_a_failed_page_is_named_and_the_stream_resumes_there(prefetch: int, form: str) -> None:
    server = PagerServer("honest")
    seen: list[int] = []
    with serving(server) as url:
        async with _client(url) as client:
            with pytest.raises(sdk.InternalServerError) as info:
                await _drain(client.projects.list(limit=10, prefetch=prefetch), form, seen)
            error = info.value
            assert error.page == 3 and "resume with start_page=3" in str(error)
            assert seen == list(range(1, 21))  # every item before the failed page
            server.fail_page = None
            await _drain(client.projects.list(limit=10, prefetch=prefetch, start_page=error.page), form, seen)
    assert seen == list(range(1, 26))  # nothing lost, nothing twice


async def test_the_failed_page_survives_a_pickle() -> None:
    import pickle

    error = sdk.InternalServerError("down", status_code=500)
    error.page = 7
    copy = pickle.loads(pickle.dumps(error))
    assert copy.page == 7 and "start_page=7" in str(copy)
