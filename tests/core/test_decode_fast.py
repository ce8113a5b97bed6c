"""The fast decoders give what the cattrs converter gives, or step aside; with msgspec or without.

Five ways to decode a reply, which must agree on every input, value or error message:
`typed` (msgspec builds the models from the bytes; the default when msgspec is installed),
`parsed` (msgspec parses, the builders build: the C ones when the extension is built), `stdlib`
(json.loads parses, the builders build; what runs without the `[speed]` extra), `python` (as
`stdlib`, with the builders written in Python: what runs without the C extension) and
`converter` (json.loads and cattrs alone: the reference). tests/core/test_speedups.py holds the
C builders' own cases.
"""

from __future__ import annotations

import json
import pickle
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from asyncapi_client import Response, _json
from asyncapi_client import _fast_decode as fast
from asyncapi_client._decode import _structure, _structure_list, decode_list, decode_model, decode_page
from asyncapi_client._errors import ResponseDecodeError
from asyncapi_client._models import Page, PageMeta, Project, User, Webhook, structure

PROJECT = {
    "id": 7,
    "name": "Apollo",
    "description": None,
    "created_at": "2024-05-01T12:00:00Z",
    "updated_at": "2024-05-02T08:30:15.5+02:00",
}
USER = {"id": 3, "name": "Ada", "email": "ada@example.com", "created_at": "2024-05-01T12:00:00.123456789Z"}
META = {"currentPage": 1, "totalPages": 3, "totalItems": 25, "itemsPerPage": 10}

MODES = ["typed", "parsed", "stdlib", "python", "converter"]
BUILDERS = ["stdlib", "python"]  # from parsed JSON: the C builders (when built), the Python ones


@contextmanager
def decoding(mode: str) -> Iterator[None]:
    """Decode with only the decoders of `mode` (see the module docstring)."""
    saved = (fast._typed.copy(), fast._one.copy(), fast._many.copy(), _json.loads)
    # The tables are filled on first use: None for a class says "no such decoder".
    off = dict.fromkeys((*fast.FAST_MODELS, Webhook))
    try:
        if mode != "typed":
            fast._typed.update(off)
        if mode in ("stdlib", "python", "converter"):
            _json.loads = _json.stdlib_loads
        if mode == "python":
            for cls in fast.FAST_MODELS:
                fast._prepare(cls, use_c=False)
        if mode == "converter":
            fast._one.update(off)
            fast._many.update(off)
        yield
    finally:
        for table, before in zip((fast._typed, fast._one, fast._many), saved[:3], strict=True):
            table.clear()
            table.update(before)
        _json.loads = saved[3]


def _outcome(call: Callable[[], Any]) -> tuple[str, Any]:
    try:
        return ("ok", call())
    except (ValueError, ResponseDecodeError) as exc:
        return ("error", f"{type(exc).__name__}: {exc}")


def _in_every_mode(call: Callable[[], Any]) -> dict[str, tuple[str, Any]]:
    outcomes = {}
    for mode in MODES:
        if mode in ("typed", "parsed") and _json.msgspec is None:
            continue
        with decoding(mode):
            outcomes[mode] = _outcome(call)
    return outcomes


def _assert_agree(outcomes: dict[str, tuple[str, Any]]) -> None:
    reference = outcomes["converter"]
    for mode, outcome in outcomes.items():
        assert outcome == reference, f"{mode} differs from the converter"
        if outcome[0] == "ok":
            assert repr(outcome[1]) == repr(reference[1])  # same types, same tzinfo


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
            "2024-05-01T12:00:00.Z",
            StrSub("2024-05-01T12:00:00Z"),
            StrSub("x"),
        ]
    ),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)
_MODELS = [(Project, PROJECT), (User, USER), (PageMeta, META)]


@pytest.mark.parametrize("mode", BUILDERS)
@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(_MODELS),
    st.dictionaries(
        st.sampled_from(
            [
                "id",
                "name",
                "description",
                "email",
                "created_at",
                "updated_at",
                "currentPage",
                "itemsPerPage",
                "x",
            ]
        ),
        _VALUES,
        max_size=7,
    ),
    st.booleans(),
)
def test_builders_agree_with_the_converter_on_parsed_json(
    mode: str, model: tuple[type, dict[str, Any]], changes: dict[str, Any], keep: bool
) -> None:
    cls, valid = model
    data = {**valid, **changes} if keep else changes
    with decoding(mode):
        fast_result = _outcome(lambda: _structure(data, cls))
        fast_list_results = [
            _outcome(lambda items=items: _structure_list(items, cls))
            for items in ([data], [valid, data, valid], [data, data])  # the list builder: by columns
        ]
    slow_result = _outcome(lambda: structure(data, cls))
    assert fast_result == slow_result
    if fast_result[0] == "ok":
        assert repr(fast_result[1]) == repr(slow_result[1])
    for items, fast_list_result in zip(([data], [valid, data, valid], [data, data]), fast_list_results, strict=True):
        slow_list_result = _outcome(lambda items=items: [structure(item, cls) for item in items])
        assert fast_list_result == slow_list_result
        assert repr(fast_list_result) == repr(slow_list_result)


