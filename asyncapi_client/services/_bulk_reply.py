"""What a refused bulk request says about each of its records. Pure functions, no I/O; the bulk
job (`_bulk`) drives them.

Every index this produces is the record's *input* index (its position in what the caller
passed), in the error's message (`item 816: ...`) and in its `details["index"]`, never its
position in the request that carried it.

The server's side (documented in docs/streaming.md and docs/sandbox.md): a bulk request is all
or nothing; a 400, 409 or 422 about records carries `details.index`, the request position of the
first record at fault, and may carry `details.errors`, a list of `{"index", "field", "value",
"code", "message"}`, one per record at fault in that request (the sandbox lists every invalid
record in a 400 and every taken email in a 409). With the list, one refusal settles every record
it names and the rest of the chunk is re-sent once; without it, one record at a time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from .._errors import APIStatusError, JSONValue
from .._redact import redact

PER_ITEM_STATUSES: Final = frozenset({400, 409, 422})


def _position(value: JSONValue, size: int) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < size:
        return value
    return None


def blamed_records(error: APIStatusError, input_indexes: Sequence[int]) -> dict[int, APIStatusError]:
    """The records of a refused bulk request that `error` blames, by request position, each
    with its own error naming its input index; empty when the error names no usable record
    (then it is about the whole request). `input_indexes[p]` is the input index of the record
    at request position `p`."""
    if error.status_code not in PER_ITEM_STATUSES:
        return {}
    details = error.details
    size = len(input_indexes)
    entries: list[tuple[int, Mapping[str, JSONValue], str | None]] = []
    listed = details.get("errors")
    if isinstance(listed, list):
        for entry in listed:
            if isinstance(entry, dict):
                position = _position(entry.get("index"), size)
                message = entry.get("message")
                if position is not None:
                    entries.append((position, entry, message if isinstance(message, str) else None))
    if not entries:
        position = _position(details.get("index"), size)
        if position is None:
            return {}
        entries.append((position, details, error.message))
    blamed: dict[int, APIStatusError] = {}
    for position, fault, message in entries:
        if position not in blamed:
            blamed[position] = _for_record(error, fault, message, position, input_indexes[position])
    return blamed


def _for_record(
    error: APIStatusError,
    entry: Mapping[str, JSONValue],
    message: str | None,
    position: int,
    index: int,
) -> APIStatusError:
    """`error` as it concerns one record: its message and `details["index"]` say the input index."""
    text = redact(message) if message is not None else error.message
    # The server numbers within its request ("item 16: ..."): say the input's number instead.
    text = re.sub(rf"^\s*item {position}\s*:\s*", "", text)
    details: dict[str, JSONValue] = {k: v for k, v in entry.items() if k not in ("message", "errors")}
    details["index"] = index
    code = entry.get("code")
    kwargs: dict[str, Any] = dict(
        status_code=error.status_code,
        code=code if isinstance(code, str) else error.code,
        details=details,
        request_id=error.request_id,
        response=error.response,
    )
    return type(error)(f"item {index}: {text}", **kwargs)

