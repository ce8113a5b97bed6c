"""Checkpoints: the three stores keep one JSON document per key (Redis: a real redis-server);
a split listing and a bulk job interrupted by a failure in the caller's code resume from their
checkpoint against the sandbox over HTTP: every item and every input index accounted for,
nothing acknowledged sent again, nothing created twice (the sandbox's own counters)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from asyncapi_client import (
    APIError,
    BulkJob,
    CheckpointMismatchError,
    InternalServerError,
    User,
)
from asyncapi_client.checkpoints import (
    CheckpointStore,
    FileCheckpointStore,
    MemoryCheckpointStore,
    RedisCheckpointStore,
)
from asyncapi_sandbox import Sandbox
from tests.support.sandbox_token import sandbox_client


@pytest.fixture(params=["memory", "file", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CheckpointStore]:
    if request.param == "memory":
        yield MemoryCheckpointStore()
    elif request.param == "file":
        yield FileCheckpointStore(tmp_path / "checkpoints")
    else:
        url = request.getfixturevalue("redis_server_url")
        redis_store = RedisCheckpointStore(url, prefix=f"test:{os.urandom(4).hex()}:")
        yield redis_store
        await redis_store.aclose()


async def test_a_store_keeps_one_document_per_key(store: CheckpointStore) -> None:
    assert await store.load("job/1") is None
    await store.save("job/1", {"next": 3, "done": [1, 2]})
    await store.save("job:2", {"next": 9})
    assert await store.load("job/1") == {"next": 3, "done": [1, 2]}
    await store.save("job/1", {"next": 4})  # replaced whole
    assert await store.load("job/1") == {"next": 4}
    await store.delete("job/1")
    await store.delete("job/1")  # deleting what is not there is fine
    assert await store.load("job/1") is None
    assert await store.load("job:2") == {"next": 9}
    with pytest.raises(ValueError, match="checkpoint key"):
        await store.save("", {})


async def test_a_file_store_writes_one_escaped_file_per_key_and_leaves_no_temporary(tmp_path: Path) -> None:
    store = FileCheckpointStore(tmp_path)
    await store.save("list:export/1:/api/v1/projects:1-5", {"next": 2})
    assert os.listdir(tmp_path) == [store.path("list:export/1:/api/v1/projects:1-5").name]
    assert "/" not in store.path("a/b").name
    with pytest.raises(ValueError, match="not a directory"):
        FileCheckpointStore(store.path("list:export/1:/api/v1/projects:1-5"))


def bad_config(value: Any) -> None:
    RedisCheckpointStore("redis://127.0.0.1:1/0", ttl=value)


@pytest.mark.parametrize("ttl", [0, -1, float("nan"), float("inf"), True])
def test_a_redis_store_refuses_a_bad_ttl(ttl: object) -> None:
    with pytest.raises(ValueError, match="ttl must be"):
        bad_config(ttl)


# -- a split listing -----------------------------------------------------------------------


class Crash(Exception):
    """The caller's code failing mid-way (a process would die here)."""


async def test_a_listing_resumes_at_the_page_its_code_was_reading(store: CheckpointStore) -> None:
    async with Sandbox(projects=950, users=0) as sb, await sandbox_client(sb) as client:
        expected = [p.id for p in await client.projects.list(limit=50).to_list()]
        part = range(3, 19)  # pages 3..18: items 100..899
        seen: list[int] = []
        with pytest.raises(Crash):
            async with client.projects.list(
                pages=part, limit=50, prefetch=4, job_id="export", checkpoint=store
            ) as pager:
                async for project in pager:
                    seen.append(project.id)
                    if len(seen) == 275:  # the 26th item of page 8
                        raise Crash
        async with client.projects.list(
            pages=part, limit=50, prefetch=4, job_id="export", checkpoint=store
        ) as pager:
            resumed = [p.id async for p in pager]
        # Pages 3..7 were finished with: not read again. Page 8 was being read: read again whole.
        assert resumed == expected[350:900]
        assert seen[:250] + resumed == expected[100:900]
        # A finished part is not read again (delete its checkpoint to run it afresh).
        before = (await sb.stats())["requests_total"]
        again = client.projects.list(pages=part, limit=50, job_id="export", checkpoint=store)
        assert await again.to_list() == []
        assert (await sb.stats())["requests_total"] == before
        # Another page size would give the page numbers other items.
        with pytest.raises(CheckpointMismatchError, match="limit=50"):
            await client.projects.list(pages=part, limit=100, job_id="export", checkpoint=store).to_list()


async def test_a_whole_listing_with_a_checkpoint_resumes_too() -> None:
    store = MemoryCheckpointStore()
    async with Sandbox(projects=300, users=0) as sb, await sandbox_client(sb) as client:
        expected = [p.id for p in await client.projects.list().to_list()]
        seen: list[int] = []
        with pytest.raises(Crash):
            async for project in client.projects.list(job_id="all", checkpoint=store):
                seen.append(project.id)
                if len(seen) == 150:
                    raise Crash
        resumed = await client.projects.list(job_id="all", checkpoint=store).to_list()
        assert seen[:100] + [p.id for p in resumed] == expected


