"""Streaming pagination: `AsyncPager`, an async iterable over every item of a paginated list.

    async with client.projects.list(limit=100, prefetch=8) as pager:   # recommended form
        async for project in pager:
            ...

The pager walks `page=start_page, start_page+1, ...` and stops after the page the server's
`meta.totalPages` names (read from each page as it is handed over) or at the first empty page,
never on a short one. Each reply is checked by `PageRules` (`_page_rules.py`) as it is handed
over: a reply for another page than the one asked for, a page that repeats the one before, or
pages that bring nothing new end the stream with `PaginationError`, so a server that ignores
`page` cannot keep it going. The first page is fetched alone (it tells the total); after it, `prefetch=N` keeps up to N
pages fetched or in flight ahead of the consumer, and pages are still handed over strictly in
order: at most N+1 requests are in flight (the page the consumer waits for and N past it), and
memory is bounded by that window plus the page being read, whatever the total.

Where the fetches run (structured concurrency, no task outlives its scope):

- `async with pager:` owns an anyio task group for the whole block. Prefetches run in it while
  your loop body runs (a true sliding window). Leaving the block, normally, by `break`, by an
  exception or by cancellation, cancels whatever is still in flight and waits for it, so no task
  and no connection is left behind. A failed fetch never cancels your code: its error is stored
  and raised from the iteration when that page's turn comes.
- A bare `async for item in client.projects.list(...)` has no block to own a task group, and an
  async generator that held one across `yield` would be finalised from another task after a
  `break`. So the bare form fetches in rounds: when the next page is not there yet, it fetches
  that page and the `prefetch` after it concurrently inside that one `__anext__` call, returning
  when all of them have landed. Nothing is ever in flight while your loop body runs, so `break`
  and cancellation are safe by construction; it is a little slower than the sliding window when
  your loop body does slow work per item.

Fetch errors are raised when the failing page's turn comes, after every earlier item; the
iteration then ends (pages already prefetched past it are discarded). The error (an `APIError`)
carries the failed page in `exc.page`: `list(..., start_page=exc.page)` resumes the stream where
it stopped, with nothing lost and nothing repeated.

`pages=range(a, b)` reads only pages a..b-1 (one part of a listing split among workers, see
`_page_split`); `progress=` (a `ListingProgress`, see `checkpoints`) says where an iteration
starts and is told, before each page after the first is handed over, that the pages before it
were consumed, so a crashed reader resumes after the last page its code finished with.

The module stays whole (a little over 400 lines): the page stream, its two iterators and the
pager share one prefetch window and one set of ending rules; the rules themselves are pure and
live apart (`_page_rules`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Iterator
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

import anyio
from anyio.abc import TaskGroup

from ._errors import APIError
from ._models import Page
from ._page_rules import Decision, PageRules
from ._page_split import check_pages
from ._task_group import cancel_and_exit

T = TypeVar("T")

MAX_PAGE_LIMIT = 100

FetchPage = Callable[[int, int], Awaitable[Page[T]]]
PageProgress = Callable[[int, "int | None"], Any]
"""`on_progress(done_items, expected_items)`: called after each page is handed over."""


class ListingProgress(Protocol):
    """Where an iteration starts and what it has consumed (a checkpoint; see `checkpoints`)."""

    async def start(self, first: int) -> int | None:
        """The page to start at (`first` when nothing was recorded; None: already finished)."""
        ...

    async def consumed(self, next_page: int, *, finished: bool) -> None:
        """Every page before `next_page` was consumed (`finished`: the iteration is complete)."""
        ...


_log = logging.getLogger("asyncapi_client.pagination")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_list_args(
    *,
    limit: object,
    prefetch: object,
    start_page: object,
    max_items: object,
    on_progress: object,
) -> None:
    """Validate `list(...)` arguments at call time, with messages that say what to fix."""
    if not _is_int(limit) or not 1 <= limit <= MAX_PAGE_LIMIT:  # type: ignore[operator]
        raise ValueError(
            f"limit must be an integer from 1 to {MAX_PAGE_LIMIT} (items per page), got {limit!r}"
        )
    if not _is_int(prefetch) or prefetch < 0:  # type: ignore[operator]
        raise ValueError(f"prefetch must be an integer >= 0 (pages fetched ahead), got {prefetch!r}")
    if not _is_int(start_page) or start_page < 1:  # type: ignore[operator]
        raise ValueError(f"start_page must be an integer >= 1, got {start_page!r}")
    if max_items is not None and (not _is_int(max_items) or max_items < 0):  # type: ignore[operator]
        raise ValueError(f"max_items must be None or an integer >= 0, got {max_items!r}")
    if on_progress is not None and not callable(on_progress):
        raise TypeError(f"on_progress must be a callable (done_items, total_items), got {on_progress!r}")


class _Slot(Generic[T]):
    """One page fetch: its result or error once `done` is set. Done with neither = cancelled."""

    __slots__ = ("number", "done", "page", "error", "scope")

    def __init__(self, number: int) -> None:
        self.number = number
        self.done = anyio.Event()
        self.page: Page[T] | None = None
        self.error: Exception | None = None
        self.scope = anyio.CancelScope()

    @property
    def settled(self) -> bool:
        return self.page is not None or self.error is not None


class _PageStream(Generic[T]):
    """One pass over the pages, in order, with its window of prefetches."""

    def __init__(self, pager: AsyncPager[T]) -> None:
        self._pager = pager
        self._next = pager._start_page  # the page number handed over next
        self._slots: dict[int, _Slot[T]] = {}
        self._last_page: int | None = None  # meta.totalPages of the last page handed over
        self._per_page = pager._limit
        self._items_left = pager._max_items  # None: no cap
        self._done_items = 0
        self._expected: int | None = None
        self._finished = pager._max_items == 0
        self._rules = PageRules()
        self._stop = pager._stop_page  # None: up to meta.totalPages
        self._first = self._next  # the first page this iteration asks for
        self._complete = False  # the last page was handed over (not closed early, not failed)
        self._begun = False  # the progress record was read (the first next_page call)
        self._recorded_end = False
        if self._stop is not None and self._stop <= self._next:
            self._finished = self._complete = True  # an empty range of pages

    # -- the window ----------------------------------------------------------------------

    def _window_end(self, *, waiting: bool) -> int:
        """The last page number that may be fetched now: `prefetch` pages past the page the
        consumer is on (the one it waits for, or the one it is reading)."""
        if self._last_page is None:
            return self._next  # the total is unknown until a page lands: fetch one alone
        on = self._next if waiting else self._next - 1
        end = min(on + self._pager._prefetch, self._last_page)
        if self._items_left is not None:
            end = min(end, self._next + math.ceil(self._items_left / self._per_page) - 1)
        return max(end, self._next)

    def _fill(self, tg: TaskGroup, *, waiting: bool = True) -> None:
        for number in range(self._next, self._window_end(waiting=waiting) + 1):
            slot = self._slots.get(number)
            if slot is None or (slot.done.is_set() and not slot.settled):
                slot = self._slots[number] = _Slot(number)
                tg.start_soon(self._fetch, slot, name=f"asyncapi_client page {number}")

    async def _fetch(self, slot: _Slot[T]) -> None:
        # Never raises (except the task group's own cancellation): a failed page must not cancel
        # the consumer's code, which runs inside the same task group in the `async with` form.
        try:
            with slot.scope:
                slot.page = await self._pager._fetch_page(slot.number, self._pager._limit)
        except Exception as exc:
            slot.error = exc
        finally:
            slot.done.set()

    async def _wait_next(self, tg: TaskGroup, *, eager: bool) -> _Slot[T] | None:
        """The slot of page `self._next`, settled; None if the stream was closed meanwhile.
        Raises only cancellation."""
        while not self._finished:
            slot = self._slots.get(self._next)
            if slot is None or (slot.done.is_set() and not slot.settled):
                self._fill(tg)  # we are about to wait: start the whole window
                slot = self._slots[self._next]
            elif eager and self._pager._prefetch:
                self._fill(tg)
            await slot.done.wait()
            if slot.settled:
                return slot
        return None

    # -- handing over ----------------------------------------------------------------------

    async def next_page(self) -> Page[T]:
        if self._pager._progress is not None:
            await self._record_progress(self._pager._progress)
        if self._finished:
            raise StopAsyncIteration
        tg = self._pager._task_group
        if tg is not None:
            slot = await self._wait_next(tg, eager=True)
        else:
            # Bare form: a task group that lives inside this one call; leaving it waits for the
            # round's prefetches (or cancels them if we are cancelled), so nothing stays behind.
            async with anyio.create_task_group() as round_tg:
                slot = await self._wait_next(round_tg, eager=False)
        if slot is None:
            raise StopAsyncIteration
        self._slots.pop(slot.number, None)
        try:
            if slot.error is not None:
                raise slot.error
            assert slot.page is not None
            page = self._hand_over(slot.page)
        except APIError as exc:
            self.close()
            # Where to resume: start_page=exc.page. Its cause (a transport error, say) is kept.
            raise exc.at_page(slot.number) from exc.__cause__
        except Exception:
            self.close()
            raise
        if tg is not None and self._pager._prefetch and not self._finished:
            self._fill(tg, waiting=False)  # keep `prefetch` pages coming while this one is read
        return page

    async def _record_progress(self, progress: ListingProgress) -> None:
        """Before the first page: where to start. Before each later one (and once at the end):
        every page before `self._next` was consumed by the caller's code."""
        if not self._begun:
            self._begun = True
            start = await progress.start(self._next)
            if start is None or (self._stop is not None and start >= self._stop):
                self._finished = True  # an earlier run read it all
            else:
                self._next = self._first = start
        elif not self._recorded_end and (self._complete or not self._finished):
            self._recorded_end = self._complete
            await progress.consumed(self._next, finished=self._complete)

    def _hand_over(self, page: Page[T]) -> Page[T]:
        pager = self._pager
        meta = page.meta
        number = self._next
        last = self._rules.decide(number, page) is Decision.LAST
        if self._last_page is None:
            self._per_page = max(meta.items_per_page, 1)
            expected = max(0, meta.total_items - (self._first - 1) * self._per_page)
            if self._stop is not None:
                expected = min(expected, (self._stop - self._first) * self._per_page)
            if pager._max_items is not None:
                expected = min(expected, pager._max_items)
            self._expected = expected
        self._last_page = meta.total_pages if self._stop is None else min(meta.total_pages, self._stop - 1)
        pager.total_items = meta.total_items
        pager.total_pages = meta.total_pages
        if self._items_left is not None:
            if len(page.data) >= self._items_left:
                page = Page(page.data[: self._items_left], meta)
                self._finished = True
            self._items_left -= len(page.data)
        self._done_items += len(page.data)
        self._next = number + 1
        if last:
            self._finished = True
        if self._stop is not None and self._next >= self._stop:
            self._finished = True  # the end of this part of a split listing
        self._complete = self._finished
        if self._finished:
            self.close()
        _log.debug("page %d of %d handed over (%d items)", number, meta.total_pages, len(page.data))
        if pager._on_progress is not None:
            pager._on_progress(self._done_items, self._expected)
        return page

    def close(self) -> None:
        """Stop: cancel every fetch still in flight (synchronous, safe from any task)."""
        self._finished = True
        for slot in self._slots.values():
            slot.scope.cancel()
        self._slots.clear()
        self._pager._streams.discard(self)


