"""The fast decoders of the hot models (Project, User, PageMeta, a page of them, the bulk reply).

Each gives exactly what the cattrs converter (`_models.structure`) gives, or steps aside and
lets it answer (which also gives its precise error). Two of them, fastest first:

1. With msgspec installed (the `[speed]` extra), `typed_page` / `typed_list` / `typed_model`
   build the attrs instances straight from the bytes, in C: a page costs about what parsing it
   costs (with the C extension, lists are decoded as msgspec structs, copied into the models:
   `_c_builders.adopter`). msgspec's checks are the converter's (exact int and str, no bool for int, unknown keys
   ignored) and its timestamp grammar is `_rfc3339`'s; a timestamp without offset, which msgspec
   would leave naive where the SDK reads UTC, it refuses (the models' `AwareDatetime`). Such a
   reply, a body that is not UTF-8 (msgspec skips unknown values without reading them) and
   anything else msgspec refuses go to the next decoder.
2. `fast_one` / `fast_list` / `fast_page` take parsed JSON (from `_json.loads`) and build the
   instances: in C when the optional extension is built (`_c_builders`), with plain Python
   functions generated per model otherwise. Both do the same checks: exact types
   (`type(v) is int`), timestamps in `_rfc3339`'s grammar (in Python a list's column of them at
   once: `parse_many`), and `_SLOW` for anything else (a missing key, another type, a bad
   timestamp), which sends the call to the converter.

How an instance is built: attrs' frozen `__init__` sets each field with an
`object.__setattr__` call. The builders make the instance as a `_builder_class(cls)` instead, a
subclass that adds no slots and takes plain attribute stores (which CPython runs as direct slot
writes), and then make it a `cls` by `__class__` assignment, which CPython allows between a
class and such a subclass. The result is the model itself (its type, its frozen `__setattr__`),
for about 90 ns a Project, where a setter call per field costs 210 ns and `Project(...)` 350 ns.
(`_types` builds its Request and Response the same way, from a mutable base class of theirs.)

tests/core/test_decode_fast.py checks on generated input that every path agrees with the
converter, value or error, with msgspec and without, with the C builders and the Python ones.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from itertools import repeat, starmap
from operator import attrgetter, countOf, itemgetter
from typing import Any, Final, TypeVar, get_type_hints

import attrs

from . import _c_builders, _json
from ._models import PAGE_META_KEYS, AwareDatetime, Page, PageMeta, Project, User
from ._rfc3339 import FAST_SHAPE, parse_datetime, parse_many

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


# -- building an instance ------------------------------------------------------------------------


def _builder_class(cls: type) -> type | None:
    """A subclass of `cls` whose instances take plain attribute stores (attrs' frozen
    `__setattr__` and `__delattr__` undone, both: either alone leaves CPython's slow path) and
    become a `cls` by `__class__` assignment; None where the interpreter refuses that."""
    builder = type(
        f"_{cls.__name__}Builder",
        (cls,),
        {
            "__slots__": (),
            "__setattr__": object.__setattr__,
            "__delattr__": object.__delattr__,
            "__init__": object.__init__,  # `builder()` is then a C call: 45 ns, object.__new__ 70
        },
    )
    probe: Any = builder()
    try:
        probe.__class__ = cls
    except TypeError:
        return None
    return builder


def _namespace(cls: type, names: list[str], builder: type | None) -> dict[str, Any]:
    namespace: dict[str, Any] = {"cls": cls, "builder": builder, "new": object.__new__, "_SLOW": _SLOW}
    for index, name in enumerate(names):
        namespace[f"set_{index}"] = cls.__dict__[name].__set__  # the slot's member descriptor
    return namespace


def _blanks(builder: type | None) -> str:
    """A Python expression: a list of `n` instances for `_fill`, made in C (`starmap`), which
    saves a list builder a call and an append per item (about 15 ns)."""
    return "[*map(new, repeat(cls, n))]" if builder is None else "[*starmap(builder, repeat((), n))]"


def _fill(names: list[str], builder: type | None) -> list[str]:
    """Source lines that make `b`, a blank instance (`builder()`, or without a builder class
    `object.__new__(cls)`), a `cls` whose field `names[i]` is `v{i}`. Without a builder class,
    each slot is set through its descriptor, as attrs' frozen `__init__` does. _fields() refused
    any class whose `__init__` would do more (converters, validators, post-init)."""
    if builder is None:
        return [f"set_{index}(b, v{index})" for index in range(len(names))]
    stores = [f"b.{name} = v{index}" for index, name in enumerate(names)]
    return [*stores, "b.__class__ = cls"]


def _instance(names: list[str], builder: type | None) -> list[str]:
    return ["b = new(cls)" if builder is None else "b = builder()", *_fill(names, builder)]


def _constructor(cls: type, names: list[str], builder: type | None) -> Callable[..., Any]:
    """`make(v0, v1, ...)`: `cls(v0, v1, ...)` without checks, at the builders' cost."""
    values = ", ".join(f"v{index}" for index in range(len(names)))
    lines = (
        [f"def make({values}):"] + [f"    {line}" for line in _instance(names, builder)] + ["    return b"]
    )
    namespace = _namespace(cls, names, builder)
    exec("\n".join(lines), namespace)  # the source holds only field names
    make: Callable[..., Any] = namespace["make"]
    return make


# -- 2. from parsed JSON -------------------------------------------------------------------------


def _checks(plan: list[tuple[str, str, Any]], *, stamps_read: bool) -> list[str]:
    """Source lines that check (and for a timestamp, read) each `v{i}`, or `return _SLOW`.
    `stamps_read`: the required timestamps are datetimes already (`parse_many` read them)."""
    lines = []
    for index, (_, _, kind) in enumerate(plan):
        var = f"v{index}"
        if kind is int:
            lines.append(f"if type({var}) is not int: return _SLOW")
        elif kind is str:
            lines.append(f"if type({var}) is not str: return _SLOW")
        elif kind == (str | None):
            lines.append(f"if {var} is not None and type({var}) is not str: return _SLOW")
        elif kind is datetime and stamps_read:
            pass
        else:  # datetime, or datetime | None: parse_datetime's own fast test, inlined
            reader = [
                f"if {FAST_SHAPE.format(v=var)}: {var} = fromisoformat({var})",
                f"else: {var} = parse_datetime({var})",
            ]
            if kind is datetime:
                lines += reader
            else:
                lines += [f"if {var} is not None:"] + [f"    {line}" for line in reader]
    return lines


def _compile(
    cls: type, plan: list[tuple[str, str, Any]], builder: type | None, *, many: bool
) -> Callable[[Any], Any]:
    """`fast(obj) -> instance | _SLOW`, or with `many`, `fast(list) -> [instance] | _SLOW`.

    The list builder reads the list by columns first: every item's values at once
    (`itemgetter` and `zip`, in C), each required timestamp column by `parse_many`; then it
    makes the blank instances at once (`_blanks`), and one loop checks the other values and
    fills them."""
    names = [name for name, _, _ in plan]
    values = [f"v{index}" for index in range(len(plan))]
    if many:
        columns = [f"c{index}" for index in range(len(plan))]
        lines = [
            "def fast(items):",
            "    try:",
            "        if not items: return []",
            "        if countOf(map(type, items), dict) != len(items): return _SLOW",  # a Mapping: the converter reads it
            f"        {', '.join(columns)}, = zip(*map(getter, items))"
            if len(plan) > 1
            else "        c0 = tuple(map(getter, items))",
        ]
        lines += [
            f"        c{i} = parse_many(c{i})" for i, (_, _, kind) in enumerate(plan) if kind is datetime
        ]
        lines += [
            "        n = len(items)",
            f"        out = {_blanks(builder)}",
            f"        for b, {', '.join(values)}, in zip(out, {', '.join(columns)}):",
        ]
        lines += [f"            {line}" for line in _checks(plan, stamps_read=True) + _fill(names, builder)]
        lines += [
            "        return out",
            "    except Exception:",
            "        return _SLOW",
        ]
    else:
        lines = ["def fast(o):", "    try:", "        if type(o) is not dict: return _SLOW"]
        lines += [f"        v{index} = o[{key!r}]" for index, (_, key, _) in enumerate(plan)]
        lines += [f"        {line}" for line in _checks(plan, stamps_read=False) + _instance(names, builder)]
        lines += ["        return b", "    except Exception:", "        return _SLOW"]
    namespace = _namespace(cls, names, builder)
    keys = [key for _, key, _ in plan]
    namespace.update(
        getter=itemgetter(*keys),
        fromisoformat=datetime.fromisoformat,
        parse_datetime=parse_datetime,
        parse_many=parse_many,
        countOf=countOf,
        repeat=repeat,
        starmap=starmap,
    )
    exec("\n".join(lines), namespace)  # the source holds only field names and JSON keys, as reprs
    fast: Callable[[Any], Any] = namespace["fast"]
    return fast


# The compiled functions of each model, made on its first use (None: no fast path for it), so
# that `import asyncapi_client` does not pay for compiling them.
_one: dict[type, Callable[[Any], Any] | None] = {}
_many: dict[type, Callable[[Any], Any] | None] = {}


def _prepare(cls: type, *, use_c: bool = True) -> None:
    """Fill `_one` and `_many` for `cls`: the C builders when the extension is built (and
    `use_c`), the Python ones otherwise."""
    plan = _fields(cls) if cls in FAST_MODELS else None
    if plan is None:
        _one[cls] = _many[cls] = None
        return
    compiled = _c_builders.builders(cls, plan, _SLOW) if use_c else None
    if compiled is not None:
        _one[cls], _many[cls] = compiled
        return
    builder = _builder_class(cls)
    _one[cls] = _compile(cls, plan, builder, many=False)
    _many[cls] = _compile(cls, plan, builder, many=True)

_new_page: Final[Callable[[list[Any], PageMeta], Page[Any]]] = _constructor(
    Page, ["data", "meta"], _builder_class(Page)
)


def fast_one(data: Any, cls: type[T]) -> T:
    """The instance, or `_SLOW`."""
    if cls not in _one:
        _prepare(cls)
    fast = _one[cls]
    return _SLOW if fast is None else fast(data)  # type: ignore[no-any-return]


def fast_list(items: list[Any], cls: type[T]) -> list[T]:
    """The instances, or `_SLOW` (for the whole list)."""
    if cls not in _many:
        _prepare(cls)
    fast = _many[cls]
    return _SLOW if fast is None else fast(items)  # type: ignore[no-any-return]


def fast_page(body: Any, cls: type[T]) -> Page[T]:
    """`{"data": [...], "meta": {...}}` (parsed) as a page, or `_SLOW`."""
    if cls not in _many:
        _prepare(cls)
    if PageMeta not in _one:
        _prepare(PageMeta)
    many, one_meta = _many[cls], _one[PageMeta]
    if many is None or one_meta is None or type(body) is not dict:
        return _SLOW  # type: ignore[no-any-return]
    items = body.get("data")
    if type(items) is not list:
        return _SLOW  # type: ignore[no-any-return]
    meta = one_meta(body.get("meta"))
    if meta is _SLOW or meta_problem(meta) is not None:
        return _SLOW  # type: ignore[no-any-return]
    data = many(items)
    return _SLOW if data is _SLOW else _new_page(data, meta)


# -- 1. straight from the bytes (msgspec) --------------------------------------------------------


def _refuses_naive(cls: type) -> bool:
    """Whether msgspec refuses a naive timestamp in every datetime field of `cls` (annotated
    `AwareDatetime`): the SDK reads a naive one as UTC, msgspec would leave it naive."""
    plain, annotated = get_type_hints(cls), get_type_hints(cls, include_extras=True)
    return all(
        annotated[name] in (AwareDatetime, AwareDatetime | None)
        for name, kind in plain.items()
        if kind in (datetime, datetime | None)
    )


class _Typed:
    """msgspec decoders for one model: alone, a list, a page; `adopt` (C, or None) makes a list
    of structs of the model's fields (the same types, so the same checks) the model's."""

    __slots__ = ("one", "many", "page", "adopt")
    adopt: Callable[[Any], Any] | None

    def __init__(self, cls: type, meta_spec: Any) -> None:
        import msgspec

        plan = _fields(cls)
        adopter = None if plan is None else _c_builders.adopter(cls, plan, _SLOW)
        item, self.adopt = adopter or (cls, None)
        self.one = _json.typed_decoder(cls)
        self.many = _json.typed_decoder(list[item])  # type: ignore[valid-type]
        page = msgspec.defstruct(f"_{cls.__name__}Page", [("data", list[item]), ("meta", meta_spec)])  # type: ignore[valid-type]
        self.page = _json.typed_decoder(page)


# Each model's decoders, made on its first use as `_one` is (None: msgspec cannot build it).
_typed: dict[type, _Typed | None] = {}
_DECODE_ERRORS: tuple[type[BaseException], ...] = ()
_META_PLAN: Final = _fields(PageMeta)
assert _META_PLAN is not None
_META_KEYS: Final = [key for _, key, _ in _META_PLAN]
_meta_values: Final = attrgetter(*_META_KEYS)  # from msgspec's struct
_new_meta: Final = _constructor(PageMeta, [name for name, _, _ in _META_PLAN], _builder_class(PageMeta))
_meta_json: list[Any] = []  # msgspec's struct for a page's meta, once made

if _json.msgspec is not None:
    _DECODE_ERRORS = (_json.msgspec.DecodeError, RecursionError, TypeError)


def _typed_for(cls: type) -> _Typed | None:
    typed = None
    if _json.msgspec is not None and cls in (Project, User) and _fields(cls) is not None and _refuses_naive(cls):
        if not _meta_json:
            _meta_json.append(_json.msgspec.defstruct("_PageMetaJSON", [(key, int) for key in _META_KEYS]))
        typed = _Typed(cls, _meta_json[0])
    _typed[cls] = typed
    return typed


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
    typed = _typed[cls] if cls in _typed else _typed_for(cls)
    if typed is None or not _utf8(content):
        return None
    try:
        body = typed.page(content)
    except _DECODE_ERRORS:
        return None
    meta: PageMeta = _new_meta(*_meta_values(body.meta))
    data = body.data if typed.adopt is None else typed.adopt(body.data)
    return None if data is _SLOW or meta_problem(meta) is not None else _new_page(data, meta)


def typed_list(content: bytes, cls: type[T]) -> list[T] | None:
    typed = _typed[cls] if cls in _typed else _typed_for(cls)
    if typed is None or not _utf8(content):
        return None
    try:
        items: list[T] = typed.many(content)
    except _DECODE_ERRORS:
        return None
    adopted = items if typed.adopt is None else typed.adopt(items)
    return None if adopted is _SLOW else adopted


def typed_model(content: bytes, cls: type[T]) -> T | None:
    typed = _typed[cls] if cls in _typed else _typed_for(cls)
    if typed is None or not _utf8(content):
        return None
    try:
        item: T = typed.one(content)
    except _DECODE_ERRORS:
        return None
    return item
