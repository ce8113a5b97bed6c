"""The resources as attrs value classes, decoded by one cattrs converter.

Unknown fields in a reply are ignored (the API may add fields; old SDKs keep working). A reply
that does not fit (a missing field, a wrong type, a bad timestamp) raises `ResponseDecodeError`
through `structure`, never a bare KeyError or TypeError. Timestamps are RFC 3339 (`_rfc3339`).
The hot models also have a faster decoder that gives the same results (`_fast_decode`).

Every model serialises the way the API writes it, and reads that back:

    project.to_dict()     # {"id": 1, "name": ..., "created_at": "2024-05-01T12:00:00.123Z"}
    project.to_json()     # the same, as a compact JSON string (what the CLI prints)
    Project.from_dict(d)  # and back; a dict that does not fit is a ValueError saying why

The dict holds only JSON types, under the API's field names (`PageMeta` as `currentPage`, ...),
with timestamps as RFC 3339 / ISO 8601 strings in UTC with a `Z`; `to_dict()` is typed as a
`TypedDict` per model, so a misspelt key is a type error. A webhook's signing `secret` is never
serialised (it is a `Secret`): store `hook.secret.get()` yourself where your receiver reads it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Annotated, Any, Generic, TypeAlias, TypedDict, TypeVar, cast

import attrs
import cattrs
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from . import _json
from ._rfc3339 import parse_datetime as parse_datetime  # re-exported: webhook events use it
from ._secret import Secret

T = TypeVar("T")
D = TypeVar("D")
M = TypeVar("M", bound="_Model[Any]")

AwareDatetime: TypeAlias = Annotated[datetime, _json.AWARE]
"""A datetime with its offset, as every timestamp the models hold. To type checkers and cattrs a
plain `datetime`; to msgspec's decoder (the `[speed]` extra) a timestamp that must come with an
offset: it refuses one without, and that reply goes to the parser that reads it as UTC."""


class UserDict(TypedDict):
    """`User.to_dict()`."""

    id: int
    name: str
    email: str
    created_at: str


class NewUserDict(TypedDict):
    """`NewUser.to_dict()`: the body of a create."""

    name: str
    email: str


class ProjectDict(TypedDict):
    """`Project.to_dict()`."""

    id: int
    name: str
    description: str | None
    created_at: str
    updated_at: str


class PageMetaDict(TypedDict):
    """`PageMeta.to_dict()`: the API's `meta` block, camelCase as the API writes it."""

    currentPage: int
    totalPages: int
    totalItems: int
    itemsPerPage: int


class PageDict(TypedDict):
    """`Page.to_dict()`: `{"data": [item dicts], "meta": {...}}`."""

    data: list[dict[str, object]]
    meta: PageMetaDict


class WebhookDict(TypedDict):
    """`Webhook.to_dict()` (never the secret)."""

    id: int
    url: str
    events: list[str]
    created_at: str | None


class WebhookDeliveryDict(TypedDict):
    """`WebhookDelivery.to_dict()`."""

    id: int
    event_id: str
    event_type: str
    attempt: int
    status_code: int | None
    error: str | None
    succeeded: bool
    created_at: str


class _Model(Generic[D]):
    """`to_dict()`, `to_json()` and `from_dict()` for a model whose dict form is `D`."""

    __slots__ = ()

    def to_dict(self) -> D:
        """This model as the API writes it: JSON types only, the API's field names, timestamps
        as RFC 3339 strings."""
        return cast(D, converter.unstructure(self))

    def to_json(self, *, indent: int | None = None) -> str:
        """`to_dict()` as a JSON string (compact unless `indent` is given; non-ASCII kept)."""
        separators = (",", ":") if indent is None else (",", ": ")
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent, separators=separators)

    @classmethod
    def from_dict(cls: type[M], data: Mapping[str, Any]) -> M:
        """The model from its dict form (`to_dict()`'s output, or the API's JSON). Unknown keys
        are ignored; a missing field, a wrong type or a bad timestamp is a ValueError."""
        return structure(data, cls)


@attrs.frozen(slots=True)
class User(_Model[UserDict]):
    """A user of the API. `created_at` is an aware datetime (UTC)."""

    id: int
    name: str
    email: str
    created_at: AwareDatetime


