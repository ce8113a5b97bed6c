"""What `client.projects` and `client.users` share: a paginated list endpoint, read one page at
a time (`list_page`), streamed whole or in part (`list`, an `AsyncPager`), or planned for N
workers (`split`), with one default page size."""

from __future__ import annotations

from typing import TYPE_CHECKING, Generic, TypeVar

from .._decode import decode_page
from .._models import Page
from .._page_split import PageSplit
from .._pagination import MAX_PAGE_LIMIT, AsyncPager, PageProgress
from .._retry import RetryPolicy
from ._base import Service

if TYPE_CHECKING:
    from ..checkpoints import CheckpointStore

T = TypeVar("T")

DEFAULT_PAGE_LIMIT = MAX_PAGE_LIMIT
"""Items per page unless `limit=` says otherwise: the server's largest page, so streaming a list
takes the fewest requests (the API's own default, 20, would take five times as many)."""


class ListingService(Service, Generic[T]):
    """A service over a paginated list: `_path` is its endpoint, `_model` its item type."""

    _path: str
    _model: type[T]

    async def list_page(self, page: int = 1, limit: int = DEFAULT_PAGE_LIMIT) -> Page[T]:
        """One page: `Page.data` holds up to `limit` (1..100) items, `Page.meta` the totals."""
        if type(page) is int and type(limit) is int:
            # A listing's pages are its hot path: whole numbers go straight into the path, as
            # `query_string` would write them, without a params dict to walk (0.7 us a page),
            # and the request is built and sent as `_call` would, without its frame.
            client = self._client
            response = await client._sent(
                client._bare_request("GET", f"{self._path}?page={page}&limit={limit}"), True
            )
        else:
            response = await self._call("GET", self._path, params={"page": page, "limit": limit})
        return decode_page(response, self._model)

    def list(
        self,
        *,
        limit: int = DEFAULT_PAGE_LIMIT,
        prefetch: int = 0,
        start_page: int = 1,
        max_items: int | None = None,
        on_progress: PageProgress | None = None,
        retry: RetryPolicy | None = None,
        pages: range | None = None,
        job_id: str | None = None,
        checkpoint: CheckpointStore | None = None,
    ) -> AsyncPager[T]:
        """Every item, streamed: `async with client.projects.list(prefetch=8) as pager:
        async for project in pager: ...` (see `AsyncPager` for `limit`, `prefetch`,
        `start_page`, `max_items`, `on_progress`). `retry` is a `RetryPolicy` for this pager's
        page fetches (default: the client's). `list_page()` fetches one page.

        `pages=range(a, b)` reads pages a..b-1 only (a part of `split()`'s plan). With
        `checkpoint=` (a `CheckpointStore`) and `job_id=` (the same on every run), the pager
        records the pages your code has finished with and a later run resumes after them."""
        progress = None
        if checkpoint is not None:
            from ..checkpoints._progress import ListingCheckpoint, check_job_id

            span = "all" if pages is None else f"{pages.start}-{pages.stop}"
            key = f"list:{check_job_id(job_id, 'list')}:{self._path}:{span}"
            progress = ListingCheckpoint(checkpoint, key, limit=limit, pages=pages)
        elif job_id is not None:
            raise ValueError("job_id names a listing's checkpoint: give checkpoint=... with it")
        return AsyncPager(
            self._with_retry(retry).list_page,
            limit=limit,
            prefetch=prefetch,
            start_page=start_page,
            max_items=max_items,
            on_progress=on_progress,
            pages=pages,
            progress=progress,
        )

    async def split(self, parts: int, *, limit: int = DEFAULT_PAGE_LIMIT) -> PageSplit:
        """Plan this listing for `parts` workers: `plan.parts[i]` is worker i's page range, read
        with `list(pages=plan.parts[i], limit=plan.limit)`; together they cover every page once.
        Costs one request for one item (its `meta.totalItems`). See `_page_split` for what
        "every item exactly once" holds under."""
        PageSplit.plan(0, 1, parts)  # check parts before any request
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_LIMIT:
            raise ValueError(f"limit must be an integer from 1 to {MAX_PAGE_LIMIT}, got {limit!r}")
        first = await self.list_page(1, 1)
        return PageSplit.plan(first.meta.total_items, limit, parts)
