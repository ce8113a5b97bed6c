"""A bulk job's input: its arguments checked, its records validated, and the lazy reader that
cuts it into numbered chunks (see `_bulk` for the job that sends them).

The input is any iterable or async iterable of `{"name", "email"}` mappings or `NewUser`; it is
pulled `chunk_size` records at a time and its length is never asked for. A record that is not a
mapping with exactly string `name` and `email` is refused here (`InvalidItemError`, naming its
input index and the field) and never sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from typing import Any, Final, Union

import attrs

from .._errors import InvalidItemError
from .._models import NewUser

MAX_BULK = 100
"""The server's largest bulk request (items)."""

USER_FIELDS: Final = ("name", "email")

UserInput = Union[Mapping[str, Any], NewUser, InvalidItemError]
"""A bulk record: a `{"name", "email"}` mapping, a `NewUser`, or an `InvalidItemError` standing
for a record its reader could not parse (it becomes that record's outcome)."""


def check_bulk_args(*, users: object, chunk_size: object, concurrency: object, on_progress: object) -> None:
    def is_int(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    if isinstance(users, (str, bytes, Mapping, NewUser)) or not (
        isinstance(users, (Iterable, AsyncIterable))
    ):
        raise TypeError(
            "users must be an iterable or async iterable of {'name', 'email'} mappings or NewUser "
            f"(a list, a generator, ...), got {type(users).__name__}"
        )
    if not is_int(chunk_size) or not 1 <= chunk_size <= MAX_BULK:  # type: ignore[operator]
        raise ValueError(
            f"chunk_size must be an integer from 1 to {MAX_BULK} (the server's bulk maximum), got {chunk_size!r}"
        )
    if not is_int(concurrency) or concurrency < 1:  # type: ignore[operator]
        raise ValueError(f"concurrency must be an integer >= 1 (chunks in flight), got {concurrency!r}")
    if on_progress is not None and not callable(on_progress):
        raise TypeError(f"on_progress must be a callable (done, failed), got {on_progress!r}")


def item_body(item: object, index: int) -> dict[str, str] | InvalidItemError:
    """The JSON body of one record, or the client-side error that keeps it from being sent.

    A record has exactly `name` and `email`, non-empty strings; a key the API does not know is
    refused by name rather than dropped (a misspelt `"emial"` would otherwise vanish). An
    `InvalidItemError` given as a record (a reader that could not even parse it, such as the
    CLI's for a line that is not JSON) is that record's outcome, with the index it names."""
    if isinstance(item, InvalidItemError):
        return item
    if isinstance(item, NewUser):
        return {"name": item.name, "email": item.email}
    if not isinstance(item, Mapping):
        return InvalidItemError(
            f"item {index}: a {type(item).__name__}, not an object with name and email",
            index=index,
            field=None,
        )
    # First: a misspelt field ("emial") is the cause of the field it leaves missing.
    unknown = [key for key in item if key not in USER_FIELDS]
    if unknown:
        name = unknown[0] if isinstance(unknown[0], str) else repr(unknown[0])
        return InvalidItemError(
            f"item {index}: unknown field {name!r} (a user has only 'name' and 'email')",
            index=index,
            field=str(name),
        )
    for field in USER_FIELDS:
        value = item.get(field)
        if not isinstance(value, str) or not value.strip():
            what = "missing" if value is None else "not a non-empty string"
            return InvalidItemError(f"item {index}: {field!r} is {what}", index=index, field=field)
    return {"name": item["name"], "email": item["email"]}


@attrs.define(slots=True)
class Chunk:
    """Up to `chunk_size` consecutive input records: those to send and those refused."""

    number: int
    pending: list[tuple[int, dict[str, str]]]  # (input index, body) still to send
    invalid: list[tuple[int, InvalidItemError]]  # (input index, why) refused client-side


class ChunkReader:
    """Pulls the input lazily, `chunk_size` records per chunk, numbering records and chunks."""

    __slots__ = ("_sync", "_async", "_chunk_size", "_index", "_chunk_number", "exhausted")

    def __init__(self, users: Iterable[object] | AsyncIterable[object], chunk_size: int) -> None:
        self._sync: Iterator[object] | None = None
        self._async: AsyncIterator[object] | None = None
        if isinstance(users, AsyncIterable):
            self._async = users.__aiter__()
        else:
            self._sync = iter(users)
        self._chunk_size = chunk_size
        self._index = 0
        self._chunk_number = 0
        self.exhausted = False

    async def next_chunk(self) -> Chunk | None:
        """The next chunk, or None at the end. The input's own exceptions propagate."""
        if self.exhausted:
            return None
        pending: list[tuple[int, dict[str, str]]] = []
        invalid: list[tuple[int, InvalidItemError]] = []
        for _ in range(self._chunk_size):
            try:
                if self._sync is not None:
                    item = next(self._sync)
                else:
                    assert self._async is not None
                    item = await self._async.__anext__()
            except (StopIteration, StopAsyncIteration):
                self.exhausted = True
                break
            except BaseException:
                self.exhausted = True
                raise
            index = self._index
            self._index += 1
            body = item_body(item, index)
            if isinstance(body, InvalidItemError):
                invalid.append((index, body))
            else:
                pending.append((index, body))
        if not pending and not invalid:
            return None
        number = self._chunk_number
        self._chunk_number += 1
        return Chunk(number, pending, invalid)