@attrs.frozen(slots=True)
class NewUser(_Model[NewUserDict]):
    """A user to create (`users.create`, `users.bulk_create`)."""

    name: str
    email: str


@attrs.frozen(slots=True)
class Project(_Model[ProjectDict]):
    """A project. `created_at` and `updated_at` are aware datetimes (UTC)."""

    id: int
    name: str
    description: str | None
    created_at: AwareDatetime
    updated_at: AwareDatetime


@attrs.frozen(slots=True)
class PageMeta(_Model[PageMetaDict]):
    """The server's pagination block: the page number, the page count, the item count and the
    page size (`currentPage`, `totalPages`, `totalItems`, `itemsPerPage` on the wire)."""

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

    def to_dict(self) -> PageDict:
        """`{"data": [each item's to_dict()], "meta": meta.to_dict()}`, as the API writes it."""
        return cast(PageDict, converter.unstructure(self))

    def to_json(self, *, indent: int | None = None) -> str:
        """`to_dict()` as a JSON string."""
        separators = (",", ":") if indent is None else (",", ": ")
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent, separators=separators)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], item_type: type[T]) -> Page[T]:
        """A page of `item_type` (`Project`, `User`) from its dict form; ValueError if it does
        not fit."""
        return structure(data, cls[item_type])  # type: ignore[index]


@attrs.frozen(slots=True)
class Webhook(_Model[WebhookDict]):
    """A webhook registration, as `webhooks.get()` and `webhooks.list()` return it: no secret
    (the API shows the signing secret only in the reply to `webhooks.create()`, a
    `CreatedWebhook`)."""

    id: int
    url: str
    events: list[str]
    secret: Secret | None = attrs.field(default=None, repr=False)
    created_at: AwareDatetime | None = None


@attrs.frozen(slots=True)
class CreatedWebhook(Webhook):
    """The reply to `webhooks.create()`: a `Webhook` whose `secret` is always there, so
    `WebhookReceiver(hook.secret)` type-checks. Store `hook.secret.get()` where your receiver
    reads it: the API never shows it again."""

    secret: Secret = attrs.field(kw_only=True, repr=False)


def format_datetime(value: datetime) -> str:
    """A datetime as RFC 3339 in UTC with a `Z`, to the millisecond as the API writes it
    (`2024-05-01T12:00:00.123Z`), to the microsecond when it has them; a naive one is taken as
    UTC, as `parse_datetime` does."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    spec = "milliseconds" if value.microsecond % 1000 == 0 else "microseconds"
    return value.astimezone(timezone.utc).isoformat(timespec=spec).replace("+00:00", "Z")


@attrs.frozen(slots=True)
class WebhookDelivery(_Model[WebhookDeliveryDict]):
    """One attempt to deliver one event, as `client.webhooks.deliveries(id)` reports it:
    `status_code` is None when no HTTP answer came back (refused, timed out), and `error` says
    why; `succeeded` is True for a 2xx."""

    id: int
    event_id: str
    event_type: str
    attempt: int
    status_code: int | None
    error: str | None
    succeeded: bool
    created_at: AwareDatetime


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
    conv.register_unstructure_hook(datetime, format_datetime)
    for webhook_class in (Webhook, CreatedWebhook):
        conv.register_unstructure_hook(
            webhook_class, make_dict_unstructure_fn(webhook_class, conv, secret=override(omit=True))
        )
    conv.register_structure_hook(PageMeta, make_dict_structure_fn(PageMeta, conv, **_renamed(PAGE_META_KEYS)))
    conv.register_unstructure_hook(
        PageMeta, make_dict_unstructure_fn(PageMeta, conv, **_renamed(PAGE_META_KEYS))
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


def structure_delivery(item: Any) -> WebhookDelivery:
    """Decode one delivery; event ids may be strings or integers on the wire (kept as str)."""
    if isinstance(item, Mapping):
        event_id = item.get("event_id")
        if isinstance(event_id, int) and not isinstance(event_id, bool):
            item = {**item, "event_id": str(event_id)}
    return structure(item, WebhookDelivery)
