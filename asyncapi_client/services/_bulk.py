"""Concurrent bulk creation that accounts for every input record.

    result = await client.users.bulk_create(users, chunk_size=100, concurrency=8)
    result.created   # {input index: User}
    result.failed    # {input index: APIError with the server's details}

    async with client.users.bulk_create_iter(users) as outcomes:   # streaming form
        async for outcome in outcomes:                              # BulkOutcome(index, user, error)
            ...

How it works (one mechanism: `bulk_create` is the streaming form, collected):

- The input (any iterable or async iterable of `{"name", "email"}` mappings or `NewUser`) is
  pulled lazily (`_bulk_input.ChunkReader`), `chunk_size` records at a time, only when a chunk
  slot is free: at most `concurrency` chunks are in flight or waiting to be read by the
  consumer, so a generator of millions of records is never materialised. Its length is never
  asked for.
- A record that is not a mapping with string `name` and `email` fails alone, client-side
  (`InvalidItemError`), without being sent.
- Each chunk is one `POST /api/v1/users/bulk` with an `Idempotency-Key` of
  `bulk-<job id>-<chunk number>-<hash of the chunk's JSON>`: a retry of the same request (done
  by the retry layer) replays the first response and creates nothing twice. Passing the same
  `job_id` again with the same input makes a re-run of a crashed job idempotent too.
- The server is all-or-nothing per request. A 400/409/422 that names records of the request
  (`details.index`, and `details.errors` listing every record at fault: `_bulk_reply`) fails
  those records, each with its own error whose message and `details["index"]` say its input
  index, and the rest of the chunk is re-sent (new content, so a new key), until the chunk is
  clean or empty: one bad record does not sink 99 good ones, and a refusal naming all 100
  settles the chunk in one request.
- A failure with no usable index (a 5xx or 429 after the retry layer gave up, a connection
  error, a timeout) fails every record still pending in that chunk with that error. A 2xx whose
  body cannot be decoded is re-sent with the same key (the server replays its stored response,
  creating nothing) up to twice before it too fails the chunk's records. Nothing is dropped.
- `on_progress(done, failed)` is called after each chunk's outcomes are handed over: records
  with an outcome so far, and how many of them failed.
- With `checkpoint=` (a `CheckpointStore`) and a `job_id`, each chunk whose outcomes the
  caller has taken is recorded as finished, and a re-run of the job (same `job_id`, same input,
  same `chunk_size`) reads the input again but sends only the chunks not recorded:
  `asyncapi_client.checkpoints._progress` says when a chunk counts as finished. A chunk then
  keeps its slot until the caller has taken its outcomes, so a crash re-sends at most
  `concurrency` chunks.

Where the work runs mirrors the pager (`_pagination`): in `async with bulk_create_iter(...)`
an anyio task group owned by the block keeps `concurrency` chunks in flight continuously (this
is what `bulk_create` uses); a bare `async for` sends rounds of `concurrency` chunks inside one
`__anext__` call each, so nothing is in flight while your loop body runs and `break` or
cancellation leave nothing behind. Breaking out of either form abandons the records not yet
read; chunks cancelled in flight have an unknown outcome on the server (their retry would be
safe: same job id, same input).

The module stays whole (a little over 400 lines): the job, its outcomes and the result are
one piece of bookkeeping (every input index accounted for once), which reads best in one place;
input checking and numbering already live apart, in `_bulk_input`.
"""

from __future__ import annotations

import collections
import hashlib
import json
import logging
import secrets
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel
import attrs
from anyio.abc import TaskGroup

from .._errors import APIConnectionError, APIError, APIStatusError, InvalidItemError, ResponseDecodeError
from .._models import User
from .._task_group import cancel_and_exit
from ._bulk_input import MAX_BULK, Chunk, ChunkReader, UserInput, check_bulk_args
from ._bulk_reply import blamed_records

if TYPE_CHECKING:
    from ..checkpoints import CheckpointStore
    from ..checkpoints._progress import BulkCheckpoint

DEFAULT_CONCURRENCY = 8
"""Bulk chunks in flight at once unless `concurrency=` says otherwise."""

_DECODE_REPLAYS = 2

BulkProgress = Callable[[int, int], Any]
"""`on_progress(done, failed)`: records with an outcome so far, and how many of them failed."""
SendChunk = Callable[[list[dict[str, str]], str], Awaitable[list[User]]]
"""`send_chunk(bodies, idempotency_key)`: one all-or-nothing bulk request (the users service's),
the created users in the order sent; a reply that does not hold one user per body raises
`ResponseDecodeError`."""

_log = logging.getLogger("asyncapi_client.bulk")


