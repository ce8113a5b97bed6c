"""Bulk creation against MockTransport: chunking, per-item failures, keys, laziness, cleanup."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from asyncapi_client import (
    APIConnectionError,
    BadRequestError,
    BulkOutcome,
    BulkResult,
    ConflictError,
    InternalServerError,
    InvalidItemError,
    NewUser,
    ResponseDecodeError,
    UnprocessableEntityError,
)
from asyncapi_client._types import Request, Response
from tests.support.fake_bulk import FakeBulk, error, people


def assert_accounted(result: BulkResult, n: int) -> None:
    assert set(result.created) | set(result.failed) == set(range(n))
    assert not set(result.created) & set(result.failed)
    assert result.total == n


async def test_creates_everything_in_chunks_in_input_order() -> None:
    fake = FakeBulk()
    records = people(250)
    async with fake.client() as client:
        result = await client.users.bulk_create(records, chunk_size=100, concurrency=3)
    assert_accounted(result, 250)
    assert result.ok and not result.failed
    assert [result.created[i].email for i in range(250)] == [r["email"] for r in records]
    assert sorted(len(body) for _, body in fake.requests) == [50, 100, 100]
    assert len(fake.users) == 250


@pytest.mark.parametrize("bad", [{0}, {57}, {99}, {0, 1, 2}, {0, 50, 99, 100, 199, 233}, set(range(100))])
async def test_bad_items_anywhere_in_a_chunk_fail_alone(bad: set[int]) -> None:
    fake = FakeBulk()
    async with fake.client() as client:
        result = await client.users.bulk_create(people(234, bad=bad), chunk_size=100, concurrency=2)
    assert_accounted(result, 234)
    assert set(result.failed) == bad
    for index in bad:
        err = result.failed[index]
        assert isinstance(err, BadRequestError)
        assert err.code == "INVALID_INPUT" and err.details["field"] == "email"
    assert {u.email for u in result.created.values()} == {
        f"user{i}@example.com" for i in range(234) if i not in bad
    }
    # One request per chunk, plus one re-send per bad item (a chunk left empty is not re-sent).
    emptied = sum(1 for c in range(3) if set(range(c * 100, min(c * 100 + 100, 234))) <= bad)
    assert len(fake.requests) == 3 + len(bad) - emptied
    assert len(fake.users) == 234 - len(bad)


async def test_conflicts_are_reported_per_item() -> None:
    records = people(150)
    existing = {records[3]["email"], records[99]["email"], records[120]["email"]}
    records.append(dict(records[10]))  # 150: a duplicate of 10, inside the input
    fake = FakeBulk(existing=existing)
    async with fake.client() as client:
        result = await client.users.bulk_create(records, chunk_size=50)
    assert_accounted(result, 151)
    assert set(result.failed) == {3, 99, 120, 150}
    assert all(isinstance(result.failed[i], ConflictError) for i in (3, 99, 120, 150))
    assert result.failed[3].details == {"index": 3, "field": "email", "value": records[3]["email"]}


async def test_bad_and_conflicting_items_in_one_chunk() -> None:
    records = people(10, bad={2, 7})
    fake = FakeBulk(existing={records[5]["email"]})
    async with fake.client() as client:
        result = await client.users.bulk_create(records, chunk_size=10)
    assert set(result.failed) == {2, 5, 7}
    assert isinstance(result.failed[5], ConflictError)
    assert isinstance(result.failed[2], BadRequestError)
    assert sorted(result.created) == [0, 1, 3, 4, 6, 8, 9]


async def test_client_side_invalid_items_fail_alone_and_are_never_sent() -> None:
    records: list[Any] = [
        {"name": "a", "email": "a@example.com"},
        42,
        {"name": "b"},
        {"email": "c@example.com"},
        {"name": "  ", "email": "d@example.com"},
        {"name": "e", "email": 5},
        NewUser("f", "f@example.com"),
        {"name": "g", "email": "g@example.com", "emial": "g2@example.com"},
        "h@example.com",
    ]
    fake = FakeBulk()
    async with fake.client() as client:
        result = await client.users.bulk_create(records, chunk_size=4)
    assert_accounted(result, 9)
    assert sorted(result.created) == [0, 6]
    assert set(result.failed) == {1, 2, 3, 4, 5, 7, 8}
    assert all(isinstance(e, InvalidItemError) for e in result.failed.values())
    assert result.failed[2].details == {"index": 2, "field": "email"}
    assert result.failed[3].details == {"index": 3, "field": "name"}
    # A field the API does not know is refused by name, not dropped.
    assert result.failed[7].details == {"index": 7, "field": "emial"}
    assert result.failed[7].message == "item 7: unknown field 'emial' (a user has only 'name' and 'email')"
    assert result.failed[2].message == "item 2: 'email' is missing"
    assert sorted(fake.sent_emails) == ["a@example.com", "f@example.com"]
    # Only name and email go over the wire.
    assert all(set(item) == {"name", "email"} for _, body in fake.requests for item in body)


async def test_async_generator_input() -> None:
    async def source() -> AsyncIterator[dict[str, str]]:
        for record in people(333, bad={5, 300}):
            await anyio.lowlevel.checkpoint()
            yield record

    fake = FakeBulk()
    async with fake.client() as client:
        result = await client.users.bulk_create(source(), chunk_size=100, concurrency=4)
    assert_accounted(result, 333)
    assert set(result.failed) == {5, 300}


async def test_a_large_generator_is_pulled_lazily() -> None:
    chunk, concurrency = 10, 3
    pulled = 0

    def source() -> Iterator[dict[str, str]]:
        nonlocal pulled
        for i in range(20_000):
            pulled += 1
            yield {"name": f"u{i}", "email": f"u{i}@example.com"}

    fake = FakeBulk()
    consumed = 0
    worst = 0
    async with (
        fake.client() as client,
        client.users.bulk_create_iter(source(), chunk_size=chunk, concurrency=concurrency) as outcomes,
    ):
        async for outcome in outcomes:
            assert outcome.ok
            consumed += 1
            worst = max(worst, pulled - consumed)
            if consumed % 97 == 0:
                await anyio.lowlevel.checkpoint()  # a consumer that does some work
    assert consumed == pulled == 20_000
    # Read ahead of the consumer: at most the chunks in flight or waiting, plus the one being read.
    assert worst <= (concurrency + 1) * chunk
    assert fake.max_in_flight <= concurrency


async def test_at_most_concurrency_chunks_in_flight() -> None:
    fake = FakeBulk(delay=0.003)
    async with fake.client() as client:
        result = await client.users.bulk_create(people(2000), chunk_size=20, concurrency=5)
    assert_accounted(result, 2000) and result.ok
    assert fake.max_in_flight == 5


async def test_idempotency_keys_are_per_chunk_deterministic_and_change_with_content() -> None:
    records = people(30, bad={4})
    fake = FakeBulk()
    async with fake.client() as client:
        await client.users.bulk_create(records, chunk_size=10, job_id="job-1")
        keys = [key for key, _ in fake.requests]
        assert all(key and key.startswith("bulk-job-1-") for key in keys)
        assert len(set(keys)) == len(keys) == 4  # 3 chunks + the re-send of chunk 0
        resent = [key for key in keys if key and key.startswith("bulk-job-1-0-")]
        assert len(resent) == 2  # chunk 0, before and after removing record 4: new content, new key

        # The same job re-run (a crashed process starting over) creates nothing twice.
        again = await client.users.bulk_create(records, chunk_size=10, job_id="job-1")
        assert set(again.created) == set(range(30)) - {4}
        assert [key for key, _ in fake.requests[4:]] == keys
        assert fake.replays == 4 and len(fake.users) == 29  # the 400 is replayed too

        # Another job gets other keys.
        await client.users.bulk_create(people(10, start=100), chunk_size=10)
        assert fake.requests[-1][0] not in keys


async def test_retried_chunks_do_not_create_twice() -> None:
    # A lost reply (the change made, the reply gone) then a retry with the same key: the
    # server replays, and every user exists once.
    from asyncapi_client import RetryPolicy

    lose = {"user0@example.com", "user30@example.com"}

    def after(number: int, reply: Response) -> Response:
        first = json.loads(reply.content)["data"][0]["email"]
        if first in lose:
            lose.discard(first)
            return error(503, "UNAVAILABLE", "lost", {})
        return reply

    fake = FakeBulk(after=after)
    async with fake.client(
        retry=RetryPolicy(max_attempts=4, backoff_base=0.001, backoff_max=0.002)
    ) as client:
        result = await client.users.bulk_create(people(60), chunk_size=10, concurrency=2)
    assert_accounted(result, 60) and result.ok
    assert len(fake.users) == 60 and fake.replays == 2


async def test_chunk_level_failures_fail_every_item_of_that_chunk() -> None:
    def fault(number: int, body: list[Any]) -> Response | None:
        first = body[0]["email"]
        if first == "user10@example.com":
            return error(500, "INTERNAL", "boom", {})
        if first == "user20@example.com":
            raise APIConnectionError("reset", request_sent=True)
        if first == "user30@example.com":
            return error(400, "INVALID_INPUT", "no index", {"field": "body"})
        if first == "user40@example.com":
            return error(400, "INVALID_INPUT", "index out of range", {"index": 99})
        if first == "user50@example.com":
            return error(422, "IDEMPOTENCY_KEY_REUSED", "reused", {"field": "Idempotency-Key"})
        return None

    fake = FakeBulk(fault=fault)
    async with fake.client() as client:
        result = await client.users.bulk_create(people(70), chunk_size=10, concurrency=3)
    assert_accounted(result, 70)
    assert sorted(result.created) == [*range(10), *range(60, 70)]
    assert all(isinstance(result.failed[i], InternalServerError) for i in range(10, 20))
    assert all(isinstance(result.failed[i], APIConnectionError) for i in range(20, 30))
    assert all(isinstance(result.failed[i], BadRequestError) for i in range(30, 50))
    assert all(isinstance(result.failed[i], UnprocessableEntityError) for i in range(50, 60))
    assert result.failed[10] is result.failed[19]  # one error, shared by the chunk


async def test_an_undecodable_success_is_replayed_under_the_same_key() -> None:
    def after(number: int, reply: Response) -> Response:
        if number == 0:
            return Response(201, {"content-type": "application/json"}, reply.content[:20])
        return reply

    fake = FakeBulk(after=after)
    async with fake.client() as client:
        result = await client.users.bulk_create(people(10), chunk_size=10)
    assert result.ok and len(result.created) == 10
    assert len(fake.requests) == 2 and fake.requests[0][0] == fake.requests[1][0]
    assert fake.replays == 1 and len(fake.users) == 10


async def test_a_reply_that_stays_undecodable_fails_the_chunk() -> None:
    def fault(number: int, body: list[Any]) -> Response | None:
        return Response(201, {"content-type": "application/json"}, b'{"data": [')

    fake = FakeBulk(fault=fault)
    async with fake.client() as client:
        result = await client.users.bulk_create(people(5), chunk_size=5)
    assert set(result.failed) == set(range(5))
    assert isinstance(result.failed[0], ResponseDecodeError)
    assert len(fake.requests) == 3  # the first try and two replays of its key


async def test_progress_is_reported_per_chunk() -> None:
    calls: list[tuple[int, int]] = []
    fake = FakeBulk()
    async with fake.client() as client:
        await client.users.bulk_create(
            people(45, bad={3, 44}),
            chunk_size=10,
            concurrency=2,
            on_progress=lambda d, f: calls.append((d, f)),
        )
    assert len(calls) == 5
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert calls[-1] == (45, 2)


@pytest.mark.parametrize(
    ("kwargs", "exc", "message"),
    [
        ({"chunk_size": 0}, ValueError, "chunk_size"),
        ({"chunk_size": 101}, ValueError, "chunk_size"),
        ({"chunk_size": True}, ValueError, "chunk_size"),
        ({"concurrency": 0}, ValueError, "concurrency"),
        ({"on_progress": 3}, TypeError, "on_progress"),
        ({"job_id": ""}, ValueError, "job_id"),
    ],
)
async def test_arguments_are_checked_at_call_time(
    kwargs: dict[str, Any], exc: type[Exception], message: str
) -> None:
    fake = FakeBulk()
    async with fake.client() as client:
        with pytest.raises(exc, match=message):
            client.users.bulk_create_iter(people(3), **kwargs)
        with pytest.raises(exc, match=message):
            await client.users.bulk_create(people(3), **kwargs)
    assert fake.requests == []


@pytest.mark.parametrize(
    "users", ["a@b.co", b"x", {"name": "a", "email": "a@b.co"}, NewUser("a", "a@b.co"), 5]
)
async def test_input_that_is_not_a_collection_of_records_is_refused(users: Any) -> None:
    fake = FakeBulk()
    async with fake.client() as client:
        with pytest.raises(TypeError, match="iterable"):
            await client.users.bulk_create(users)


async def test_empty_input() -> None:
    fake = FakeBulk()
    async with fake.client() as client:
        result = await client.users.bulk_create([])
        assert [o async for o in client.users.bulk_create_iter(iter(()))] == []
    assert result.total == 0 and fake.requests == []


@pytest.mark.parametrize("form", ["bare", "context"])
async def test_streaming_outcomes_cover_every_index(form: str) -> None:
    fake = FakeBulk(delay=0.001)
    records = people(505, bad={0, 250, 504})
    seen: list[BulkOutcome] = []
    async with fake.client() as client:
        job = client.users.bulk_create_iter(records, chunk_size=50, concurrency=4)
        if form == "context":
            async with job as outcomes:
                seen = [o async for o in outcomes]
        else:
            seen = [o async for o in job]
    assert sorted(o.index for o in seen) == list(range(505))
    assert {o.index for o in seen if not o.ok} == {0, 250, 504}
    assert all((o.user is None) == (o.error is not None) for o in seen)
    assert fake.max_in_flight == 4


@pytest.mark.parametrize("form", ["bare", "context"])
async def test_break_leaves_nothing_in_flight_and_no_task(form: str) -> None:
    # In the block form, the seventh request on never answers: when the loop breaks, chunks are
    # on the wire whatever the machine's speed (no sleep decides it).
    fake = FakeBulk(delay=0.02) if form == "bare" else FakeBulk(hold_from=6)
    async with fake.client() as client:
        before = len(asyncio.all_tasks())
        job = client.users.bulk_create_iter(people(10_000), chunk_size=10, concurrency=8)
        if form == "context":
            async with job as outcomes:
                async for outcome in outcomes:
                    await anyio.lowlevel.checkpoint()  # the loop body works; chunks keep flowing
                    if outcome.index >= 30:
                        break
                assert fake.in_flight > 0
        else:
            async for outcome in job:
                if outcome.index >= 30:
                    break
        assert fake.in_flight == 0
        assert len(asyncio.all_tasks()) == before
    assert len(fake.requests) < 100  # the rest of the input was never sent
    if form == "context":
        assert fake.cancelled > 0


async def test_cancelling_bulk_create_leaves_nothing_behind() -> None:
    fake = FakeBulk(hold_from=8)
    async with fake.client() as client:
        before = len(asyncio.all_tasks())
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: client.users.bulk_create(people(10_000), chunk_size=10, concurrency=4))
            while len(fake.requests) < 12:  # noqa: ASYNC110 - 8 answered, 4 hanging
                await anyio.sleep(0.001)
            tg.cancel_scope.cancel()
        assert fake.in_flight == 0 and fake.cancelled == 4
        assert len(asyncio.all_tasks()) == before


async def test_the_inputs_own_error_propagates_after_earlier_outcomes() -> None:
    def source() -> Iterator[dict[str, str]]:
        yield from people(25)
        raise OSError("the CSV file went away")

    fake = FakeBulk()
    async with fake.client() as client:
        with pytest.raises(OSError, match="CSV"):
            await client.users.bulk_create(source(), chunk_size=10)
        seen: list[int] = []
        with pytest.raises(OSError, match="CSV"):
            async for outcome in client.users.bulk_create_iter(source(), chunk_size=10, concurrency=1):
                seen.append(outcome.index)
        assert sorted(seen) == list(range(20))


async def test_a_bug_below_surfaces_unwrapped() -> None:
    async def broken(request: Request, call_next: Any) -> Response:
        raise KeyError("a middleware bug")

    fake = FakeBulk()
    async with fake.client(middleware=[broken]) as client:
        with pytest.raises(KeyError):
            await client.users.bulk_create(people(30), chunk_size=10)


async def test_the_loop_bodys_exception_comes_out_unwrapped() -> None:
    fake = FakeBulk()
    async with fake.client() as client:
        with pytest.raises(ZeroDivisionError):
            async with client.users.bulk_create_iter(people(100), chunk_size=10) as outcomes:
                async for _ in outcomes:
                    1 / 0  # noqa: B018


async def test_a_job_is_iterated_once() -> None:
    fake = FakeBulk()
    async with fake.client() as client:
        job = client.users.bulk_create_iter(people(3))
        assert len([o async for o in job]) == 3
        assert [o async for o in job] == []  # like a generator: exhausted
        with pytest.raises(RuntimeError):
            await job.__aenter__()  # too late to own a task group


@pytest.mark.parametrize("seed", range(6))
async def test_every_index_exactly_once_under_random_mixes(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(1, 700)
    records: list[Any] = []
    for i in range(n):
        roll = rng.random()
        if roll < 0.05:
            records.append({"name": f"u{i}", "email": "bad"})
        elif roll < 0.08:
            records.append({"name": f"u{i}"})
        elif roll < 0.12 and i:
            records.append(dict(records[rng.randrange(i)]) if isinstance(records[0], dict) else 7)
        elif roll < 0.14:
            records.append({"name": f"u{i}", "email": f"taken{i}@example.com"})
        else:
            records.append({"name": f"u{i}", "email": f"u{i}@example.com"})
    existing = {f"taken{i}@example.com" for i in range(n)}

    def fault(number: int, body: list[Any]) -> Response | None:
        return error(503, "UNAVAILABLE", "flaky", {}) if rng.random() < 0.05 else None

    fake = FakeBulk(existing=existing, fault=fault)
    async with fake.client() as client:
        result = await client.users.bulk_create(
            records, chunk_size=rng.randint(1, 100), concurrency=rng.randint(1, 10)
        )
    assert_accounted(result, n)
    assert len(fake.users) == len(result.created)
    assert {u.email for u in result.created.values()} == {u["email"] for u in fake.users}
    for index, user in result.created.items():
        assert user.email == records[index]["email"]


def test_runs_on_trio() -> None:
    fake = FakeBulk(delay=0.001)

    async def main() -> tuple[BulkResult, list[int]]:
        async with fake.client() as client:
            result = await client.users.bulk_create(people(230, bad={7}), chunk_size=25, concurrency=4)
            seen = [
                o.index async for o in client.users.bulk_create_iter(people(60, start=500), chunk_size=25)
            ]
        return result, seen

    result, seen = anyio.run(main, backend="trio")
    assert_accounted(result, 230)
    assert set(result.failed) == {7}
    assert sorted(seen) == list(range(60))


async def test_aclose_stops_handing_out_outcomes() -> None:
    fake = FakeBulk()
    async with fake.client() as client:
        job = client.users.bulk_create_iter(people(100), chunk_size=10, concurrency=2)
        it = aiter(job)
        first = await anext(it)
        await job.aclose()
        rest = [o.index async for o in it]
    # What was already handed over in the current chunk comes out; nothing after it.
    assert first.index == 0 and rest == list(range(1, 10))