class _PageIterator(Generic[T]):
    """`pager.pages()`: each `Page` (items and meta), in order."""

    __slots__ = ("_stream",)

    def __init__(self, stream: _PageStream[T]) -> None:
        self._stream = stream

    def __aiter__(self) -> _PageIterator[T]:
        return self

    async def __anext__(self) -> Page[T]:
        return await self._stream.next_page()

    async def aclose(self) -> None:
        self._stream.close()


class _ItemIterator(Generic[T]):
    """`async for item in pager`: the items of every page, in order."""

    __slots__ = ("_stream", "_items")

    def __init__(self, stream: _PageStream[T]) -> None:
        self._stream = stream
        self._items: Iterator[T] = iter(())

    def __aiter__(self) -> _ItemIterator[T]:
        return self

    async def __anext__(self) -> T:
        for item in self._items:
            return item
        while True:
            page = await self._stream.next_page()  # StopAsyncIteration at the end
            if page.data:
                self._items = iter(page.data)
                return next(self._items)

    async def aclose(self) -> None:
        self._stream.close()


class AsyncPager(Generic[T]):
    """Every item of a paginated list, streamed; see the module docstring.

    `async for item in pager` yields items; `pager.pages()` yields each `Page` with its `meta`.
    Each iteration starts afresh at `start_page` (or where `progress` says). `pages=range(a, b)`
    reads pages a..b-1 only (a part of a split listing). `total_items` and `total_pages` are None until
    the first page lands, then the server's latest figures. `on_progress(done, expected)` is
    called after each page is handed over: `done` items so far, `expected` the number this
    iteration should yield (from `meta.totalItems`, `start_page` and `max_items`).
    """

    def __init__(
        self,
        fetch_page: FetchPage[T],
        *,
        limit: int = MAX_PAGE_LIMIT,
        prefetch: int = 0,
        start_page: int = 1,
        max_items: int | None = None,
        on_progress: PageProgress | None = None,
        pages: range | None = None,
        progress: ListingProgress | None = None,
    ) -> None:
        check_list_args(
            limit=limit,
            prefetch=prefetch,
            start_page=start_page,
            max_items=max_items,
            on_progress=on_progress,
        )
        self._stop_page: int | None = None
        if pages is not None:
            check_pages(pages, start_page)
            start_page, self._stop_page = pages.start, pages.stop
        self._progress = progress
        self._fetch_page = fetch_page
        self._limit = limit
        self._prefetch = prefetch
        self._start_page = start_page
        self._max_items = max_items
        self._on_progress = on_progress
        self._task_group: TaskGroup | None = None
        self._entered = False
        self._streams: set[_PageStream[T]] = set()
        self.total_items: int | None = None
        self.total_pages: int | None = None

    def _stream(self) -> _PageStream[T]:
        stream = _PageStream(self)
        self._streams.add(stream)
        return stream

    def __aiter__(self) -> _ItemIterator[T]:
        return _ItemIterator(self._stream())

    def pages(self) -> _PageIterator[T]:
        """Each page (`Page.data`, `Page.meta`), in order; the last is cut to `max_items`."""
        return _PageIterator(self._stream())

    async def to_list(self) -> list[T]:
        """Every item in a list (for small lists: this holds them all in memory)."""
        return [item async for item in self]

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> AsyncPager[T]:
        if self._entered:
            raise RuntimeError("this pager is already in an 'async with' block; make a new one with list()")
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._task_group = tg
        self._entered = True
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        tg = self._task_group
        self._task_group = None
        self._close_streams()
        if tg is None:
            return False
        return await cancel_and_exit(tg, exc_type, exc, tb)  # nothing prefetched is wanted any more

    async def aclose(self) -> None:
        """Cancel every fetch in flight for this pager's iterations (they end, yielding nothing
        more). Leaving `async with` does this too."""
        self._close_streams()

    def _close_streams(self) -> None:
        for stream in list(self._streams):
            stream.close()

    def __repr__(self) -> str:
        return (
            f"<AsyncPager limit={self._limit} prefetch={self._prefetch} start_page={self._start_page} "
            f"{'' if self._stop_page is None else f'stop_page={self._stop_page} '}"
            f"total_items={self.total_items}>"
        )