def test_a_checkpoint_needs_a_job_id() -> None:
    from asyncapi_client import AsyncClient

    client = AsyncClient("http://127.0.0.1:9", auth=None)
    with pytest.raises(ValueError, match="needs job_id"):
        client.projects.list(checkpoint=MemoryCheckpointStore())
    with pytest.raises(ValueError, match="give checkpoint"):
        client.projects.list(job_id="x")
    with pytest.raises(ValueError, match="needs job_id"):
        client.users.bulk_create_iter([], checkpoint=MemoryCheckpointStore())


# -- a bulk job ----------------------------------------------------------------------------


def people(n: int, prefix: str = "ckpt") -> list[dict[str, str]]:
    return [{"name": f"{prefix} {i}", "email": f"{prefix}{i}@example.com"} for i in range(n)]


@pytest.mark.parametrize("form", ["async with", "bare", "ordered"])
async def test_a_bulk_job_resumes_sending_only_what_was_not_acknowledged(
    store: CheckpointStore, form: str
) -> None:
    n, concurrency = 2_000, 3
    async with Sandbox(users=0, projects=0) as sb, await sandbox_client(sb) as client:
        delivered: dict[int, list[User | APIError]] = {}

        async def consume(job: BulkJob, crash_after: int | None) -> None:
            async def body() -> None:
                async for outcome in job:
                    delivered.setdefault(outcome.index, []).append(outcome.user or outcome.error)  # type: ignore[arg-type]
                    if crash_after is not None and len(delivered) == crash_after:
                        raise Crash

            if form != "bare":
                async with job:
                    await body()
            else:
                await body()

        with pytest.raises(Crash):
            await consume(
                client.users.bulk_create_iter(
                    people(n),
                    concurrency=concurrency,
                    job_id="imp",
                    checkpoint=store,
                    ordered=form == "ordered",
                ),
                crash_after=1_050,
            )
        first_bulk = (await sb.stats())["bulk_requests"]
        job = client.users.bulk_create_iter(
            people(n), concurrency=concurrency, job_id="imp", checkpoint=store, ordered=form == "ordered"
        )
        await consume(job, crash_after=None)
        stats = await sb.stats()
        # Every input index has an outcome; those delivered twice are the re-sent chunks' only.
        assert set(delivered) == set(range(n))
        assert all(isinstance(o, User) for outcomes in delivered.values() for o in outcomes)
        twice = sorted(i for i, outcomes in delivered.items() if len(outcomes) > 1)
        delivered_twice = {i // 100 for i in twice}
        for index in twice:  # a re-sent chunk's reply is the stored one: the same users
            assert len({u.id for u in delivered[index]}) == 1  # type: ignore[union-attr]
        # Nothing created twice; the resumed run sent only the chunks not recorded.
        assert stats["users_created"] == n and stats["duplicate_creates"] == 0
        assert job.skipped + job.done == n and job.skipped >= 1_000
        # Chunk requests past the 20 the job needs: those in flight or not yet taken at the crash.
        resent = stats["idempotent_replays"] + (stats["bulk_requests"] - 20)
        assert len(delivered_twice) <= resent <= concurrency
        assert stats["bulk_requests"] - first_bulk == (n - job.skipped) // 100 - stats["idempotent_replays"]


async def test_a_chunk_that_failed_for_a_passing_reason_is_sent_again_on_resume() -> None:
    store = MemoryCheckpointStore()
    sent: list[tuple[int, str]] = []
    failing = {"on": True}

    async def send_chunk(bodies: list[dict[str, str]], key: str) -> list[User]:
        number = int(key.split("-")[2])
        sent.append((number, key))
        if number == 1 and failing["on"]:
            raise InternalServerError("upstream down", status_code=503, code=None, details=None)
        return [
            User(id=int(b["name"].split()[1]) + 1, name=b["name"], email=b["email"], created_at=None)  # type: ignore[arg-type]
            for b in bodies
        ]

    first = await BulkJob(send_chunk, people(300), job_id="j", checkpoint=store, concurrency=1).collect()
    assert sorted(first.created) == list(range(0, 100)) + list(range(200, 300))
    assert set(first.failed) == set(range(100, 200))
    failing["on"] = False
    sent.clear()
    second = await BulkJob(send_chunk, people(300), job_id="j", checkpoint=store, concurrency=1).collect()
    assert [number for number, _ in sent] == [1]  # only the chunk that failed with a 503
    assert sorted(second.created) == list(range(100, 200)) and second.skipped == 200
    sent.clear()
    third = await BulkJob(send_chunk, people(300), job_id="j", checkpoint=store, concurrency=1).collect()
    assert sent == [] and third.skipped == 300 and third.total == 0
    with pytest.raises(CheckpointMismatchError, match="chunk_size=100"):
        await BulkJob(send_chunk, people(300), job_id="j", checkpoint=store, chunk_size=50).collect()
