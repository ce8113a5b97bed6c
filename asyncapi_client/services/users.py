"""`client.users`: the current user, lookups, creation, listing, and bulk creation."""

from __future__ import annotations

from collections.abc import AsyncIterable, Iterable
from typing import Any

from .._bulk import DEFAULT_CONCURRENCY, MAX_BULK, BulkJob, BulkProgress, BulkResult, UserInput
from .._decode import decode_model, decode_page
from .._models import NewUser, Page, User
from .._pagination import MAX_PAGE_LIMIT, AsyncPager, PageProgress
from .._retry import RetryPolicy
from ._base import Service


def _user_body(name: str | None, email: str | None, user: NewUser | None) -> dict[str, Any]:
    if user is not None:
        return dict(user.to_dict())
    if not name or not email:
        raise ValueError("users.create needs name and email (or a NewUser)")
    return {"name": name, "email": email}


class UsersService(Service):
    """`client.users`: `me()`, `get()`, `create()`, `list_page()`, `list()` (streamed),
    `bulk_create()` and `bulk_create_iter()`."""

    __slots__ = ()

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

    async def list_page(self, page: int = 1, limit: int = 20) -> Page[User]:
        """One page of users (`page` from 1, `limit` from 1 to 100), with the server's `meta`."""
        response = await self._call("GET", "/api/v1/users", params={"page": page, "limit": limit})
        return decode_page(response, User)

    def list(
        self,
        *,
        limit: int = MAX_PAGE_LIMIT,
        prefetch: int = 0,
        start_page: int = 1,
        max_items: int | None = None,
        on_progress: PageProgress | None = None,
        retry: RetryPolicy | None = None,
    ) -> AsyncPager[User]:
        """Every user, streamed: `async with client.users.list(prefetch=8) as pager:
        async for user in pager: ...` (see `AsyncPager` for `limit`, `prefetch`, `start_page`,
        `max_items`, `on_progress`). `retry` is a `RetryPolicy` for this pager's page fetches
        (default: the client's). `list_page()` fetches one page."""
        return AsyncPager(
            self._with_retry(retry).list_page,
            limit=limit,
            prefetch=prefetch,
            start_page=start_page,
            max_items=max_items,
            on_progress=on_progress,
        )

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
    ) -> BulkJob:
        """Create users in concurrent chunks, yielding a `BulkOutcome(index, user, error)` per
        record as chunks complete: `async with client.users.bulk_create_iter(users) as outcomes:
        async for outcome in outcomes: ...`. Same arguments as `bulk_create`, and `ordered=True`
        to get the outcomes in input order rather than as chunks complete; see
        docs/streaming.md for the guarantees."""
        return BulkJob(
            self._with_retry(retry),
            users,
            chunk_size=chunk_size,
            concurrency=concurrency,
            on_progress=on_progress,
            job_id=job_id,
            ordered=ordered,
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
    ) -> BulkResult:
        """Create users in concurrent chunks of at most `chunk_size` (<= 100), at most
        `concurrency` chunks in flight; the input is read lazily. Returns a `BulkResult` whose
        `created` and `failed` dicts hold every input index exactly once. `on_progress(done,
        failed)` is called as chunks complete. Nothing is created twice: each chunk carries a
        deterministic `Idempotency-Key` (pass `job_id` to make a re-run of a job idempotent).
        `retry` is a `RetryPolicy` for this job's requests (default: the client's)."""
        job = self.bulk_create_iter(
            users,
            chunk_size=chunk_size,
            concurrency=concurrency,
            on_progress=on_progress,
            job_id=job_id,
            retry=retry,
        )
        return await job.collect()
