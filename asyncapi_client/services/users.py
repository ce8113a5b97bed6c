"""`client.users`: the current user, lookups, creation, listing, and bulk creation."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterable, Iterable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from .._decode import decode_list, decode_model
from .._errors import ResponseDecodeError
from .._models import NewUser, User
from .._raw_response import to_raw_response_wrapper
from .._retry import RetryPolicy
from ._bulk import DEFAULT_CONCURRENCY, BulkJob, BulkProgress, BulkResult
from ._bulk_input import MAX_BULK, UserInput
from ._listing import ListingService

if TYPE_CHECKING:
    from ..checkpoints import CheckpointStore

_BULK_PATH = "/api/v1/users/bulk"


def _user_body(name: str | None, email: str | None, user: NewUser | None) -> dict[str, Any]:
    if user is not None:
        return dict(user.to_dict())
    if not name or not email:
        raise ValueError("users.create needs name and email (or a NewUser)")
    return {"name": name, "email": email}


class UsersService(ListingService[User]):
    """`client.users`: the current user, lookups, creation, listing and bulk creation."""

    _path = "/api/v1/users"
    _model = User

    @cached_property
    def with_raw_response(self) -> UsersWithRawResponse:
        """The same single-request methods, each returning `RawResponse[T]` (the result and its
        HTTP response): `raw = await client.users.with_raw_response.me()`; `raw.parsed` is a
        `User`. (`list` and the bulk methods make many requests, so they are not here.)"""
        return UsersWithRawResponse(self)

    async def me(self) -> User:
        """The user the credentials belong to (`GET /api/v1/users/me`)."""
        return decode_model(await self._call("GET", "/api/v1/users/me"), User)

    async def get(self, user_id: int) -> User:
        """One user by id; `NotFoundError` when there is none."""
        return decode_model(await self._call("GET", f"/api/v1/users/{int(user_id)}"), User)

    async def create(
        self,
        name: str | None = None,
        email: str | None = None,
        *,
        user: NewUser | None = None,
        idempotency_key: str | None = None,
    ) -> User:
        """Create one user from `name` and `email` (or a `NewUser`). A retried create is never
        applied twice: the retry layer sends one `Idempotency-Key` with every attempt (pass your
        own `idempotency_key` to make a re-run of your code idempotent too). `ConflictError` when
        the email is taken."""
        headers = {"idempotency-key": idempotency_key} if idempotency_key else None
        response = await self._call(
            "POST", "/api/v1/users", json_body=_user_body(name, email, user), headers=headers
        )
        return decode_model(response, User)

    def bulk_create_iter(
        self,
        users: Iterable[UserInput] | AsyncIterable[UserInput],
        *,
        chunk_size: int = MAX_BULK,
        concurrency: int = DEFAULT_CONCURRENCY,
        on_progress: BulkProgress | None = None,
        job_id: str | None = None,
        retry: RetryPolicy | None = None,
        ordered: bool = False,
        checkpoint: CheckpointStore | None = None,
    ) -> BulkJob:
        """Create users in concurrent chunks, yielding a `BulkOutcome(index, user, error)` per
        record as chunks complete: `async with client.users.bulk_create_iter(users) as outcomes:
        async for outcome in outcomes: ...`. Same arguments as `bulk_create`, and `ordered=True`
        to get the outcomes in input order rather than as chunks complete; see
        docs/streaming.md for the guarantees."""
        return BulkJob(
            self._with_retry(retry)._create_chunk,
            users,
            chunk_size=chunk_size,
            concurrency=concurrency,
            on_progress=on_progress,
            job_id=job_id,
            ordered=ordered,
            checkpoint=checkpoint,
        )

    async def bulk_create(
        self,
        users: Iterable[UserInput] | AsyncIterable[UserInput],
        *,
        chunk_size: int = MAX_BULK,
        concurrency: int = DEFAULT_CONCURRENCY,
        on_progress: BulkProgress | None = None,
        job_id: str | None = None,
        retry: RetryPolicy | None = None,
        checkpoint: CheckpointStore | None = None,
    ) -> BulkResult:
        """Create users in concurrent chunks of at most `chunk_size` (<= 100), at most
        `concurrency` chunks in flight; the input is read lazily. Returns a `BulkResult` whose
        `created` and `failed` dicts hold every input index exactly once. `on_progress(done,
        failed)` is called as chunks complete. Nothing is created twice: each chunk carries a
        deterministic `Idempotency-Key` (pass `job_id` to make a re-run of a job idempotent).
        Every index is the input's; a refusal naming several records settles them at once, so a
        re-run of records that exist costs about one request per chunk. `retry` is a
        `RetryPolicy` for this job's requests (default: the client's).
        With `checkpoint=` (a `CheckpointStore`, needs `job_id`) the job records its finished
        chunks and a re-run after a crash sends only the others (`result.skipped` counts the
        records it did not send again)."""
        job = self.bulk_create_iter(
            users,
            chunk_size=chunk_size,
            concurrency=concurrency,
            on_progress=on_progress,
            job_id=job_id,
            retry=retry,
            checkpoint=checkpoint,
        )
        return await job.collect()

    async def _create_chunk(
        self, bodies: builtins.list[dict[str, str]], idempotency_key: str
    ) -> builtins.list[User]:
        """One `POST /api/v1/users/bulk` (all or nothing): the bulk job's only request."""
        response = await self._call(
            "POST", _BULK_PATH, json_body=bodies, headers={"idempotency-key": idempotency_key}
        )
        created = decode_list(response, User)
        if len(created) != len(bodies):
            raise ResponseDecodeError.from_response(
                response, f"sent {len(bodies)} users, the reply holds {len(created)}"
            )
        return created


class UsersWithRawResponse:
    """`client.users.with_raw_response`: each method returns `RawResponse[T]`."""

    def __init__(self, users: UsersService) -> None:
        self.me = to_raw_response_wrapper(users.me)
        self.get = to_raw_response_wrapper(users.get)
        self.create = to_raw_response_wrapper(users.create)
        self.list_page = to_raw_response_wrapper(users.list_page)
