"""What `client.projects` and `client.users` share: a paginated list endpoint, read one page at
a time (`list_page`) or streamed whole (`list`, an `AsyncPager`), with one default page size."""

from __future__ import annotations

from typing import Generic, TypeVar

from .._decode import decode_page
from .._models import Page
from .._pagination import MAX_PAGE_LIMIT, AsyncPager, PageProgress
from .._retry import RetryPolicy
from ._base import Service

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
    ) -> AsyncPager[T]:
        """Every item, streamed: `async with client.projects.list(prefetch=8) as pager:
        async for project in pager: ...` (see `AsyncPager` for `limit`, `prefetch`,
        `start_page`, `max_items`, `on_progress`). `retry` is a `RetryPolicy` for this pager's
        page fetches (default: the client's). `list_page()` fetches one page."""
        return AsyncPager(
            self._with_retry(retry).list_page,
            limit=limit,
            prefetch=prefetch,
            start_page=start_page,
            max_items=max_items,
            on_progress=on_progress,
        )
