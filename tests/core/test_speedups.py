"""The C builders (`_speedups`): what C code is prone to get wrong, beyond the property tests of
test_decode_fast.py (which run every decoder, these included, against the converter).

The references each value holds, memory across many builds, exact types (bool and int and str
subclasses refused, huge ints kept), the timestamp grammar against `_rfc3339` string by string,
missing and extra keys, items that are not dicts, exceptions raised while a dict is read, and a
process where the extension is refused (`ASYNCAPI_CLIENT_NO_EXTENSIONS=1`), which decodes alike.
"""

from __future__ import annotations

import enum
import gc
import json
import os
import subprocess
import sys
import tracemalloc
import weakref
from datetime import datetime
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from asyncapi_client import Response, _c_builders
from asyncapi_client import _fast_decode as fast
from asyncapi_client._decode import _structure, decode_page
from asyncapi_client._models import PageMeta, Project, User, structure
from asyncapi_client._rfc3339 import parse_rfc3339
from tests.core.test_rfc3339 import _timestamps

REFUSED_BY_ENVIRONMENT = os.environ.get("ASYNCAPI_CLIENT_NO_EXTENSIONS", "") not in ("", "0")

if _c_builders.speedups is None:
    if os.environ.get("ASYNCAPI_TESTS_REQUIRE_SERVICES") == "1" and not REFUSED_BY_ENVIRONMENT:
        raise ImportError("the C extension is not built: `pip install -e .` with a C compiler present")
    pytest.skip("the C extension is not built (no compiler at install) or refused", allow_module_level=True)

speedups = _c_builders.speedups
PROJECT = {
    "id": 7,
    "name": "Apollo",
    "description": "a project",
    "created_at": "2024-05-01T12:00:00Z",
    "updated_at": "2024-05-02T08:30:15.5+02:00",
}
META = {"currentPage": 1, "totalPages": 1, "totalItems": 3, "itemsPerPage": 10}


def _builder(cls: type) -> Any:
    plan = fast._fields(cls)
    assert plan is not None
    one, _ = _c_builders.builders(cls, plan, fast._SLOW)  # type: ignore[misc]
    return one.__self__


PROJECTS = _builder(Project)


def test_the_c_builders_are_the_ones_in_use() -> None:
    fast._prepare(Project)
    assert _c_builders.BUILDER == "C"
    assert type(getattr(fast._many[Project], "__self__", None)) is speedups.Builder
    assert fast.fast_one(dict(PROJECT), Project) == structure(PROJECT, Project)


# -- references and memory -----------------------------------------------------------------------


def test_every_reference_is_released_on_every_path() -> None:
    # Built at run time: a constant may be interned, and from 3.12 immortal (no count to see).
    name, description, stamp = ("".join([text, "!"]) for text in ("x", "y", "2024-05-01T12:00:00Z"))
    stamp = stamp[:-1]
    big = 10**40
    item = {**PROJECT, "id": big, "name": name, "description": description, "created_at": stamp}
    bad_last = {**item, "updated_at": "2024-13-01T00:00:00Z"}  # refused after four values held
    values = (big, name, description, stamp, item)
    counts = [sys.getrefcount(value) for value in values]
    built = PROJECTS.many([item] * 50)
    after = [sys.getrefcount(value) for value in values]
    held = [now - before for now, before in zip(after, counts, strict=True)]
    assert held == [50, 50, 50, 0, 0]  # one each per instance; the timestamp string is read, not kept
    del built
    for _ in range(200):
        PROJECTS.one(item)
        assert PROJECTS.one(bad_last) is fast._SLOW
        assert PROJECTS.many([item, item, bad_last]) is fast._SLOW
        assert PROJECTS.many([item, None]) is fast._SLOW
        assert PROJECTS.one({**item, "id": True}) is fast._SLOW
    gc.collect()
    assert [sys.getrefcount(value) for value in values] == counts


def test_an_instance_is_freed_with_its_values() -> None:
    name = "".join(["a name held by ", "one instance only"])  # built at run time, so mortal
    before = sys.getrefcount(name)
    instance = PROJECTS.one({**PROJECT, "name": name})
    assert sys.getrefcount(name) == before + 1
    freed: list[Any] = []
    reference = weakref.ref(instance, freed.append)
    del instance
    assert reference() is None and len(freed) == 1
    assert sys.getrefcount(name) == before


def test_memory_does_not_grow_across_many_builds() -> None:
    items = [{**PROJECT, "id": i, "name": f"p{i}"} for i in range(100)]
    refused = [*items[:50], {**PROJECT, "created_at": "nope"}]

    def round_() -> None:
        for _ in range(50):
            PROJECTS.many(items)
            PROJECTS.many(refused)
            PROJECTS.one(items[0])

    round_()  # warm: interned keys, offset timezones, free lists
    tracemalloc.start()
    try:
        round_()
        gc.collect()
        first, _ = tracemalloc.get_traced_memory()
        for _ in range(5):
            round_()
        gc.collect()
        last, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 5 * 50 * 151 instances built: a leak of one object each would be megabytes.
    assert last - first < 64 * 1024


