"""Turn a Response into a model or a typed error. Pure functions; no I/O."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from ._errors import APIStatusError, ResponseDecodeError, error_from_envelope
from ._fast_decode import (
    _SLOW,
    fast_list,
    fast_one,
    fast_page,
    meta_problem,
    typed_list,
    typed_model,
    typed_page,
)
from ._models import Page, PageMeta, structure
from ._retry_after import parse_retry_after
from ._types import Response

T = TypeVar("T")


def _structure(data: Any, cls: type[T]) -> T:
    """`structure(data, cls)`, through the fast path when there is one and it applies."""
    result = fast_one(data, cls)
    return structure(data, cls) if result is _SLOW else result


def _structure_list(items: list[Any], cls: type[T]) -> list[T]:
    result = fast_list(items, cls)
    return [structure(item, cls) for item in items] if result is _SLOW else result


def status_error(response: Response, now: float) -> APIStatusError:
    """The typed error for a non-2xx response (`now` is Unix seconds, for Retry-After dates)."""
    try:
        body: Any = json.loads(response.content) if response.content else None
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deep
        body = None
    return error_from_envelope(
        response.status_code,
        body,
        request_id=response.headers.get("x-request-id"),
        retry_after=parse_retry_after(response.headers.get("retry-after"), now),
        response=response,
        fallback_message=f"HTTP {response.status_code} with a body that is not the error envelope",
    )


# _unchained: a decode error is raised outside the handler of the parser's or converter's error,
# so that error (a JSONDecodeError holds the whole body, a converter's may quote values) is not
# its `__context__`. `raise ... from None` would only hide it from tracebacks: a pickler that
# carries the chain along (tblib's, which Dask installs in every worker) would send the body,
# and any token a server echoed in it, with the SDK's redacted error.


def decode_model(response: Response, cls: type[T]) -> T:
    parsed = typed_model(response.content, cls)
    if parsed is not None:
        return parsed
    data = response.json()
    try:
        return _structure(data, cls)
    except ValueError as exc:
        reason = str(exc)
    raise ResponseDecodeError.from_response(response, reason)  # unchained: see _unchained


def decode_list(response: Response, cls: type[T]) -> list[T]:
    """A JSON array of `cls`, or `{"data": [...]}` (the bulk reply)."""
    parsed = typed_list(response.content, cls)
    if parsed is not None:
        return parsed
    data = response.json()
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise ResponseDecodeError.from_response(response, "expected a JSON array")
    try:
        return _structure_list(data, cls)
    except ValueError as exc:
        reason = str(exc)
    raise ResponseDecodeError.from_response(response, reason)  # unchained: see _unchained


def decode_page(response: Response, cls: type[T]) -> Page[T]:
    """`{"data": [...], "meta": {...}}` into a `Page`; a missing or odd meta is a decode error."""
    page = typed_page(response.content, cls)
    if page is not None:
        return page
    body = response.json()
    page = fast_page(body, cls)
    if page is not _SLOW:
        return page
    if not isinstance(body, dict):
        raise ResponseDecodeError.from_response(response, "expected a JSON object with data and meta")
    items, meta = body.get("data"), body.get("meta")
    if not isinstance(items, list):
        raise ResponseDecodeError.from_response(response, "'data' is missing or not an array")
    try:
        page_meta = _structure(meta, PageMeta)
        problem = meta_problem(page_meta)
        if problem is not None:
            raise ValueError(problem)
        return Page(_structure_list(items, cls), page_meta)
    except ValueError as exc:
        reason = str(exc)
    raise ResponseDecodeError.from_response(response, reason)  # unchained: see _unchained
