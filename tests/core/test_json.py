"""`_json.loads` answers as `json.loads` does, value or error, with msgspec installed or not; so
`Response.json()` raises the same `ResponseDecodeError` either way."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from asyncapi_client import Response, ResponseDecodeError, _json


def _outcome(loads: Any, content: bytes) -> tuple[str, Any]:
    try:
        return ("ok", loads(content))
    except _json.PARSE_ERRORS as exc:
        return ("error", type(exc).__name__)


def _same(a: Any, b: Any) -> bool:
    """Equal, with the same types all the way down (1 is not 1.0 here), NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


_json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(10**30), 10**30),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def bodies(draw: Any) -> bytes:
    text = json.dumps(draw(_json_values), ensure_ascii=draw(st.booleans()))
    raw = text.encode("utf-8", "surrogatepass")
    cut = draw(st.integers(0, 4))
    if cut == 1 and raw:
        raw = raw[: draw(st.integers(0, len(raw) - 1))]  # truncated
    elif cut == 2:
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.binary(min_size=1, max_size=3)) + raw[at:]  # a stray byte or three
    elif cut == 3:
        raw = draw(st.sampled_from([b"\xef\xbb\xbf", b" ", b"\n", b""])) + raw
    elif cut == 4:  # after the value: JSON's whitespace, other whitespace, more data
        raw += draw(
            st.sampled_from([b"\n", b" \t\r\n ", b"\x0c", b"\x0b", b"\xc2\xa0", b"\n\x00", b" 1", b"}"])
        )
    return raw


@settings(max_examples=2000, deadline=None)
@given(st.one_of(bodies(), st.binary(max_size=20)))
@example(b'{"a":1,"a":2}')
@example(b'"\\ud800"')
@example(b'"\xed\xa0\x80"')
@example(b"NaN")
@example(b"1e400")
@example(b"123456789012345678901234567890")
@example('{"a": "é"}'.encode("utf-16"))
@example(b"[" * 60 + b"]" * 60)
@example(b'{"a":1}\n')
@example(b'{"a":1} \x0c')
@example(b"[1] [2]")
def test_loads_is_json_loads(content: bytes) -> None:
    theirs = _outcome(json.loads, content)
    for loads in (_json.loads, _json.stdlib_loads):  # stdlib_loads: what runs without msgspec
        ours = _outcome(loads, content)
        assert ours[0] == theirs[0]
        assert _same(ours[1], theirs[1]) if ours[0] == "ok" else ours == theirs


@pytest.mark.parametrize(
    "body",
    [b"<html>502 Bad Gateway</html>", b'{"id": 1', b"\xff\xfe\x00garbage", b"", b"[" * 100_000, b'{"a": NaN'],
)
def test_the_decode_error_is_the_same_with_either_parser(
    body: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    response = Response(200, {"content-type": "application/json"}, body)
    with pytest.raises(ResponseDecodeError) as default:
        response.json()
    monkeypatch.setattr(_json, "loads", _json.stdlib_loads)
    with pytest.raises(ResponseDecodeError) as stdlib:
        response.json()
    assert str(default.value) == str(stdlib.value)
    assert "the body is not valid JSON" in str(stdlib.value)


def test_the_parser_in_use_is_msgspec_when_installed() -> None:
    try:
        import msgspec  # noqa: F401
    except ImportError:
        assert _json.PARSER == "json" and _json.typed_decoder(int) is None
    else:
        assert _json.PARSER == "msgspec" and _json.typed_decoder(int)(b"1") == 1


def test_the_environment_can_ask_for_the_standard_library() -> None:
    code = (
        "from asyncapi_client import _json, _fast_decode\n"
        "assert _json.PARSER == 'json' and _json.loads is _json.stdlib_loads, _json.PARSER\n"
        "assert _fast_decode._typed_for(_fast_decode.Project) is None\n"
    )
    env = {**os.environ, "ASYNCAPI_JSON_PARSER": "json"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
