"""What a listing and a bulk job keep in a checkpoint, and when they save it.

**A listing** (`list(job_id=..., checkpoint=store)`) keeps the next page to read. It is saved
before each page after the first is handed over (your code has finished with every item of the
pages before it: it asked for the next one) and once at the end (`finished`). A crash loses at
most the page your code was reading: the resumed listing hands that page over again, so your
code sees its items at least once and every other item exactly once. Key:
`list:<job_id>:<endpoint>:<first page>-<stop page>`.

**A bulk job** (`bulk_create(..., job_id=..., checkpoint=store)`) keeps the numbers of its
finished chunks: every chunk below `below`, and the few finished above it (chunks finish out of
order, at most `concurrency` apart). A chunk is recorded once your code has taken all of its
outcomes (the streaming form: it asked for the outcome after the chunk's last; `bulk_create`:
they are in the result) and none of its records failed for a reason that may pass (a 5xx, a
429, a timeout or lost connection after the retry layer gave up: such a chunk is sent again on
resume, with the same `Idempotency-Key`s, which the server answers from what it stored). A
resumed job reads its input again and skips the recorded chunks without sending them: it
re-sends only the chunks that were in flight or not yet taken by your code when it died, and
the server creates nothing twice. With a checkpoint, a chunk holds its `concurrency` slot until
your code has taken its outcomes, so those are at most `concurrency` chunks. Key:
`bulk:<job_id>`.

Both refuse a checkpoint recorded with other settings (`CheckpointMismatchError`): the page
numbers or chunk numbers would mean other records.
"""

from __future__ import annotations

from typing import Any

from .._errors import CheckpointMismatchError
from ._store import CheckpointStore

_VERSION = 1


def _check_version(state: dict[str, Any], key: str, kind: str) -> None:
    if state.get("v") != _VERSION or state.get("kind") != kind:
        raise CheckpointMismatchError(
            f"the checkpoint {key!r} is not a {kind} checkpoint this SDK wrote; delete it to start afresh"
        )


class ListingCheckpoint:
    """A `ListingProgress` kept in a `CheckpointStore` under `key`."""

    def __init__(self, store: CheckpointStore, key: str, *, limit: int, pages: range | None) -> None:
        self._store = store
        self.key = key
        self._limit = limit
        self._pages = None if pages is None else [pages.start, pages.stop]

    async def start(self, first: int) -> int | None:
        state = await self._store.load(self.key)
        if state is None:
            return first
        _check_version(state, self.key, "listing")
        if state.get("limit") != self._limit or state.get("pages") != self._pages:
            raise CheckpointMismatchError(
                f"the checkpoint {self.key!r} was recorded with limit={state.get('limit')!r} and "
                f"pages={state.get('pages')!r}, this listing has limit={self._limit!r} and "
                f"pages={self._pages!r}: page numbers would mean other items; use the first run's "
                "settings or delete the checkpoint"
            )
        if state.get("finished") is True:
            return None
        next_page = state.get("next")
        if isinstance(next_page, bool) or not isinstance(next_page, int) or next_page < first:
            raise CheckpointMismatchError(f"the checkpoint {self.key!r} holds no usable next page")
        return next_page

    async def consumed(self, next_page: int, *, finished: bool) -> None:
        state = {
            "v": _VERSION,
            "kind": "listing",
            "limit": self._limit,
            "pages": self._pages,
            "next": next_page,
            "finished": finished,
        }
        await self._store.save(self.key, state)


class BulkCheckpoint:
    """The finished chunks of one bulk job, kept in a `CheckpointStore` under `key`."""

    def __init__(self, store: CheckpointStore, key: str, *, chunk_size: int) -> None:
        self._store = store
        self.key = key
        self._chunk_size = chunk_size
        self._below = 0  # every chunk number below this is finished
        self._done: set[int] = set()  # finished chunks at or above `_below`

    async def load(self) -> None:
        state = await self._store.load(self.key)
        if state is None:
            return
        _check_version(state, self.key, "bulk")
        if state.get("chunk_size") != self._chunk_size:
            raise CheckpointMismatchError(
                f"the checkpoint {self.key!r} was recorded with chunk_size={state.get('chunk_size')!r}, "
                f"this job has chunk_size={self._chunk_size!r}: chunk numbers would mean other "
                "records; use the first run's chunk_size or delete the checkpoint"
            )
        below, done = state.get("below"), state.get("done")
        if (
            isinstance(below, bool)
            or not isinstance(below, int)
            or below < 0
            or not isinstance(done, list)
            or not all(isinstance(n, int) and not isinstance(n, bool) and n > below for n in done)
        ):
            raise CheckpointMismatchError(f"the checkpoint {self.key!r} holds no usable chunk numbers")
        self._below, self._done = below, set(done)

    def is_done(self, number: int) -> bool:
        return number < self._below or number in self._done

    @property
    def finished_chunks(self) -> int:
        return self._below + len(self._done)

    async def mark_done(self, number: int) -> None:
        if self.is_done(number):
            return
        self._done.add(number)
        while self._below in self._done:
            self._done.discard(self._below)
            self._below += 1
        state = {
            "v": _VERSION,
            "kind": "bulk",
            "chunk_size": self._chunk_size,
            "below": self._below,
            "done": sorted(self._done),
        }
        await self._store.save(self.key, state)


def check_job_id(job_id: object, what: str) -> str:
    """The `job_id` a checkpoint is kept under: needed, the same on every run of the job."""
    if job_id is None:
        raise ValueError(
            f"a {what} with checkpoint=... needs job_id=... (the same on every run, so that a "
            "later run finds the checkpoint)"
        )
    if not isinstance(job_id, str) or not job_id or len(job_id) > 64:
        raise ValueError(f"job_id must be a non-empty string of at most 64 characters, got {job_id!r}")
    return job_id
