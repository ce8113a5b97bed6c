"""`client.projects`: CRUD and listing."""

from __future__ import annotations

from typing import Any

from .._decode import decode_model, decode_page
from .._models import Page, Project
from .._pagination import MAX_PAGE_LIMIT, AsyncPager, PageProgress
from .._retry import RetryPolicy
from ._base import Service

_UNSET: Any = object()


class ProjectsService(Service):
    """`client.projects`: `get()`, `create()`, `update()`, `delete()`, `list_page()` and
    `list()` (streamed)."""

    __slots__ = ()

    async def get(self, project_id: int) -> Project:
        """One project by id; `NotFoundError` when there is none."""
        return decode_model(await self._call("GET", f"/api/v1/projects/{int(project_id)}"), Project)

    async def create(
        self, name: str, description: str | None = None, *, idempotency_key: str | None = None
    ) -> Project:
        """Create a project. A retried create is never applied twice: every attempt carries
        one `Idempotency-Key` (pass your own `idempotency_key` to make a re-run of your code
        idempotent too)."""
        body: dict[str, Any] = {"name": name}
        if description is not None:
            body["description"] = description
        headers = {"idempotency-key": idempotency_key} if idempotency_key else None
        return decode_model(
            await self._call("POST", "/api/v1/projects", json_body=body, headers=headers), Project
        )

    async def update(
        self, project_id: int, *, name: str = _UNSET, description: str | None = _UNSET
    ) -> Project:
        """Change a project's `name` and/or `description` (`None` clears the description);
        the fields not given stay as they are."""
        body: dict[str, Any] = {}
        if name is not _UNSET:
            body["name"] = name
        if description is not _UNSET:
            body["description"] = description
        if not body:
            raise ValueError("projects.update needs at least one of name, description")
        response = await self._call("PATCH", f"/api/v1/projects/{int(project_id)}", json_body=body)
        return decode_model(response, Project)

    async def delete(self, project_id: int) -> None:
        """Delete a project; `NotFoundError` when there is none."""
        await self._call("DELETE", f"/api/v1/projects/{int(project_id)}")

    async def list_page(self, page: int = 1, limit: int = 20) -> Page[Project]:
        """One page of projects (`page` from 1, `limit` from 1 to 100), with the server's
        `meta`."""
        response = await self._call("GET", "/api/v1/projects", params={"page": page, "limit": limit})
        return decode_page(response, Project)

    def list(
        self,
        *,
        limit: int = MAX_PAGE_LIMIT,
        prefetch: int = 0,
        start_page: int = 1,
        max_items: int | None = None,
        on_progress: PageProgress | None = None,
        retry: RetryPolicy | None = None,
    ) -> AsyncPager[Project]:
        """Every project, streamed: `async with client.projects.list(prefetch=8) as pager:
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
