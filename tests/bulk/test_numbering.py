"""One numbering: every index a bulk outcome, error message or error detail shows is the input
index; `ordered=True` hands outcomes over in input order."""

from __future__ import annotations

import json

import anyio
import pytest

from asyncapi_client import AsyncClient, BearerToken, ConflictError, MockTransport, RetryPolicy
from asyncapi_client._types import Request, Response
from tests.support.fake_bulk import FakeBulk, people

pytestmark = pytest.mark.anyio


async def test_a_refused_record_is_named_by_its_input_index() -> None:
    records = people(1000, bad={816})
    fake = FakeBulk(existing={records[433]["email"]})
    async with fake.client() as client:
        result = await client.users.bulk_create(records, chunk_size=100, concurrency=4)
    bad, taken = result.failed[816], result.failed[433]
    # The server blamed request positions 16 and 33; the errors say the input's numbers.
    assert bad.details["index"] == 816 and bad.message.startswith("item 816: ")
    assert taken.details["index"] == 433 and taken.message.startswith("item 433: ")
    assert isinstance(taken, ConflictError) and taken.details["value"] == records[433]["email"]
    assert sorted(result.failed) == [433, 816]


async def test_sandbox_messages_are_renumbered() -> None:
    """The sandbox writes "item <request position>: ..."; the outcome says the input index."""
    records = people(300)

    def handler(request: Request) -> Response:
        body = json.loads(request.content or b"[]")
        for position, item in enumerate(body):
            if item["email"] == "user250@example.com":
                envelope = {
                    "code": "CONFLICT",
                    "message": f"item {position}: a user with email 'user250@example.com' already exists",
                    "details": {"index": position, "field": "email", "value": item["email"]},
                }
                return Response.json_response(409, {"error": envelope})
        created = [dict(item, id=1, created_at="2026-01-01T00:00:00Z") for item in body]
        return Response.json_response(201, {"data": created})

    transport = MockTransport(handler)
    async with AsyncClient(
        "https://api.test", auth=BearerToken("t"), transport=transport, retry=RetryPolicy(max_attempts=1)
    ) as client:
        result = await client.users.bulk_create(records, chunk_size=100)
    error = result.failed[250]
    assert str(error.message) == "item 250: a user with email 'user250@example.com' already exists"
    assert error.details == {"index": 250, "field": "email", "value": "user250@example.com"}


@pytest.mark.parametrize("ordered", [True, False])
async def test_ordered_outcomes_wait_for_a_slow_first_chunk(ordered: bool) -> None:
    fake = FakeBulk()
    others_answered = anyio.Event()
    answered = 0

    async def handler(request: Request) -> Response:
        nonlocal answered
        body = json.loads(request.content or b"[]")
        if body[0]["email"] == "user0@example.com":
            await others_answered.wait()  # the first chunk answers last
            return await fake.handler(request)
        reply = await fake.handler(request)
        answered += 1
        if answered == 3:
            others_answered.set()
        return reply

    async with AsyncClient(
        "https://api.test",
        auth=BearerToken("t"),
        transport=MockTransport(handler),
        retry=RetryPolicy(max_attempts=1),
    ) as client:
        job = client.users.bulk_create_iter(people(40), chunk_size=10, concurrency=4, ordered=ordered)
        async with job as outcomes:
            indexes = [outcome.index async for outcome in outcomes]
    assert sorted(indexes) == list(range(40))
    if ordered:
        assert indexes == list(range(40))
    else:
        assert indexes[:10] != list(range(10))  # chunk 0 came last
        assert indexes[-10:] == list(range(10))


async def test_ordered_bare_iteration() -> None:
    fake = FakeBulk()
    async with fake.client() as client:
        job = client.users.bulk_create_iter(people(95), chunk_size=10, concurrency=3, ordered=True)
        indexes = [outcome.index async for outcome in job]
    assert indexes == list(range(95))
