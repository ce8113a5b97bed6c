"""A fake `GET /api/v1/projects` for MockTransport: exact control over pages, timing and faults."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, urlsplit

from asyncapi_client._types import Request, Response
from tests.support.fake_api import FakeAPI

STAMP = "2026-01-01T00:00:00Z"


def project(index: int) -> dict[str, Any]:
    return {
        "id": index + 1,
        "name": f"project {index}",
        "description": None,
        "created_at": STAMP,
        "updated_at": STAMP,
    }


class FakeProjects(FakeAPI):
    """Serves `total` projects. Records the pages asked for, tracks requests in flight and the
    ones cancelled (see `FakeAPI`). `delay` (seconds) holds every reply back, `hold_pages`
    never answer."""

    def __init__(
        self,
        total: int,
        *,
        delay: float = 0.0,
        fail_pages: Iterable[int] = (),
        hold_pages: Iterable[int] = (),
        data_override: Callable[[int, int], list[dict[str, Any]] | None] | None = None,
        total_pages_override: Callable[[int], int | None] | None = None,
        record: bool = True,
    ) -> None:
        super().__init__(delay=delay)
        self.total = total
        self.fail_pages = set(fail_pages)
        self.hold_pages = set(hold_pages)
        self.data_override = data_override
        self.total_pages_override = total_pages_override
        self.record = record
        self.pages: list[int] = []

    async def handler(self, request: Request) -> Response:
        query = parse_qs(urlsplit(request.url).query)
        page = int(query.get("page", ["1"])[0])
        limit = int(query.get("limit", ["20"])[0])
        if self.record:
            self.pages.append(page)
        await self.wait_to_reply(hold=page in self.hold_pages)
        if page in self.fail_pages:
            return Response.json_response(
                500, {"error": {"code": "INTERNAL", "message": "boom", "details": {}}}
            )
        start = (page - 1) * limit
        data = [project(i) for i in range(start, min(start + limit, self.total))]
        if self.data_override is not None:
            override = self.data_override(page, limit)
            if override is not None:
                data = override
        total_pages = -(-self.total // limit)
        if self.total_pages_override is not None:
            override_pages = self.total_pages_override(page)
            if override_pages is not None:
                total_pages = override_pages
        meta = {
            "currentPage": page,
            "totalPages": total_pages,
            "totalItems": self.total,
            "itemsPerPage": limit,
        }
        return Response.json_response(200, {"data": data, "meta": meta})
