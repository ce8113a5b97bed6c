"""The resources as attrs value classes, decoded by one cattrs converter.

Unknown fields in a reply are ignored (the API may add fields; old SDKs keep working). A reply
that does not fit (a missing field, a wrong type, a bad timestamp) raises `ResponseDecodeError`
through `structure`, never a bare KeyError or TypeError. Timestamps are RFC 3339 (`_rfc3339`).
The hot models also have a faster decoder that gives the same results (`_fast_decode`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Generic, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, override

from ._rfc3339 import parse_datetime as parse_datetime  # re-exported: webhook events use it
from ._secret import Secret

T = TypeVar("T")


@attrs.frozen(slots=True)
class User:
    id: int
    name: str
    email: str
    created_at: datetime


@attrs.frozen(slots=True)
class NewUser:
    """A user to create (`users.create`, `users.bulk_create`)."""

    name: str
    email: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "email": self.email}


@attrs.frozen(slots=True)
class Project:
    id: int
    name: str
    description: str | None
    created_at: datetime
    updated_at: datetime


@attrs.frozen(slots=True)
class PageMeta:
    current_page: int
    total_pages: int
    total_items: int
    items_per_page: int


PAGE_META_KEYS: dict[str, str] = {
    "current_page": "currentPage",
    "total_pages": "totalPages",
    "total_items": "totalItems",
    "items_per_page": "itemsPerPage",
}
"""PageMeta's fields by their JSON keys (the API writes `meta` in camelCase)."""


@attrs.frozen(slots=True)
class Page(Generic[T]):
    """One page of a list: its items and the server's `meta` block."""

    data: list[T]
    meta: PageMeta


@attrs.frozen(slots=True)
class Webhook:
    """A webhook registration. `secret` (a masked `Secret`) comes only in the reply to create."""

    id: int
    url: str
    events: list[str]
    secret: Secret | None = attrs.field(default=None, repr=False)
    created_at: datetime | None = None


def _structure_int(value: Any, _: Any) -> int:
    # bool is an int in Python, and a float like 1.5 would be truncated: refuse both.
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value


def _structure_bool(value: Any, _: Any) -> bool:
    # Registered because the int hook would otherwise catch bool (a subclass of int).
    if not isinstance(value, bool):
        raise TypeError(f"expected a boolean, got {type(value).__name__}")
    return value


def _structure_str(value: Any, _: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _renamed(keys: dict[str, str]) -> dict[str, Any]:
    return {name: override(rename=key) for name, key in keys.items()}


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=False)
    conv.register_structure_hook(datetime, lambda v, _: parse_datetime(v))
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(bool, _structure_bool)
    conv.register_structure_hook(Secret, lambda v, _: Secret(_structure_str(v, None)))
    conv.register_unstructure_hook(datetime, lambda d: d.isoformat())
    conv.register_structure_hook(
        PageMeta,
        make_dict_structure_fn(PageMeta, conv, **_renamed(PAGE_META_KEYS)),
    )
    return conv


converter = _make_converter()


def structure(data: Any, cls: type[T]) -> T:
    """Decode `data` into `cls`; raises ValueError (with a short reason) on any mismatch."""
    if type(data) is not dict and not isinstance(data, Mapping):
        raise ValueError(f"expected a JSON object for {cls.__name__}, got {type(data).__name__}")
    try:
        return converter.structure(data, cls)
    except Exception as exc:  # cattrs raises many shapes (ClassValidationError, KeyError, ...)
        raise ValueError(f"does not fit {cls.__name__}: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, cattrs.ClassValidationError) and exc.exceptions:
        inner = exc.exceptions[0]
        notes = getattr(inner, "__notes__", None) or []
        where = f" ({notes[0]})" if notes else ""
        return f"{type(inner).__name__}{where}"
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}" if exc.args else "missing field"
    return type(exc).__name__
