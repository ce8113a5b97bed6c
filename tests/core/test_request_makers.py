"""`new_request` / `new_response`, the builders every SDK layer makes its requests and responses
with: in C (`_speedups.Maker`) when the extension is built, in Python otherwise. Both give the
same immutable instances, hold (and release) exactly the values given, and refuse a wrong call."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import weakref
from typing import Any

import pytest

from asyncapi_client import _c_builders, _types
from asyncapi_client._types import Request, Response, new_request, new_response

needs_c = pytest.mark.skipif(_c_builders.speedups is None, reason="the C extension is not built or refused")


class Value:
    """A value whose release can be watched."""


def test_a_made_request_is_a_request_with_the_fields_given() -> None:
    headers: dict[str, str] = {"accept": "application/json"}
    extensions: dict[str, Any] = {"auth": None}
    request = new_request("GET", "https://api.example.com/x", headers, b"body", 2.5, extensions)
    assert type(request) is Request
    assert (request.method, request.url, request.content, request.timeout) == (
        "GET",
        "https://api.example.com/x",
        b"body",
        2.5,
    )
    assert request.headers is headers and request.extensions is extensions
    with pytest.raises(AttributeError, match="immutable"):
        request.url = "https://elsewhere.example.com"
    replaced = request.replace(url="https://api.example.com/y", headers={"X-A": "1"})
    assert (replaced.url, replaced.headers, replaced.content) == (
        "https://api.example.com/y",
        {"x-a": "1"},
        b"body",
    )
    with pytest.raises(TypeError, match="bogus"):
        request.replace(bogus=1)


def test_a_made_response_is_a_response_with_the_fields_given() -> None:
    request = new_request("GET", "https://api.example.com/x", {}, None, None, {})
    response = new_response(204, {"x-request-id": "r-1"}, b"", request)
    assert type(response) is Response
    assert (response.status_code, response.request_id, response.content) == (204, "r-1", b"")
    assert response.request is request
    with pytest.raises(AttributeError, match="immutable"):
        response.status_code = 200


def test_the_values_are_held_and_released_with_the_instance() -> None:
    value = Value()
    watch = weakref.ref(value)
    headers: dict[str, str] = {}
    extensions = {"v": value}
    counts = sys.getrefcount(headers), sys.getrefcount(extensions)
    request = new_request("GET", "https://api.example.com/x", headers, None, None, extensions)
    assert (sys.getrefcount(headers), sys.getrefcount(extensions)) == (counts[0] + 1, counts[1] + 1)
    held = sys.getrefcount(request)
    response = new_response(200, headers, b"", request)
    assert sys.getrefcount(request) == held + 1
    del request
    assert (sys.getrefcount(headers), sys.getrefcount(extensions)) == (counts[0] + 2, counts[1] + 1)
    del response
    assert (sys.getrefcount(headers), sys.getrefcount(extensions)) == counts
    del extensions, value
    gc.collect()
    assert watch() is None


@needs_c
def test_the_c_makers_are_the_ones_in_use() -> None:
    assert type(_types.new_request).__name__ == "builtin_function_or_method"
    assert type(_types.new_response).__name__ == "builtin_function_or_method"


@needs_c
def test_the_c_maker_refuses_a_wrong_call() -> None:
    maker = _c_builders.speedups.Maker
    with pytest.raises(TypeError, match="takes 6 arguments"):
        new_request("GET", "https://api.example.com/x")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        new_request("GET", "u", {}, None, None, extensions={})
    with pytest.raises(TypeError, match="not a slot"):
        maker(Request, [Response.__dict__["is_success"]])
    with pytest.raises(TypeError, match="not a slot"):  # another class's slot
        maker(Request, [_types._ResponseFields.__dict__["status_code"]])
    with pytest.raises(ValueError, match="at most"):
        maker(Request, [_types._RequestFields.__dict__["url"]] * 17)


def test_without_the_extension_the_python_makers_give_the_same() -> None:
    script = (
        "from asyncapi_client import _types\n"
        "r = _types.new_request('GET', 'https://api.example.com/x', {'a': 'b'}, None, 1.0, {})\n"
        "s = _types.new_response(200, {}, b'{}', r)\n"
        "assert type(_types.new_request).__name__ == 'function'\n"
        "print(type(r).__name__, r.method, r.url, r.headers, r.timeout, type(s).__name__, s.json())\n"
    )
    env = {**os.environ, "ASYNCAPI_CLIENT_NO_EXTENSIONS": "1"}
    child = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.split() == [
        "Request",
        "GET",
        "https://api.example.com/x",
        "{'a':",
        "'b'}",
        "1.0",
        "Response",
        "{}",
    ]
