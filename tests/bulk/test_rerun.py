"""Cheap re-runs against the sandbox: a bulk refusal names every record at fault
(`details.errors`), so re-sending 2,000 existing users costs one request per chunk."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from asyncapi_client import BadRequestError, ConflictError, InvalidItemError
from asyncapi_sandbox import Sandbox
from tests.support.sandbox_token import fetch_token, sandbox_client

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def people(n: int, tag: str) -> list[dict[str, str]]:
    return [{"name": f"{tag} {i}", "email": f"{tag}{i}@example.com"} for i in range(n)]


async def bulk_requests(sb: Sandbox) -> int:
    stats: dict[str, Any] = await sb.stats()
    return int(stats["bulk_requests"])


async def test_the_refusal_names_every_record_at_fault(sandbox: Sandbox) -> None:
    existing = people(3, "old")
    async with httpx.AsyncClient(base_url=sandbox.base_url, trust_env=False) as http:
        http.headers["Authorization"] = f"Bearer {await fetch_token(sandbox)}"
        assert (await http.post("/api/v1/users/bulk", json=existing)).status_code == 201
        batch = [existing[1], *people(2, "new"), existing[2], {"name": "dup", "email": "new0@example.com"}]
        reply = await http.post("/api/v1/users/bulk", json=batch)
        assert reply.status_code == 409
        details = reply.json()["error"]["details"]
        assert details["index"] == 0 and details["value"] == existing[1]["email"]
        assert [(e["index"], e["code"]) for e in details["errors"]] == [
            (0, "CONFLICT"),
            (3, "CONFLICT"),
            (4, "CONFLICT"),
        ]
        assert (
            details["errors"][2]["message"] == "item 4: a user with email 'new0@example.com' already exists"
        )

        invalid = [{"name": "a", "email": "bad"}, *people(1, "ok"), {"name": "", "email": "x@example.com"}]
        reply = await http.post("/api/v1/users/bulk", json=invalid)
        assert reply.status_code == 400
        listed = reply.json()["error"]["details"]["errors"]
        assert [(e["index"], e["field"]) for e in listed] == [(0, "email"), (2, "name")]


async def test_re_sending_2000_existing_users_costs_one_request_per_chunk(sandbox: Sandbox) -> None:
    records = people(2000, "rerun")
    async with await sandbox_client(sandbox) as client:
        before = await bulk_requests(sandbox)
        first = await client.users.bulk_create(records, chunk_size=100, concurrency=8)
        first_requests = await bulk_requests(sandbox) - before
        assert len(first.created) == 2000 and first_requests == 20

        before = await bulk_requests(sandbox)
        again = await client.users.bulk_create(records, chunk_size=100, concurrency=8)  # no job_id
        again_requests = await bulk_requests(sandbox) - before
    assert again_requests == 20  # was 2,000: one 409 per record
    assert sorted(again.failed) == list(range(2000)) and not again.created
    for index, error in again.failed.items():
        assert isinstance(error, ConflictError)
        assert error.details["index"] == index and error.details["value"] == records[index]["email"]
        assert error.message == f"item {index}: a user with email {records[index]['email']!r} already exists"


async def test_a_chunk_with_bad_taken_and_new_records_takes_three_requests(sandbox: Sandbox) -> None:
    taken = people(5, "taken")
    async with await sandbox_client(sandbox) as client:
        await client.users.bulk_create(taken)
        records = people(50, "mixed")
        records[7] = {"name": "bad", "email": "not-an-email"}
        records[33] = {"name": "bad", "email": "also@bad"}
        records[12], records[40] = taken[0], taken[4]
        records[45] = {"name": "typo", "emial": "typo@example.com"}  # refused before sending
        before = await bulk_requests(sandbox)
        result = await client.users.bulk_create(records, chunk_size=50)
        requests = await bulk_requests(sandbox) - before
    assert requests == 3  # the 400 naming both bad emails, the 409 naming both taken, the 201
    assert isinstance(result.failed[7], BadRequestError) and isinstance(result.failed[33], BadRequestError)
    assert isinstance(result.failed[12], ConflictError) and isinstance(result.failed[40], ConflictError)
    assert isinstance(result.failed[45], InvalidItemError)
    assert result.failed[33].details["index"] == 33 and result.failed[33].message.startswith("item 33: ")
    assert len(result.created) == 45