@pytest.mark.parametrize("mode", BUILDERS)
@pytest.mark.parametrize(("cls", "data"), _MODELS)
def test_the_builders_take_well_formed_data(mode: str, cls: type, data: dict[str, Any]) -> None:
    with decoding(mode):
        _take_well_formed_data(cls, data)


def _take_well_formed_data(cls: type, data: dict[str, Any]) -> None:
    result = fast.fast_one(dict(data), cls)
    assert result is not fast._SLOW
    assert type(result) is cls and result == structure(data, cls)
    assert fast.fast_list([data, data], cls) == [result, result]
    for name in ("created_at", "updated_at"):
        stamp = getattr(result, name, None)
        assert stamp is None or (isinstance(stamp, datetime) and stamp.tzinfo is not None)


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
def test_the_builders_step_aside_and_the_error_is_the_converters(data: dict[str, Any]) -> None:
    for mode in BUILDERS:
        with decoding(mode):
            assert fast.fast_one(data, Project) is fast._SLOW
            assert fast.fast_list([PROJECT, data], Project) is fast._SLOW
            with pytest.raises(ValueError) as fast_error:
                _structure(data, Project)
        with pytest.raises(ValueError) as slow:
            structure(data, Project)
        assert str(fast_error.value) == str(slow.value)
    body = json.dumps(data).encode()
    outcomes = _in_every_mode(lambda: decode_model(Response(200, {}, body), Project))
    assert outcomes["converter"][0] == "error"
    _assert_agree(outcomes)
    outcomes = _in_every_mode(lambda: decode_list(Response(200, {}, b"[" + body + b"]"), Project))
    assert outcomes["converter"][0] == "error"
    _assert_agree(outcomes)


@pytest.mark.parametrize("mode", BUILDERS)
@pytest.mark.parametrize(("cls", "data"), _MODELS)
def test_a_built_instance_is_the_model_itself(mode: str, cls: type, data: dict[str, Any]) -> None:
    """Built in C, or in Python as a subclass given its class after: the model itself."""
    with decoding(mode):
        _is_the_model_itself(cls, data)


def _is_the_model_itself(cls: type, data: dict[str, Any]) -> None:
    reference = structure(data, cls)
    for built in (fast.fast_one(dict(data), cls), *fast.fast_list([data, dict(data), data], cls)):
        assert type(built) is cls and built == reference and hash(built) == hash(reference)
        with pytest.raises(attrs.exceptions.FrozenInstanceError):
            built.id = 1  # type: ignore[attr-defined]
        with pytest.raises(AttributeError):
            built.extra = 1  # type: ignore[attr-defined]
        assert pickle.loads(pickle.dumps(built)) == reference
        assert weakref.ref(built)() is built
        assert attrs.evolve(built) == reference and built.to_dict() == reference.to_dict()  # type: ignore[attr-defined]
    item_type, body = (
        (Project, {"data": [], "meta": data}) if cls is PageMeta else (cls, {"data": [data], "meta": META})
    )
    page = fast.fast_page(body, item_type)
    assert type(page) is Page and type(page.meta) is PageMeta
    assert page == structure(body, Page[item_type])  # type: ignore[valid-type]


@pytest.mark.parametrize(("cls", "data"), _MODELS)
def test_without_a_builder_class_the_builders_set_each_slot(cls: type, data: dict[str, Any]) -> None:
    """Where `__class__` assignment is refused, the builders set the slots through their
    descriptors, and build the same."""
    plan = fast._fields(cls)
    assert plan is not None and fast._builder_class(cls) is not None
    one = fast._compile(cls, plan, None, many=False)
    many = fast._compile(cls, plan, None, many=True)
    reference = structure(data, cls)
    assert type(one(dict(data))) is cls and one(dict(data)) == reference
    assert many([data, data]) == [reference, reference]
    first_key = plan[0][1]
    assert one({**data, first_key: True}) is fast._SLOW and many([data, {}]) is fast._SLOW


def test_msgspec_builds_the_models_that_refuse_naive_timestamps() -> None:
    if _json.msgspec is None:
        pytest.skip("msgspec is not installed (the [speed] extra)")
    assert fast._typed_for(Project) is not None and fast._typed_for(User) is not None
    naive = json.dumps({**PROJECT, "updated_at": "2024-05-02T08:30:15"}).encode()
    assert fast.typed_model(naive, Project) is None  # the converter reads it as UTC
    assert decode_model(Response(200, {}, naive), Project).updated_at.tzinfo is not None