# -- types ---------------------------------------------------------------------------------------


class IntSub(int):
    pass


class Colour(enum.IntEnum):
    RED = 1


class StrSub(str):
    pass


@pytest.mark.parametrize(
    "changes",
    [
        {"id": True},
        {"id": False},
        {"id": IntSub(3)},
        {"id": Colour.RED},
        {"id": 3.0},
        {"id": "3"},
        {"id": None},
        {"name": StrSub("Apollo")},
        {"name": None},
        {"name": b"Apollo"},
        {"description": StrSub("d")},
        {"description": 1},
        {"created_at": StrSub("2024-05-01T12:00:00Z")},
        {"created_at": None},  # required
        {"created_at": datetime(2024, 5, 1)},  # a datetime is not JSON
        {"updated_at": 1714564800},
    ],
)
def test_exact_types_only_and_the_converter_answers_the_rest(changes: dict[str, Any]) -> None:
    data = {**PROJECT, **changes}
    assert PROJECTS.one(data) is fast._SLOW
    assert PROJECTS.many([PROJECT, data]) is fast._SLOW
    try:
        expected: Any = structure(data, Project)
    except ValueError as exc:
        expected = str(exc)
    try:
        got: Any = _structure(data, Project)
    except ValueError as exc:
        got = str(exc)
    assert got == expected and repr(got) == repr(expected)


@pytest.mark.parametrize("value", [0, -1, 2**63, -(2**64) - 1, 10**100])
def test_any_int_is_kept_as_it_is(value: int) -> None:
    built = PROJECTS.one({**PROJECT, "id": value})
    assert built.id == value and built.id is value and type(built) is Project


def test_optional_fields_take_none_and_extra_keys_are_ignored() -> None:
    data = {**PROJECT, "description": None, "extra": [1, 2], "owner": {"id": 1}}
    assert PROJECTS.one(data) == structure(data, Project)
    assert PROJECTS.one(data).description is None


@pytest.mark.parametrize("missing", sorted(PROJECT))
def test_a_missing_key_is_refused(missing: str) -> None:
    data = {key: value for key, value in PROJECT.items() if key != missing}
    assert PROJECTS.one(data) is fast._SLOW
    assert PROJECTS.many([PROJECT, data]) is fast._SLOW


class DictSub(dict):  # type: ignore[type-arg]
    pass


@pytest.mark.parametrize("item", [None, 1, "x", [PROJECT], (PROJECT,), DictSub(PROJECT)])
def test_items_that_are_not_dicts_are_refused(item: Any) -> None:
    assert PROJECTS.one(item) is fast._SLOW
    assert PROJECTS.many([PROJECT, item]) is fast._SLOW


@pytest.mark.parametrize("items", [(PROJECT,), None, {"data": [PROJECT]}, iter([PROJECT])])
def test_many_takes_a_list_only(items: Any) -> None:
    assert PROJECTS.many(items) is fast._SLOW
    assert PROJECTS.many([]) == []


def test_each_model_builds_as_the_converter_does() -> None:
    user = {
        "id": 3,
        "name": "Ada",
        "email": "ada@example.com",
        "created_at": "2024-05-01T12:00:00.123456789Z",
    }
    for cls, data in ((User, user), (PageMeta, META), (Project, PROJECT)):
        built = _builder(cls).one(data)
        assert type(built) is cls and repr(built) == repr(structure(data, cls))
        assert hash(built) == hash(structure(data, cls))


# -- exceptions raised while reading ---------------------------------------------------------------


