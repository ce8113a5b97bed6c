"""Where `decode_page`'s time goes without msgspec: each piece of the stdlib path for a page of
projects, timed alone on the pieces of the same page, beside `json.loads` of its bytes.

    python benchmarks/decode_profile.py            # a page of 100 (and 10), best of 40 runs each
    python benchmarks/decode_profile.py --quick

It runs with `ASYNCAPI_JSON_PARSER=json` (what runs without the `[speed]` extra) and
`ASYNCAPI_CLIENT_NO_EXTENSIONS=1` (the Python builders, what runs without the C extension). The pieces
are the list builder's own steps, rebuilt here from the same parts (`_fast_decode`, `_rfc3339`)
so each can be timed alone; their sum is close to `decode_page` (the rest: the call, `meta`,
the `Page`). The two floors of `decode.py` are printed below them: `lean_builder` (the leanest
Python builder, no check) and a C-only builder (every field stored by `setattr` through `map`,
no Python loop), which shows why the floor keeps its loop; then a builder in one pass (each
project built in the scanner's `object_hook`), the other way to build that was measured.
Printed for information: no bound.
"""

from __future__ import annotations

import os

os.environ["ASYNCAPI_JSON_PARSER"] = "json"  # before the SDK is imported: `_json` reads it then
os.environ["ASYNCAPI_CLIENT_NO_EXTENSIONS"] = "1"  # and `_c_builders` this one

import argparse
import json
import sys
from collections import deque
from collections.abc import Callable
from datetime import datetime
from itertools import repeat, starmap
from operator import countOf, itemgetter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from decode import interleaved_best_us, lean_builder, page_body

import asyncapi_client as sdk
from asyncapi_client import _fast_decode, _json, _rfc3339
from asyncapi_client._decode import decode_page

FIELDS = ("id", "name", "description", "created_at", "updated_at")


def pieces(size: int) -> dict[str, Callable[[], object]]:
    body = page_body(1, size, 10 * size)
    response = sdk.Response(200, {"content-type": "application/json"}, body)
    parsed = json.loads(body)
    items = parsed["data"]
    read = itemgetter(*FIELDS)
    ids, names, descriptions, created, updated = zip(*map(read, items), strict=True)
    created_at, updated_at = _rfc3339.parse_many(created), _rfc3339.parse_many(updated)
    blank, project = _fast_decode._builder_class(sdk.Project), sdk.Project
    skeletons = {len(column[0]): _rfc3339._columns[len(column[0])] for column in (created, updated)}
    digits_to_zero = _rfc3339._DIGITS_TO_ZERO

    def column_test(column: tuple[str, ...]) -> bool:
        joined = "\n".join(column)
        return (
            countOf(map(type, column), str) == len(column)
            and joined.isascii()
            and skeletons[len(column[0])].startswith(joined.encode("ascii").translate(digits_to_zero))
        )

    def loop(checks: bool) -> Callable[[], object]:
        def build() -> list[Any]:
            out = [*starmap(blank, repeat((), size))]
            for b, v0, v1, v2, v3, v4 in zip(
                out, ids, names, descriptions, created_at, updated_at, strict=True
            ):
                if checks and (
                    type(v0) is not int or type(v1) is not str or (v2 is not None and type(v2) is not str)
                ):
                    return []
                b.id = v0
                b.name = v1
                b.description = v2
                b.created_at = v3
                b.updated_at = v4
                b.__class__ = project
            return out

        return build

    def setattr_by_map() -> list[Any]:
        out = [*starmap(blank, repeat((), size))]
        for name, column in zip(FIELDS, (ids, names, descriptions, created_at, updated_at), strict=True):
            deque(map(setattr, out, repeat(name), column), 0)
        deque(map(setattr, out, repeat("__class__"), repeat(project, size)), 0)
        return out

    def in_object_hook() -> list[Any]:
        """One pass: the scanner's `object_hook` builds each project as the scanner makes its
        dict (types checked, timestamps kept), and the timestamp columns are read after it."""
        out: list[Any] = []
        created_column: list[str] = []
        updated_column: list[str] = []

        def hook(o: dict[str, Any]) -> Any:
            try:
                v0, v1, v2, v3, v4 = read(o)
            except KeyError:
                return o  # the meta, the page
            if type(v0) is not int or type(v1) is not str or (v2 is not None and type(v2) is not str):
                return o
            b = blank()
            b.id = v0
            b.name = v1
            b.description = v2
            created_column.append(v3)
            updated_column.append(v4)
            out.append(b)
            return b

        json.JSONDecoder(object_hook=hook).scan_once(body.decode(), 0)  # type: ignore[attr-defined]
        stamps = zip(_rfc3339.parse_many(created_column), _rfc3339.parse_many(updated_column), strict=True)
        for b, (v3, v4) in zip(out, stamps, strict=True):
            b.created_at = v3
            b.updated_at = v4
            b.__class__ = project
        return out

    fromiso = datetime.fromisoformat
    assert in_object_hook() == decode_page(response, sdk.Project).data == setattr_by_map()
    return {
        "json.loads": lambda: json.loads(body),
        "parsing (json's scanner, as decode_page)": lambda: _json.stdlib_loads(body),
        "the items are dicts (countOf)": lambda: countOf(map(type, items), dict),
        "values by rows (itemgetter)": lambda: [*map(read, items)],
        "values by columns (itemgetter, zip)": lambda: tuple(zip(*map(read, items), strict=False)),
        "timestamps: fromisoformat": lambda: ([*map(fromiso, created)], [*map(fromiso, updated)]),
        "timestamps: the column test": lambda: (column_test(created), column_test(updated)),
        "blank instances (starmap)": lambda: [*starmap(blank, repeat((), size))],
        "the loop without checks (with its blanks)": loop(checks=False),
        "the loop with its type checks": loop(checks=True),
        "meta": lambda: _fast_decode.fast_one(parsed["meta"], sdk.PageMeta),
        "decode_page": lambda: decode_page(response, sdk.Project),
        "floor: lean_builder (no check)": lean_builder(body),
        "C-only builder: the loop's stores by setattr": setattr_by_map,
        "one pass: building in the scanner's object_hook": in_object_hook,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs (noisier)")
    args = parser.parse_args()
    assert _json.PARSER == "json"
    for size in (100, 10):
        calls = pieces(size)
        best = interleaved_best_us(
            calls, number=(20 if args.quick else 50) * (100 // size), repeat=10 if args.quick else 40
        )
        parse = best["json.loads"]
        print(f"\npage of {size} projects, stdlib only (us per call, and x json.loads of the same bytes)")
        for name, us in best.items():
            print(f"  {name:<46} {us:8.2f} us  {us / parse:5.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
