"""Replies that are not the JSON they should be become ResponseDecodeError, never KeyError."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

import asyncapi_client as sdk
from asyncapi_client import MockTransport, Response

pytestmark = pytest.mark.anyio

PROJECT = {
    "id": 7,
    "name": "Apollo",
    "description": None,
    "created_at": "2024-05-01T12:00:00Z",
    "updated_at": "2024-05-02T08:30:15.5+02:00",
}


def client_returning(body: bytes, status: int = 200) -> sdk.AsyncClient:
    return sdk.AsyncClient(
        "http://127.0.0.1:1",
        transport=MockTransport(lambda r: Response(status, {"content-type": "application/json"}, body)),
        timeout=None,
    )


async def test_project_decodes_and_tolerates_unknown_fields() -> None:
    body = json.dumps({**PROJECT, "brand_new_field": {"x": 1}}).encode()
    async with client_returning(body) as client:
        project = await client.projects.get(7)
    assert project == sdk.Project(
        id=7,
        name="Apollo",
        description=None,
        created_at=datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc),
        updated_at=datetime.fromisoformat("2024-05-02T08:30:15.500000+02:00"),
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>502 Bad Gateway</html>", "not valid JSON"),
        (json.dumps(PROJECT).encode()[:-9], "not valid JSON"),  # truncated
        (b"[]", "expected a JSON object"),
        (json.dumps({**PROJECT, "id": "seven"}).encode(), "does not fit Project"),
        (json.dumps({k: v for k, v in PROJECT.items() if k != "name"}).encode(), "does not fit Project"),
        (json.dumps({**PROJECT, "created_at": "yesterday"}).encode(), "does not fit Project"),
        (json.dumps({**PROJECT, "id": True}).encode(), "does not fit Project"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
    ],
)
async def test_malformed_reply_becomes_decode_error(body: bytes, reason: str) -> None:
    async with client_returning(body) as client:
        with pytest.raises(sdk.ResponseDecodeError) as info:
            await client.projects.get(7)
    err = info.value
    assert reason in str(err)
    assert err.status_code == 200
    assert len(err.excerpt) <= 200


async def test_decode_error_excerpt_is_short_and_redacted() -> None:
    body = b'{"access_token": "sekrit-token-value", "junk": "' + b"x" * 5000
    async with client_returning(body) as client:
        with pytest.raises(sdk.ResponseDecodeError) as info:
            await client.projects.get(1)
    assert "sekrit-token-value" not in str(info.value)
    assert len(info.value.excerpt) <= 200


@pytest.mark.parametrize(
    "body",
    [
        {"data": [PROJECT]},  # no meta
        {"data": [PROJECT], "meta": {"currentPage": 1}},  # partial meta
        {"data": "nope", "meta": {"currentPage": 1, "totalPages": 1, "totalItems": 1, "itemsPerPage": 20}},
        {"data": [], "meta": {"currentPage": 0, "totalPages": 1, "totalItems": 1, "itemsPerPage": 20}},
        {"data": [], "meta": {"currentPage": 1, "totalPages": -1, "totalItems": 1, "itemsPerPage": 20}},
    ],
)
async def test_bad_pagination_meta_is_a_decode_error(body: object) -> None:
    async with client_returning(json.dumps(body).encode()) as client:
        with pytest.raises(sdk.ResponseDecodeError):
            await client.projects.list_page(1, 20)


async def test_page_decodes_meta() -> None:
    meta = {"currentPage": 2, "totalPages": 15, "totalItems": 150, "itemsPerPage": 10}
    async with client_returning(json.dumps({"data": [PROJECT], "meta": meta}).encode()) as client:
        page = await client.projects.list_page(2, 10)
    assert page.meta == sdk.PageMeta(current_page=2, total_pages=15, total_items=150, items_per_page=10)
    assert [p.id for p in page.data] == [7]