class Key:
    """A dict key that collides with "id" and answers comparisons with `answer`."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer

    def __hash__(self) -> int:
        return hash("id")

    def __eq__(self, other: object) -> bool:
        return bool(self.answer(other))


def _raise(error: BaseException) -> Any:
    def answer(_: object) -> bool:
        raise error

    return answer


class Interrupt(BaseException):
    pass


def _without_id(key: Key) -> dict[Any, Any]:
    """PROJECT with `key` in place of "id": looking "id" up asks `key`."""
    return {key: 1, **{name: value for name, value in PROJECT.items() if name != "id"}}


def test_an_exception_while_reading_is_a_refusal() -> None:
    data = _without_id(Key(_raise(RuntimeError("boom"))))
    assert PROJECTS.one(data) is fast._SLOW
    assert PROJECTS.many([PROJECT, data]) is fast._SLOW
    assert sys.exc_info() == (None, None, None)


def test_an_exception_that_is_not_an_error_goes_on() -> None:
    data = _without_id(Key(_raise(Interrupt())))
    with pytest.raises(Interrupt):
        PROJECTS.one(data)
    with pytest.raises(Interrupt):
        PROJECTS.many([data])


def test_a_list_changed_while_it_is_read_is_refused_without_harm() -> None:
    items: list[Any] = []

    def shorten(_: object) -> bool:
        items.clear()
        return False

    items += [{Key(shorten): 0, **PROJECT}, dict(PROJECT), dict(PROJECT)]
    assert PROJECTS.many(items) is fast._SLOW
    assert items == []


# -- timestamps ----------------------------------------------------------------------------------


def _python(value: Any) -> datetime | None:
    try:
        return parse_rfc3339(value)
    except ValueError:
        return None


@settings(max_examples=3000, deadline=None)
@given(st.one_of(_timestamps, st.text(max_size=30)))
@example("2024-05-01T12:00:00Z")
@example("2024-05-01t12:00:00z")  # lowercase t and z: the grammar takes them
@example("2024-05-01 12:00:00")  # no offset: UTC
@example("2024-05-01T12:00:00-00:00")
@example("2024-05-01T12:00:00+23:59")
@example("2024-05-01T12:00:00+24:00")
@example("2024-05-01T12:00:00+05:60")
@example("2024-05-01T12:00:00-0830")
@example("2024-05-01T12:00:00+01")
@example("2024-05-01T12:00:00+01:00:30")
@example("2024-05-01T12:00:00+01:0")
@example("2024-05-01T12:00:00.Z")
@example("2024-05-01T12:00:00.1Z")
@example("2024-05-01T12:00:00.123456Z")
@example("2024-05-01T12:00:00.1234565Z")  # half up
@example("2024-05-01T12:00:00.123456499Z")
@example("2024-12-31T23:59:59.9999995Z")  # the carry into the year
@example("9999-12-31T23:59:59.9999995Z")  # past 9999-12-31: an error
@example("2024-05-01T12:00:00." + "9" * 100 + "Z")
@example("2016-12-31T23:59:60Z")  # a leap second has no datetime
@example("2024-02-29T00:00:00Z")
@example("2023-02-29T00:00:00Z")
@example("0000-01-01T00:00:00Z")
@example("2024-05-01T12:00:00Z ")
@example("2024-05-01T12:00:0\u0665Z")  # a non-ASCII digit
@example("2024-05-01T12:00:00\u00e9")
@example("")
def test_the_c_grammar_is_rfc3339s(value: str) -> None:
    expected, got = _python(value), speedups.parse_datetime(value)
    assert got == expected and repr(got) == repr(expected)  # the same instant and offset
    built = PROJECTS.one({**PROJECT, "created_at": value})
    if expected is None:
        assert built is fast._SLOW
    else:
        assert built.created_at == expected and repr(built.created_at) == repr(expected)


@pytest.mark.parametrize("value", [StrSub("2024-05-01T12:00:00Z"), None, 1, b"2024-05-01T12:00:00Z"])
def test_a_timestamp_must_be_an_exact_str(value: Any) -> None:
    assert speedups.parse_datetime(value) is None


# -- what the builder is handed ------------------------------------------------------------------


def test_the_builder_refuses_a_plan_that_is_not_the_classs_slots() -> None:
    other = User.__dict__["id"]
    with pytest.raises(TypeError):
        speedups.Builder(Project, [("id", speedups.INT, other)], None)
    with pytest.raises(TypeError):
        speedups.Builder(Project, [("id", speedups.INT, property(lambda self: 1))], None)
    with pytest.raises(ValueError):
        speedups.Builder(Project, [("id", 99, Project.__dict__["id"])], None)
    with pytest.raises(ValueError):
        speedups.Builder(Project, [("id", speedups.INT, Project.__dict__["id"])] * 17, None)


# -- without the extension -----------------------------------------------------------------------


def test_refused_by_the_environment_the_python_builders_decode_alike() -> None:
    script = (
        "import json\n"
        "from asyncapi_client import Project, Response, _c_builders, _fast_decode, _json\n"
        "from asyncapi_client._decode import decode_page\n"
        "assert _c_builders.speedups is None and _c_builders.BUILDER == 'Python'\n"
        f"body = json.dumps({{'data': [{PROJECT!r}] * 3, 'meta': {META!r}}}).encode()\n"
        "page = decode_page(Response(200, {}, body), Project)\n"
        "assert type(_fast_decode._many[Project]).__name__ == 'function'\n"
        "print(repr(page))\n"
    )
    env = {**os.environ, "ASYNCAPI_CLIENT_NO_EXTENSIONS": "1", "ASYNCAPI_JSON_PARSER": "json"}
    child = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert child.returncode == 0, child.stderr
    body = json.dumps({"data": [PROJECT] * 3, "meta": META}).encode()
    assert child.stdout.strip() == repr(decode_page(Response(200, {}, body), Project))
