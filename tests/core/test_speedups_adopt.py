"""`Builder.adopt` (`_c_builders.adopter`): msgspec's structs of a model's fields copied into the
model's instances, in C. What C code is prone to get wrong: the references each value holds,
what it is handed (another class, a struct with an empty slot, a source that is not the plan's
slots), and that the typed decoders use it and give the models the converter gives.
"""

from __future__ import annotations

import gc
import json
import sys
import weakref
from datetime import datetime
from typing import Any

import pytest

from asyncapi_client import Response, _c_builders, _json
from asyncapi_client import _fast_decode as fast
from asyncapi_client._decode import decode_list, decode_page
from asyncapi_client._models import PageMeta, Project, User, structure

if _c_builders.speedups is None or _json.msgspec is None:
    pytest.skip("needs the C extension and msgspec (the [speed] extra)", allow_module_level=True)

import msgspec

from tests.core.test_decode_fast import PROJECT

META = {"currentPage": 1, "totalPages": 1, "totalItems": 3, "itemsPerPage": 10}


def _typed(cls: type) -> fast._Typed:
    typed = fast._typed[cls] if cls in fast._typed else fast._typed_for(cls)
    assert typed is not None and typed.adopt is not None
    return typed


def _structs(cls: type, *items: dict[str, Any]) -> list[Any]:
    return _typed(cls).many(json.dumps(list(items)).encode())  # type: ignore[no-any-return]


def test_the_typed_decoders_adopt_structs_into_the_models() -> None:
    body = json.dumps({"data": [PROJECT, {**PROJECT, "id": 8, "description": "d"}], "meta": META}).encode()
    page = decode_page(Response(200, {}, body), Project)
    expected = [structure(PROJECT, Project), structure({**PROJECT, "id": 8, "description": "d"}, Project)]
    assert page.data == expected and repr(page.data) == repr(expected)
    assert all(type(item) is Project for item in page.data)
    assert page.meta == PageMeta(1, 1, 3, 10)
    users = [{"id": 3, "name": "Ada", "email": "a@example.com", "created_at": "2024-05-01T12:00:00Z"}]
    listed = decode_list(Response(200, {}, json.dumps(users).encode()), User)
    assert listed == [structure(users[0], User)] and type(listed[0]) is User


def test_an_adopted_instance_is_the_model_in_full() -> None:
    (project,) = _typed(Project).adopt(_structs(Project, PROJECT))
    with pytest.raises(AttributeError):
        project.name = "changed"  # type: ignore[misc]
    assert weakref.ref(project)() is project  # the weakref slot starts empty
    assert hash(project) == hash(structure(PROJECT, Project))
    assert isinstance(project.created_at, datetime) and project.created_at.tzinfo is not None


def test_every_reference_is_released() -> None:
    adopt = _typed(Project).adopt
    structs = _structs(Project, {**PROJECT, "name": "".join(["run ", "time"]), "id": 10**40})
    values = [getattr(structs[0], name) for name in ("id", "name", "created_at")]
    counts = [sys.getrefcount(value) for value in values]
    adopted = adopt(structs * 50)
    after = [sys.getrefcount(value) for value in values]
    held = [now - before for now, before in zip(after, counts, strict=True)]
    assert held == [50, 50, 50]  # one each per instance: the values are shared, not copied
    freed: list[Any] = []
    reference = weakref.ref(adopted[0], freed.append)
    del adopted
    assert reference() is None and len(freed) == 1
    for _ in range(100):
        assert adopt([*structs, None]) is fast._SLOW
    gc.collect()
    assert [sys.getrefcount(value) for value in values] == counts


def test_anything_but_a_list_of_the_source_structs_is_refused() -> None:
    adopt = _typed(Project).adopt
    (struct,) = _structs(Project, PROJECT)
    user = _structs(User, {"id": 3, "name": "Ada", "email": "a@x", "created_at": "2024-05-01T12:00:00Z"})
    assert adopt((struct,)) is fast._SLOW
    assert adopt([struct, dict(PROJECT)]) is fast._SLOW
    assert adopt(user) is fast._SLOW
    assert adopt([structure(PROJECT, Project)]) is fast._SLOW
    assert adopt([]) == []


def test_a_struct_with_an_empty_slot_is_refused() -> None:
    (struct,) = _structs(Project, PROJECT)
    empty = msgspec.structs.replace(struct)
    del empty.name  # a struct's slot can be emptied; the model's must never be
    assert _typed(Project).adopt([struct, empty]) is fast._SLOW


def test_the_source_must_be_one_slot_of_its_class_per_field() -> None:
    plan = fast._fields(Project)
    assert plan is not None
    struct = type(_structs(Project, PROJECT)[0])
    kinds = _c_builders._kinds()
    entries = [(key, kinds[kind], Project.__dict__[name]) for name, key, kind in plan]
    builder = _c_builders.speedups.Builder
    with pytest.raises(TypeError):  # one descriptor short
        builder(Project, entries, None, (struct, [struct.__dict__[name] for name, _, _ in plan][:-1]))
    with pytest.raises(TypeError):  # the descriptors of another class
        builder(Project, entries, None, (struct, [Project.__dict__[name] for name, _, _ in plan]))
    with pytest.raises(TypeError):
        builder(Project, entries, None, "not a (class, descriptors) pair")
    assert builder(Project, entries, None).adopt([]) is None  # no source: refused
