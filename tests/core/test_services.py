"""The services on the client: wired as cached properties, typed raw responses, NOT_GIVEN.

The raw-response tests run against Debian's nginx serving canned API replies, over the default
transport: the status, the headers and the body are a real server's.
"""

from __future__ import annotations

import copy
import json
import pickle
import pydoc
from collections.abc import Iterator

import anyio
import pytest

import asyncapi_client as sdk
from asyncapi_client import NOT_GIVEN, MockTransport, NotGiven, Request, Response
from tests.support.resources import PROJECT
from tests.support.services import running_nginx

pytestmark = pytest.mark.anyio

PAGE = {
    "data": [PROJECT],
    "meta": {"currentPage": 2, "totalPages": 3, "totalItems": 21, "itemsPerPage": 10},
}


def _location(path: str, status: int, body: object, request_id: str) -> str:
    text = json.dumps(body).replace("'", "\\'")
    return f"""
        location = {path} {{
            default_type application/json;
            add_header X-Request-Id {request_id} always;
            add_header X-RateLimit-Limit 10 always;
            add_header X-RateLimit-Remaining 9 always;
            return {status} '{text}';
        }}"""


@pytest.fixture(scope="module")
def nginx_api() -> Iterator[str]:
    error = {"error": {"code": "NOT_FOUND", "message": "project 8 was not found"}}
    server = (
        _location("/api/v1/projects/7", 200, PROJECT, "req-get")
        + _location("/api/v1/projects", 200, PAGE, "req-page")
        + _location("/api/v1/projects/8", 404, error, "req-404")
    )
    with running_nginx(server) as port:
        yield f"http://127.0.0.1:{port}"


async def test_raw_response_from_nginx_has_the_parsed_model_and_the_headers(nginx_api: str) -> None:
    async with sdk.AsyncClient(nginx_api) as client:
        raw = await client.projects.with_raw_response.get(7)
        assert isinstance(raw.parsed, sdk.Project)
        assert (raw.parsed.id, raw.parsed.name) == (7, "Apollo")
        assert raw.status_code == 200
        assert raw.request_id == "req-get"
        assert raw.rate_limit == {"x-ratelimit-limit": "10", "x-ratelimit-remaining": "9"}
        assert raw.response.request is not None and raw.response.request.url.endswith("/api/v1/projects/7")

        page = await client.projects.with_raw_response.list_page(2, 10)
        assert page.request_id == "req-page"
        assert page.parsed.meta.total_items == 21 and page.parsed.data[0].id == 7

        # A non-2xx still raises the typed error, raw or not.
        with pytest.raises(sdk.NotFoundError) as caught:
            await client.projects.with_raw_response.get(8)
        assert caught.value.request_id == "req-404"


async def test_concurrent_raw_calls_each_get_their_own_response(nginx_api: str) -> None:
    """The sink is per task: raw and plain calls running together never see each other's reply."""
    async with sdk.AsyncClient(nginx_api) as client:
        seen: list[str | None] = []

        async def raw_get() -> None:
            seen.append((await client.projects.with_raw_response.get(7)).request_id)

        async def raw_page() -> None:
            seen.append((await client.projects.with_raw_response.list_page(2, 10)).request_id)

        async with anyio.create_task_group() as tg:
            for _ in range(10):
                tg.start_soon(raw_get)
                tg.start_soon(raw_page)
                tg.start_soon(client.projects.get, 7)
        assert sorted(seen) == ["req-get"] * 10 + ["req-page"] * 10


def test_raw_wrappers_keep_the_method_name_and_docstring() -> None:
    client = sdk.AsyncClient("https://api.example.com", transport=MockTransport(lambda r: Response(204)))
    wrapped = client.projects.with_raw_response.update
    assert wrapped.__name__ == "update"
    assert wrapped.__doc__ == sdk.AsyncClient.projects.func(client).update.__doc__


def test_services_are_cached_per_view_and_bound_to_it() -> None:
    client = sdk.AsyncClient("https://api.example.com", transport=MockTransport(lambda r: Response(204)))
    assert client.projects is client.projects
    assert client.projects.with_raw_response is client.projects.with_raw_response
    view = client.with_options(timeout=5)
    assert view.projects is not client.projects
    assert view.projects._client is view and client.projects._client is client
    assert isinstance(client.users, sdk.services.UsersService)
    assert isinstance(client.webhooks, sdk.services.WebhooksService)


def test_help_shows_the_services_with_their_types() -> None:
    text = pydoc.render_doc(sdk.AsyncClient, renderer=pydoc.plaintext)
    assert "_ServiceAttr" not in text
    for attribute, service in (
        ("users", "UsersService"),
        ("projects", "ProjectsService"),
        ("webhooks", "WebhooksService"),
    ):
        start = text.index(f" {attribute} ")
        assert service in text[start : start + 200], text[start : start + 200]


def test_not_given_is_one_falsy_value_that_survives_copy_and_pickle() -> None:
    assert not NOT_GIVEN
    assert repr(NOT_GIVEN) == "NOT_GIVEN"
    assert NotGiven() is NOT_GIVEN
    assert copy.deepcopy(NOT_GIVEN) is NOT_GIVEN
    assert pickle.loads(pickle.dumps(NOT_GIVEN)) is NOT_GIVEN


async def test_update_sends_only_the_fields_given_and_none_clears() -> None:
    sent: list[object] = []

    def handler(request: Request) -> Response:
        sent.append(json.loads(request.content or b"null"))
        return Response.json_response(200, PROJECT)

    async with sdk.AsyncClient("https://api.example.com", transport=MockTransport(handler)) as client:
        await client.projects.update(7, name="Apollo")
        await client.projects.update(7, description=None)
        await client.projects.update(7, name="A", description="d")
        with pytest.raises(ValueError, match="at least one"):
            await client.projects.update(7)
        view = client.with_options(auth=NOT_GIVEN, timeout=NOT_GIVEN)
        assert view._auth is client._auth and view._timeout is client._timeout
    assert sent == [{"name": "Apollo"}, {"description": None}, {"name": "A", "description": "d"}]


async def test_projects_and_users_share_one_default_page_limit() -> None:
    limits: list[str] = []

    def handler(request: Request) -> Response:
        limits.append(request.url.split("limit=")[1])
        return Response.json_response(
            200, {"data": [], "meta": PAGE["meta"] | {"currentPage": 1, "totalPages": 1}}
        )

    async with sdk.AsyncClient("https://api.example.com", transport=MockTransport(handler)) as client:
        await client.projects.list_page()
        await client.users.list_page()
        await client.projects.list().to_list()
        await client.users.list().to_list()
    assert limits == ["100"] * 4


async def test_list_page_writes_its_query_as_build_request_would() -> None:
    # Whole numbers take list_page's own short path; anything else goes through params. Both
    # must send what `build_request(params=...)` sends for the same values.
    urls: list[str] = []

    def handler(request: Request) -> Response:
        urls.append(request.url)
        return Response.json_response(200, {"data": [], "meta": PAGE["meta"]})

    async with sdk.AsyncClient("https://api.example.com", transport=MockTransport(handler)) as client:
        cases: list[tuple[object, object]] = [(3, 25), (True, 10), ("2", 5.0)]
        for page, limit in cases:
            await client.projects.list_page(page, limit)  # type: ignore[arg-type]
        expected = [
            client.build_request("GET", "/api/v1/projects", params={"page": page, "limit": limit}).url
            for page, limit in cases
        ]
    assert urls == expected
    assert urls[0] == "https://api.example.com/api/v1/projects?page=3&limit=25"
    assert urls[1].endswith("?page=True&limit=10")