def test_models_without_a_fast_path_still_decode() -> None:
    body = json.dumps({"id": 1, "url": "https://e.example/h", "events": ["a"]}).encode()
    assert fast.fast_one(json.loads(body), Webhook) is fast._SLOW
    assert fast.typed_model(body, Webhook) is None
    webhook = _structure({"id": 1, "url": "https://e.example/h", "events": ["a"]}, Webhook)
    assert webhook == Webhook(1, "https://e.example/h", ["a"])


# -- whole replies, as bytes ---------------------------------------------------------------------

_ODD_VALUES = [
    1,
    -(2**63) - 1,
    2**64,
    10**30,
    1.0,
    True,
    None,
    "x",
    "2024-05-01T12:00:00",  # naive: msgspec leaves it naive, the SDK reads UTC
    "2024-05-01T12:00:00.9999995Z",
    "2024-05-01T12:00:00+0530",
    "2024-05-01",
    [],
    {},
]
_RAW_VALUES = [
    b"NaN",
    b"-Infinity",
    b"1e400",
    b'"\\ud800"',
    b'"\xff"',
    b'"\xed\xa0\x80"',
    b'"caf\xc3\xa9"',
    b"[" * 40 + b"]" * 40,
]


def _item(base: dict[str, Any], draw: Any) -> bytes:
    item = dict(base)
    for _ in range(draw(st.integers(0, 2))):
        key = draw(st.sampled_from([*base, "extra"]))
        item[key] = draw(st.sampled_from(_ODD_VALUES))
    if draw(st.booleans()) and item:
        item.pop(draw(st.sampled_from(sorted(item))))
    text = json.dumps(item, separators=(",", ":")).encode()
    if draw(st.integers(0, 4)) == 0:  # a raw value json.dumps cannot write, in an extra field
        text = (
            text[:-1]
            + (b',"raw":' if len(text) > 2 else b'"raw":')
            + draw(st.sampled_from(_RAW_VALUES))
            + b"}"
        )
    return text


@st.composite
def page_bodies(draw: Any, base: dict[str, Any]) -> bytes:
    items = b",".join(_item(base, draw) for _ in range(draw(st.integers(0, 3))))
    meta = dict(META)
    if draw(st.integers(0, 3)) == 0:
        meta[draw(st.sampled_from(sorted(META)))] = draw(
            st.sampled_from([0, -1, 2**64, 1.0, True, "1", None])
        )
    body = b'{"data":[' + items + b'],"meta":' + json.dumps(meta).encode() + b"}"
    return draw(
        st.sampled_from(
            [
                body,
                body,
                body,
                b"\xef\xbb\xbf" + body,
                body[:-1],
                body + b" ",
                body.replace(b'"data"', b'"dat"'),
            ]
        )
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([(Project, PROJECT), (User, USER)]), st.data())
@example((Project, PROJECT), None)
def test_every_decoder_reads_a_page_as_the_converter_does(
    model: tuple[type, dict[str, Any]], data: Any
) -> None:
    cls, base = model
    if data is None:
        body = json.dumps({"data": [base, base], "meta": META}).encode()
    else:
        body = data.draw(page_bodies(base))
    response = Response(200, {"content-type": "application/json"}, body)
    outcomes = _in_every_mode(lambda: decode_page(response, cls))
    _assert_agree(outcomes)
    if data is None:
        assert outcomes["converter"][0] == "ok"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.booleans())
def test_every_decoder_reads_a_bulk_reply_as_the_converter_does(data: Any, wrapped: bool) -> None:
    items = b"[" + b",".join(_item(USER, data.draw) for _ in range(data.draw(st.integers(0, 3)))) + b"]"
    body = b'{"data":' + items + b"}" if wrapped else items
    outcomes = _in_every_mode(lambda: decode_list(Response(200, {}, body), User))
    _assert_agree(outcomes)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_every_decoder_reads_one_model_as_the_converter_does(data: Any) -> None:
    body = _item(PROJECT, data.draw)
    outcomes = _in_every_mode(lambda: decode_model(Response(200, {}, body), Project))
    _assert_agree(outcomes)


def test_the_typed_decoder_is_the_one_that_runs_with_msgspec() -> None:
    """With msgspec, a well-formed page never reaches the JSON parser (one pass over the body)."""
    if _json.msgspec is None:
        pytest.skip("msgspec is not installed (the [speed] extra)")
    body = json.dumps({"data": [PROJECT], "meta": META}).encode()

    def no_parse(content: bytes) -> Any:
        raise AssertionError("the body was parsed a second time")

    saved = _json.loads
    _json.loads = no_parse
    try:
        page = decode_page(Response(200, {}, body), Project)
    finally:
        _json.loads = saved
    assert page.data == [structure(PROJECT, Project)]
    assert page.meta == PageMeta(1, 3, 25, 10)