@attrs.frozen(slots=True)
class BulkOutcome:
    """The outcome of one input record: `user` when created, `error` when not."""

    index: int
    user: User | None = None
    error: APIError | None = None

    @property
    def ok(self) -> bool:
        """True when the record was created."""
        return self.error is None


@attrs.define(slots=True)
class BulkResult:
    """Every input index exactly once: in `created` (the `User`) or in `failed` (the error)."""

    created: dict[int, User] = attrs.Factory(dict)
    failed: dict[int, APIError] = attrs.Factory(dict)
    skipped: int = 0
    """Records of chunks an earlier run finished (its checkpoint says so): not sent again, and
    in neither dict (their outcomes were that run's)."""

    @property
    def total(self) -> int:
        """How many records have an outcome (created + failed)."""
        return len(self.created) + len(self.failed)

    @property
    def ok(self) -> bool:
        """True when every record was created."""
        return not self.failed

    def add(self, outcome: BulkOutcome) -> None:
        """File one outcome under `created` or `failed` by its input index."""
        if outcome.error is not None:
            self.failed[outcome.index] = outcome.error
        else:
            assert outcome.user is not None
            self.created[outcome.index] = outcome.user

    def __repr__(self) -> str:
        skipped = f" skipped={self.skipped}" if self.skipped else ""
        return f"<BulkResult created={len(self.created)} failed={len(self.failed)}{skipped}>"


def _settled_for_good(outcomes: list[BulkOutcome]) -> bool:
    """True when no record failed for a reason that may pass (what a checkpoint records)."""
    for outcome in outcomes:
        error = outcome.error
        if error is None or isinstance(error, InvalidItemError):
            continue
        if (
            not isinstance(error, APIStatusError)
            or error.status_code >= 500
            or error.status_code in (408, 429)
        ):
            return False
    return True


