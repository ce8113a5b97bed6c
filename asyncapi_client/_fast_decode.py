"""The fast decoders of the hot models (Project, User, PageMeta, a page of them, the bulk reply).

Each gives exactly what the cattrs converter (`_models.structure`) gives, or steps aside and
lets it answer (which also gives its precise error). Two of them, fastest first:

1. With msgspec installed (the `[speed]` extra), `typed_page` / `typed_list` / `typed_model`
   build the attrs instances straight from the bytes, in C: a page costs about what parsing it
   costs. msgspec's checks are the converter's (exact int and str, no bool for int, unknown keys
   ignored) and its timestamp grammar is `_rfc3339`'s, except that it leaves a timestamp without
   offset naive where the SDK reads UTC: such a reply, a body that is not UTF-8 (msgspec skips
   unknown values without reading them) and anything msgspec refuses go to the next decoder.
2. `fast_one` / `fast_list` take parsed JSON (from `_json.loads`) and build the instances with a
   plain function generated per model: exact-type checks (`type(v) is int`), timestamps through
   `parse_datetime`, and `_SLOW` for anything else (a missing key, another type, a bad
   timestamp), which sends the call to the converter.

tests/core/test_decode_fast.py checks on generated input that every path agrees with the
converter, value or error, with msgspec and without.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from itertools import chain
from operator import attrgetter
from typing import Any, Final, TypeVar, get_type_hints

import attrs

from . import _json
from ._models import PAGE_META_KEYS, Page, PageMeta, Project, User
from ._rfc3339 import FAST_SHAPE, parse_datetime

T = TypeVar("T")

_SLOW: Final[Any] = object()
FAST_MODELS: Final = (Project, User, PageMeta)
_JSON_KEYS: Final[dict[type, dict[str, str]]] = {PageMeta: PAGE_META_KEYS}


def meta_problem(meta: PageMeta) -> str | None:
    """Why a decoded `meta` cannot be paged by, or None."""
    if meta.current_page < 1 or meta.total_pages < 0 or meta.total_items < 0 or meta.items_per_page < 1:
        return "meta holds a negative or zero count"
    return None


def _fields(cls: type) -> list[tuple[str, str, Any]] | None:
    """[(field, JSON key, type)] of a slotted attrs class every field of which is an int, a str,
    a datetime (or one of those or None), set by a plain `__init__` parameter; None otherwise."""
    if (
        not attrs.has(cls)
        or "__slots__" not in cls.__dict__
        or getattr(cls, "__attrs_post_init__", None) is not None
        or getattr(cls, "__attrs_pre_init__", None) is not None
    ):
        return None
    hints = get_type_hints(cls)
    keys = _JSON_KEYS.get(cls, {})
    plan = []
    for field in attrs.fields(cls):
        kind = hints.get(field.name)
        if (
            not field.init
            or field.kw_only
            or field.alias != field.name
            or field.converter is not None
            or field.validator is not None
            or kind not in (int, str, str | None, datetime, datetime | None)
        ):
            return None
        plan.append((field.name, keys.get(field.name, field.name), kind))
    return plan


# -- 2. from parsed JSON -------------------------------------------------------------------------


def _compile(cls: type, plan: list[tuple[str, str, Any]], *, many: bool) -> Callable[[Any], Any]:
    """`fast(obj) -> instance | _SLOW`, or with `many`, `fast(list) -> [instance] | _SLOW`."""
    body = ["if type(o) is not dict: return _SLOW"]  # a Mapping: the converter reads it
    for index, (_, key, kind) in enumerate(plan):
        var = f"v{index}"
        body.append(f"{var} = o[{key!r}]")
        if kind is int:
            body.append(f"if type({var}) is not int: return _SLOW")
        elif kind is str:
            body.append(f"if type({var}) is not str: return _SLOW")
        elif kind == (str | None):
            body.append(f"if {var} is not None and type({var}) is not str: return _SLOW")
        else:  # datetime, or datetime | None: parse_datetime's own fast test, inlined
            reader = [
                f"if {FAST_SHAPE.format(v=var)}: {var} = fromisoformat({var})",
                f"else: {var} = parse_datetime({var})",
            ]
            if kind is datetime:
                body += reader
            else:
                body += [f"if {var} is not None:"] + [f"    {line}" for line in reader]
    # The instance without attrs' frozen __init__ (an object.__setattr__ call per field): each
    # slot set through its descriptor, as that __init__ does. _fields() refused any class whose
    # __init__ would do more (converters, validators, __attrs_post_init__).
    body.append("b = new(cls)")
    body += [f"set_{index}(b, v{index})" for index in range(len(plan))]
    if many:
        lines = ["def fast(items):", "    out = []", "    append = out.append", "    try:"]
        lines += ["        for o in items:"] + [f"            {line}" for line in body]
        lines += ["            append(b)", "    except Exception:", "        return _SLOW", "    return out"]
    else:
        lines = ["def fast(o):", "    try:"] + [f"        {line}" for line in body]
        lines += ["        return b", "    except Exception:", "        return _SLOW"]
    namespace: dict[str, Any] = {
        "cls": cls,
        "new": object.__new__,
        "fromisoformat": datetime.fromisoformat,
        "parse_datetime": parse_datetime,
        "_SLOW": _SLOW,
    }
    for index, (name, _, _) in enumerate(plan):
        namespace[f"set_{index}"] = cls.__dict__[name].__set__  # the slot's member descriptor
    exec("\n".join(lines), namespace)  # the source holds only JSON keys, as reprs
    fast: Callable[[Any], Any] = namespace["fast"]
    return fast


_one: dict[type, Callable[[Any], Any]] = {}
_many: dict[type, Callable[[Any], Any]] = {}
for _model in FAST_MODELS:
    _plan = _fields(_model)
    if _plan is not None:
        _one[_model] = _compile(_model, _plan, many=False)
        _many[_model] = _compile(_model, _plan, many=True)


def fast_one(data: Any, cls: type[T]) -> T:
    """The instance, or `_SLOW`."""
    fast = _one.get(cls)
    return _SLOW if fast is None else fast(data)  # type: ignore[no-any-return]


def fast_list(items: list[Any], cls: type[T]) -> list[T]:
    """The instances, or `_SLOW` (for the whole list)."""
    fast = _many.get(cls)
    return _SLOW if fast is None else fast(items)  # type: ignore[no-any-return]


# -- 1. straight from the bytes (msgspec) --------------------------------------------------------


class _Typed:
    """msgspec decoders for one model: alone, a list, a page; and its naive-timestamp check."""

    __slots__ = ("one", "many", "page", "tz_of", "stamps")

    def __init__(self, cls: type, plan: list[tuple[str, str, Any]], meta_spec: Any) -> None:
        import msgspec

        self.one = _json.typed_decoder(cls)
        self.many = _json.typed_decoder(list[cls])  # type: ignore[valid-type]
        page = msgspec.defstruct(f"_{cls.__name__}Page", [("data", list[cls]), ("meta", meta_spec)])  # type: ignore[valid-type]
        self.page = _json.typed_decoder(page)
        stamps = [f"{name}.tzinfo" for name, _, kind in plan if kind is datetime]
        self.stamps = len(stamps)
        self.tz_of: Callable[[Any], Any] = attrgetter(*stamps) if stamps else type

    def has_naive(self, items: list[Any]) -> bool:
        """Whether a timestamp came without offset (msgspec leaves it naive; the SDK reads UTC)."""
        if not self.stamps:
            return False
        tzinfos = map(self.tz_of, items)  # C loops: about 30 ns per item
        return None in (chain.from_iterable(tzinfos) if self.stamps > 1 else tzinfos)


_typed: dict[type, _Typed] = {}
_meta_from_json: Callable[[Any], PageMeta] | None = None
_DECODE_ERRORS: tuple[type[BaseException], ...] = ()

if _json.msgspec is not None:
    _msgspec = _json.msgspec
    _DECODE_ERRORS = (_msgspec.DecodeError, RecursionError, TypeError)
    _meta_plan = _fields(PageMeta)
    assert _meta_plan is not None
    _MetaJSON = _msgspec.defstruct("_PageMetaJSON", [(key, int) for _, key, _ in _meta_plan])
    _meta_values = attrgetter(*(key for _, key, _ in _meta_plan))

    def _meta_from_json(meta: Any) -> PageMeta:
        return PageMeta(*_meta_values(meta))

    for _model in (Project, User):
        _plan = _fields(_model)
        # An optional timestamp would need a None-aware naive check: no hot model has one.
        if _plan is not None and all(kind != (datetime | None) for _, _, kind in _plan):
            _typed[_model] = _Typed(_model, _plan, _MetaJSON)


def _utf8(content: bytes) -> bool:
    """Whether `json.loads` reads the body as text (msgspec does not check skipped values)."""
    if content.isascii():
        return True
    try:
        content.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return False
    return True


def typed_page(content: bytes, cls: type[T]) -> Page[T] | None:
    """The page, or None: ask the next decoder."""
    typed = _typed.get(cls)
    if typed is None or not _utf8(content):
        return None
    try:
        body = typed.page(content)
    except _DECODE_ERRORS:
        return None
    items = body.data
    meta = _meta_from_json(body.meta)  # type: ignore[misc]
    if meta_problem(meta) is not None or typed.has_naive(items):
        return None
    return Page(items, meta)


def typed_list(content: bytes, cls: type[T]) -> list[T] | None:
    typed = _typed.get(cls)
    if typed is None or not _utf8(content):
        return None
    try:
        items: list[T] = typed.many(content)
    except _DECODE_ERRORS:
        return None
    return None if typed.has_naive(items) else items


def typed_model(content: bytes, cls: type[T]) -> T | None:
    typed = _typed.get(cls)
    if typed is None or not _utf8(content):
        return None
    try:
        item: T = typed.one(content)
    except _DECODE_ERRORS:
        return None
    return None if typed.has_naive([item]) else item
