"""`client.projects`: CRUD and listing."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from .._decode import decode_model
from .._models import Project
from .._not_given import NOT_GIVEN, NotGiven
from .._raw_response import to_raw_response_wrapper
from ._listing import ListingService


class ProjectsService(ListingService[Project]):
    """`client.projects`: create, read, update, delete and list projects."""

    _path = "/api/v1/projects"
    _model = Project

    @cached_property
    def with_raw_response(self) -> ProjectsWithRawResponse:
        """The same methods, each returning `RawResponse[T]` (the result and its HTTP response):
        `raw = await client.projects.with_raw_response.get(1)`; `raw.parsed` is a `Project`."""
        return ProjectsWithRawResponse(self)

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
        self,
        project_id: int,
        *,
        name: str | NotGiven = NOT_GIVEN,
        description: str | NotGiven | None = NOT_GIVEN,
    ) -> Project:
        """Change the fields given (`description=None` clears the description)."""
        body: dict[str, Any] = {}
        if not isinstance(name, NotGiven):
            body["name"] = name
        if not isinstance(description, NotGiven):
            body["description"] = description
        if not body:
            raise ValueError("projects.update needs at least one of name, description")
        response = await self._call("PATCH", f"/api/v1/projects/{int(project_id)}", json_body=body)
        return decode_model(response, Project)

    async def delete(self, project_id: int) -> None:
        """Delete a project; `NotFoundError` when there is none."""
        await self._call("DELETE", f"/api/v1/projects/{int(project_id)}")


class ProjectsWithRawResponse:
    """`client.projects.with_raw_response`: each method returns `RawResponse[T]`."""

    def __init__(self, projects: ProjectsService) -> None:
        self.get = to_raw_response_wrapper(projects.get)
        self.create = to_raw_response_wrapper(projects.create)
        self.update = to_raw_response_wrapper(projects.update)
        self.delete = to_raw_response_wrapper(projects.delete)
        self.list_page = to_raw_response_wrapper(projects.list_page)
