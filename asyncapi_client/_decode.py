"""Turn a Response into a model or a typed error. Pure functions; no I/O."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final, TypeVar, get_type_hints

import attrs

from ._errors import APIStatusError, ResponseDecodeError, error_from_envelope
from ._models import Page, PageMeta, Project, User, parse_datetime, structure
from ._retry_after import parse_retry_after
from ._types import Response

T = TypeVar("T")

# -- the fast path of `structure` -----------------------------------------------------------
#
# cattrs' generated function (with its per-field try/except and notes) costs about 1.5 us per
# Project. For the models made only of ints, strings and timestamps, a plain function does the
# same work in about half that: it takes exactly the values that cattrs would accept unchanged
# (`type(v) is int`, `type(v) is str`, None where allowed) and parses timestamps with the same
# `parse_datetime`. Anything else (a missing key, another type, a bad timestamp, an object that
# is not a dict) makes it answer `_SLOW`, and the call goes through `structure` as before, which
# also gives the error. tests/core/test_decode_fast.py checks both paths agree.

_SLOW: Final[Any] = object()
_FAST_MODELS: Final = (Project, User)
_fast: dict[type, Callable[[dict[str, Any]], Any]] = {}


def _compile_fast(cls: type) -> Callable[[dict[str, Any]], Any] | None:
    """The fast decoder of an attrs class whose fields are int, str, datetime (or those or
    None), all plain positional `__init__` parameters; None for any other class."""
    hints = get_type_hints(cls)
    lines = ["def fast(o):", "    try:"]
    names = []
    for index, field in enumerate(attrs.fields(cls)):
        if not field.init or field.kw_only or field.alias != field.name or field.converter is not None:
            return None
        kind = hints.get(field.name)
        var = f"v{index}"
        lines.append(f"        {var} = o[{field.name!r}]")
        if kind is int:
            lines.append(f"        if type({var}) is not int: return _SLOW")
        elif kind is str:
            lines.append(f"        if type({var}) is not str: return _SLOW")
        elif kind == (str | None):
            lines.append(f"        if {var} is not None and type({var}) is not str: return _SLOW")
        elif kind is datetime:
            lines.append(f"        {var} = parse_datetime({var})")
        elif kind == (datetime | None):
            lines.append(f"        if {var} is not None: {var} = parse_datetime({var})")
        else:
            return None
        names.append(var)
    lines.append(f"        return cls({', '.join(names)})")
    lines.append("    except Exception:")
    lines.append("        return _SLOW")
    namespace: dict[str, Any] = {"cls": cls, "parse_datetime": parse_datetime, "_SLOW": _SLOW}
    exec("\n".join(lines), namespace)  # the source holds only field names, as reprs
    fast: Callable[[dict[str, Any]], Any] = namespace["fast"]
    return fast


for _model in _FAST_MODELS:
    _fn = _compile_fast(_model)
    if _fn is not None:
        _fast[_model] = _fn


def _structure(data: Any, cls: type[T]) -> T:
    """`structure(data, cls)`, through the fast path when there is one and it applies."""
    if type(data) is dict:
        fast = _fast.get(cls)
        if fast is not None:
            result = fast(data)
            if result is not _SLOW:
                return result  # type: ignore[no-any-return]
    return structure(data, cls)


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


def decode_model(response: Response, cls: type[T]) -> T:
    data = response.json()
    try:
        return _structure(data, cls)
    except ValueError as exc:
        raise ResponseDecodeError.from_response(response, str(exc)) from None


def decode_list(response: Response, cls: type[T]) -> list[T]:
    data = response.json()
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise ResponseDecodeError.from_response(response, "expected a JSON array")
    try:
        return [_structure(item, cls) for item in data]
    except ValueError as exc:
        raise ResponseDecodeError.from_response(response, str(exc)) from None


def decode_page(response: Response, cls: type[T]) -> Page[T]:
    """`{"data": [...], "meta": {...}}` into a `Page`; a missing or odd meta is a decode error."""
    body = response.json()
    if not isinstance(body, dict):
        raise ResponseDecodeError.from_response(response, "expected a JSON object with data and meta")
    items, meta = body.get("data"), body.get("meta")
    if not isinstance(items, list):
        raise ResponseDecodeError.from_response(response, "'data' is missing or not an array")
    try:
        page_meta = structure(meta, PageMeta)
        if (
            page_meta.current_page < 1
            or page_meta.total_pages < 0
            or page_meta.total_items < 0
            or page_meta.items_per_page < 1
        ):
            raise ValueError("meta holds a negative or zero count")
        return Page([_structure(item, cls) for item in items], page_meta)
    except ValueError as exc:
        raise ResponseDecodeError.from_response(response, str(exc)) from None