class BulkJob:
    """`client.users.bulk_create_iter(...)`: an async iterable of `BulkOutcome`s, in the order
    chunks complete (within a chunk, by input index), or in input order with `ordered=True`
    (a slow chunk then holds back the ones after it, and at most `concurrency` settled chunks
    wait in memory). Use it as `async with ... as outcomes:` for continuous concurrency, or
    iterate it bare; see the module docstring. `job_id` is this job's id (given or made);
    `done` and `failed` count the outcomes handed over so far."""

    def __init__(
        self,
        send_chunk: SendChunk,
        users: Iterable[UserInput] | AsyncIterable[UserInput],
        *,
        chunk_size: int = MAX_BULK,
        concurrency: int = DEFAULT_CONCURRENCY,
        on_progress: BulkProgress | None = None,
        job_id: str | None = None,
        ordered: bool = False,
        checkpoint: CheckpointStore | None = None,
    ) -> None:
        check_bulk_args(users=users, chunk_size=chunk_size, concurrency=concurrency, on_progress=on_progress)
        self._checkpoint: BulkCheckpoint | None = None
        if checkpoint is not None:
            from ..checkpoints._progress import BulkCheckpoint, check_job_id

            key = f"bulk:{check_job_id(job_id, 'bulk job')}"
            self._checkpoint = BulkCheckpoint(checkpoint, key, chunk_size=chunk_size)
        if job_id is not None and (not isinstance(job_id, str) or not job_id or len(job_id) > 64):
            raise ValueError("job_id must be a non-empty string of at most 64 characters")
        self._send_chunk = send_chunk
        self._reader = ChunkReader(users, chunk_size)
        self._concurrency = concurrency
        self._on_progress = on_progress
        self.job_id = job_id or secrets.token_hex(8)
        self._ordered = bool(ordered)
        self._ready: dict[int, list[BulkOutcome]] = {}  # settled chunks' outcomes, by chunk number
        self._completed: collections.deque[int] = collections.deque()  # unordered: completion order
        self._next_chunk = 0  # ordered: the chunk handed over next
        self._current: Iterator[BulkOutcome] = iter(())
        # With a checkpoint: the chunk whose outcomes are being handed over, and whether it is
        # recorded once they all are (its slot is freed then, not before).
        self._consuming: tuple[int, bool] | None = None
        self._checkpoint_loaded = False
        self._in_flight = 0
        self._producer_done = False
        self._input_error: BaseException | None = None
        self._fatal: BaseException | None = None
        self._wakeup = anyio.Event()
        self._slots: anyio.Semaphore | None = None
        self._task_group: TaskGroup | None = None
        self._started = False
        self._closed = False
        self.done = 0
        self.failed = 0
        self.skipped = 0

    # -- one chunk -----------------------------------------------------------------------------

    def _key(self, chunk: Chunk, payload: bytes) -> str:
        digest = hashlib.sha256(payload).hexdigest()[:20]
        return f"bulk-{self.job_id}-{chunk.number}-{digest}"

    async def _send(self, chunk: Chunk) -> list[BulkOutcome]:
        """Send the chunk until every record in it has an outcome."""
        outcomes = [BulkOutcome(index, error=error) for index, error in chunk.invalid]
        replays = 0
        while chunk.pending:
            bodies = [body for _, body in chunk.pending]
            payload = json.dumps(bodies, separators=(",", ":"), ensure_ascii=False).encode()
            try:
                users = await self._send_chunk(bodies, self._key(chunk, payload))
            except ResponseDecodeError as exc:
                if replays < _DECODE_REPLAYS:
                    replays += 1  # the same key: the server replays its stored reply, creates nothing
                    _log.warning("bulk chunk %d: undecodable 2xx reply, replaying its key", chunk.number)
                    continue
                outcomes.extend(BulkOutcome(index, error=exc) for index, _ in chunk.pending)
                chunk.pending = []
            except APIStatusError as exc:
                blamed = blamed_records(exc, [index for index, _ in chunk.pending])
                if not blamed:
                    outcomes.extend(BulkOutcome(index, error=exc) for index, _ in chunk.pending)
                    chunk.pending = []
                else:
                    # Every record the refusal names fails with its own error; the rest go again.
                    outcomes.extend(
                        BulkOutcome(chunk.pending[position][0], error=error)
                        for position, error in blamed.items()
                    )
                    chunk.pending = [
                        record for position, record in enumerate(chunk.pending) if position not in blamed
                    ]
                    _log.debug(
                        "bulk chunk %d: %d record(s) refused (%s), re-sending the other %d",
                        chunk.number,
                        len(blamed),
                        exc.code,
                        len(chunk.pending),
                    )
            except APIError as exc:
                outcomes.extend(BulkOutcome(index, error=exc) for index, _ in chunk.pending)
                chunk.pending = []
            else:
                outcomes.extend(
                    BulkOutcome(index, user=user)
                    for (index, _), user in zip(chunk.pending, users, strict=True)
                )
                chunk.pending = []
        outcomes.sort(key=lambda outcome: outcome.index)
        return outcomes

    async def _run_chunk(self, chunk: Chunk) -> None:
        # Never raises but for cancellation: the consumer's code may share this task group.
        outcomes: list[BulkOutcome] = []
        try:
            outcomes = await self._send(chunk)
        except anyio.get_cancelled_exc_class():
            outcomes = self._abandoned(chunk)
            raise
        except Exception as exc:  # a bug or a user middleware's own exception: surface it
            self._fatal = exc
        finally:
            self._ready[chunk.number] = outcomes
            if not self._ordered:
                self._completed.append(chunk.number)
            self._in_flight -= 1
            self._wakeup.set()

    @staticmethod
    def _abandoned(chunk: Chunk) -> list[BulkOutcome]:
        error = APIConnectionError(
            "the bulk job was cancelled while this chunk was in flight; its outcome is unknown "
            "(re-running with the same job_id and input is safe)",
            request_sent=None,
        )
        outcomes = [BulkOutcome(index, error=invalid) for index, invalid in chunk.invalid]
        outcomes.extend(BulkOutcome(index, error=error) for index, _ in chunk.pending)
        chunk.pending = []
        return outcomes

    # -- the two drivers -----------------------------------------------------------------------

    async def _produce(self, tg: TaskGroup, slots: anyio.Semaphore) -> None:
        """`async with` form: read a chunk whenever a slot is free, and start it."""
        try:
            await self._load_checkpoint()
            while True:
                await slots.acquire()
                chunk = await self._next_unfinished_chunk()
                if chunk is None:
                    slots.release()
                    break
                self._in_flight += 1
                tg.start_soon(self._run_chunk, chunk, name=f"asyncapi_client bulk chunk {chunk.number}")
        except Exception as exc:
            self._input_error = exc
        finally:
            self._producer_done = True
            self._wakeup.set()

    async def _round(self) -> None:
        """Bare form: up to `concurrency` chunks, all settled before this returns."""
        async with anyio.create_task_group() as tg:
            for _ in range(self._concurrency):
                try:
                    await self._load_checkpoint()
                    chunk = await self._next_unfinished_chunk()
                except Exception as exc:
                    self._input_error = exc
                    break
                if chunk is None:
                    break
                self._in_flight += 1
                tg.start_soon(self._run_chunk, chunk, name=f"asyncapi_client bulk chunk {chunk.number}")
        if self._reader.exhausted:
            self._producer_done = True

    async def _load_checkpoint(self) -> None:
        if self._checkpoint is not None and not self._checkpoint_loaded:
            self._checkpoint_loaded = True
            await self._checkpoint.load()

    async def _next_unfinished_chunk(self) -> Chunk | None:
        """The next chunk to send: those the checkpoint has as finished are read and skipped."""
        while True:
            chunk = await self._reader.next_chunk()
            if chunk is None or self._checkpoint is None or not self._checkpoint.is_done(chunk.number):
                return chunk
            self.skipped += len(chunk.pending) + len(chunk.invalid)

    def __aiter__(self) -> BulkJob:
        # An iterator, like a generator: iterating it again continues (or finds it exhausted);
        # its input is consumed as it goes.
        self._started = True
        return self

    async def __anext__(self) -> BulkOutcome:
        for outcome in self._current:
            return outcome
        if self._consuming is not None:
            # The caller asked past the chunk's last outcome: it has them all. Record the chunk.
            (number, settled), self._consuming = self._consuming, None
            if self._slots is not None:
                self._slots.release()
            if settled:
                assert self._checkpoint is not None
                await self._checkpoint.mark_done(number)
        while not self._closed:
            if self._fatal is not None:
                error, self._fatal = self._fatal, None
                self._close()
                raise error
            ready = self._take_ready()
            if ready is not None:
                number, outcomes = ready
                self._report(outcomes)
                if outcomes and self._checkpoint is not None:
                    # The slot stays taken until the caller has these outcomes: `concurrency`
                    # bounds the chunks not yet recorded, so a crash re-sends at most that many.
                    self._consuming = (number, _settled_for_good(outcomes))
                elif self._slots is not None:
                    self._slots.release()
                if outcomes:
                    self._current = iter(outcomes)
                    return next(self._current)
                continue
            if self._producer_done and self._in_flight == 0:
                if self._input_error is not None:
                    error, self._input_error = self._input_error, None
                    self._close()
                    raise error
                self._close()
                # A cancellation that cut chunks short may not have reached this task yet (it
                # was woken by their outcomes, not by a checkpoint): raise it here rather than
                # end as if the job were complete with records missing.
                await anyio.lowlevel.checkpoint()
                raise StopAsyncIteration
            if self._task_group is None:
                await self._round()
            else:
                self._wakeup = anyio.Event()
                await self._wakeup.wait()
        raise StopAsyncIteration

    def _take_ready(self) -> tuple[int, list[BulkOutcome]] | None:
        """The next settled chunk's outcomes to hand over, or None: in completion order, or
        with `ordered=True` the chunk after the last one handed over (its slot stays taken
        until then, so at most `concurrency` chunks wait in memory)."""
        if self._ordered:
            checkpoint = self._checkpoint
            while (
                checkpoint is not None
                and self._next_chunk not in self._ready
                and checkpoint.is_done(self._next_chunk)
            ):
                self._next_chunk += 1  # finished by an earlier run: skipped, never sent
            number = self._next_chunk
            outcomes = self._ready.pop(number, None)
            if outcomes is None:
                return None
            self._next_chunk += 1
            return number, outcomes
        if self._completed:
            number = self._completed.popleft()
            return number, self._ready.pop(number)
        return None

    def _report(self, outcomes: list[BulkOutcome]) -> None:
        failed = sum(1 for outcome in outcomes if outcome.error is not None)
        self.done += len(outcomes)
        self.failed += failed
        if self._on_progress is not None and outcomes:
            self._on_progress(self.done, self.failed)

    def _close(self) -> None:
        self._closed = True
        self._producer_done = True

    async def collect(self) -> BulkResult:
        """Run the whole job and gather every outcome (what `bulk_create` does)."""
        result = BulkResult()
        async with self:
            async for outcome in self:
                result.add(outcome)
        result.skipped = self.skipped
        return result

    # -- lifecycle -------------------------------------------------------------------------------

    async def __aenter__(self) -> BulkJob:
        if self._task_group is not None or self._started:
            raise RuntimeError("enter a bulk job's 'async with' once, before iterating it")
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._task_group = tg
        self._slots = anyio.Semaphore(self._concurrency)
        tg.start_soon(self._produce, tg, self._slots, name="asyncapi_client bulk reader")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        tg = self._task_group
        self._task_group = None
        self._close()
        if tg is None:
            return False
        return await cancel_and_exit(tg, exc_type, exc, tb)  # stop reading input, cancel chunks in flight

    async def aclose(self) -> None:
        """Stop handing out outcomes (the `async with` block's exit cancels work in flight)."""
        self._close()

    def __repr__(self) -> str:
        skipped = f" skipped={self.skipped}" if self.skipped else ""
        return f"<BulkJob job_id={self.job_id} done={self.done} failed={self.failed}{skipped}>"
