"""`_decode`'s fast path for simple models gives what cattrs gives, or steps aside.

For Project and User, `_structure` must return an equal object whenever `structure` (the cattrs
converter) does, and raise the same `ValueError` whenever it raises, whatever the input.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asyncapi_client import Response
from asyncapi_client._decode import _SLOW, _fast, _structure, decode_list, decode_model
from asyncapi_client._errors import ResponseDecodeError
from asyncapi_client._models import Project, User, structure

PROJECT = {
    "id": 7,
    "name": "Apollo",
    "description": None,
    "created_at": "2024-05-01T12:00:00Z",
    "updated_at": "2024-05-02T08:30:15.5+02:00",
}
USER = {"id": 3, "name": "Ada", "email": "ada@example.com", "created_at": "2024-05-01T12:00:00.123456789Z"}


class StrSub(str):
    pass


_VALUES = st.one_of(
    st.integers(-(10**20), 10**20),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.sampled_from(
        [
            "2024-05-01T12:00:00Z",
            "2024-05-01 12:00:00",
            "2024-05-01T12:00:00.1234567+01:00",
            "2024-13-01T00:00:00Z",
            " 2024-05-01T12:00:00z ",
            StrSub("2024-05-01T12:00:00Z"),
            StrSub("x"),
        ]
    ),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)


def _outcome(call: Any) -> tuple[str, Any]:
    try:
        return ("ok", call())
    except ValueError as exc:
        return ("error", str(exc))


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from([(Project, PROJECT), (User, USER)]),
    st.dictionaries(
        st.sampled_from(["id", "name", "description", "email", "created_at", "updated_at", "extra"]),
        _VALUES,
        max_size=7,
    ),
    st.booleans(),
)
def test_fast_path_agrees_with_cattrs(
    model: tuple[type, dict[str, Any]], changes: dict[str, Any], keep: bool
) -> None:
    cls, valid = model
    data = {**valid, **changes} if keep else changes
    fast = _outcome(lambda: _structure(data, cls))
    slow = _outcome(lambda: structure(data, cls))
    assert fast == slow
    if fast[0] == "ok":
        assert type(fast[1]) is cls
        assert [type(getattr(fast[1], name)) for name in ("id", "name")] == [
            type(getattr(slow[1], name)) for name in ("id", "name")
        ]


@pytest.mark.parametrize(("cls", "data"), [(Project, PROJECT), (User, USER)])
def test_fast_path_is_taken_for_well_formed_data(cls: type, data: dict[str, Any]) -> None:
    result = _fast[cls](dict(data))
    assert result is not _SLOW
    assert result == structure(data, cls)
    assert isinstance(result.created_at, datetime) and result.created_at.tzinfo is not None


@pytest.mark.parametrize(
    "data",
    [
        {**PROJECT, "id": True},  # bool is an int to Python, not to the models
        {**PROJECT, "id": 1.0},
        {**PROJECT, "name": None},
        {**PROJECT, "created_at": "yesterday"},
        {k: v for k, v in PROJECT.items() if k != "name"},
    ],
)
def test_fast_path_steps_aside_and_the_error_is_unchanged(data: dict[str, Any]) -> None:
    assert _fast[Project](data) is _SLOW
    with pytest.raises(ValueError) as slow:
        structure(data, Project)
    with pytest.raises(ValueError) as fast:
        _structure(data, Project)
    assert str(fast.value) == str(slow.value)
    body = json.dumps(data).encode()
    response = Response(200, {"content-type": "application/json"}, body)
    with pytest.raises(ResponseDecodeError):
        decode_model(response, Project)
    with pytest.raises(ResponseDecodeError):
        decode_list(Response(200, {}, b"[" + body + b"]"), Project)


def test_models_without_a_fast_path_still_decode() -> None:
    from asyncapi_client._models import PageMeta, Webhook

    assert Webhook not in _fast and PageMeta not in _fast
    webhook = _structure({"id": 1, "url": "https://e.example/h", "events": ["a"]}, Webhook)
    assert webhook == Webhook(1, "https://e.example/h", ["a"])
