"""The optional C extension (`_speedups`): the hot models' builders from parsed JSON, in C.

Installing the package compiles `_speedups.c` when a C compiler and the Python headers are
there (`hatch_build.py`); without them it installs pure Python, and `_fast_decode`'s builders
written in Python do the same work, about twice as slowly. `ASYNCAPI_CLIENT_NO_EXTENSIONS=1`
skips the compile at install, and at import (read once) leaves a built extension unused: to
compare the two, or to rule the C code out.

A C builder is made from the same plan as the Python ones (`_fast_decode._fields`: each field's
name, JSON key and type): it is handed the keys, the kinds and the slots' descriptors, and holds
no field list of its own. It gives what the Python builder gives, or the same refusal (`refused`,
`_fast_decode._SLOW`), after which the converter answers. With msgspec, `adopter` gives the
typed decoders' other half: the models from msgspec structs of their fields.

The extension's `Maker` is the pipeline's: `_types.new_request` and `new_response` in C.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final, get_type_hints

from . import _json

speedups: Any  # the extension module, or None (not built, or refused by the environment)
if os.environ.get("ASYNCAPI_CLIENT_NO_EXTENSIONS", "") not in ("", "0"):
    speedups = None
else:
    try:
        from . import _speedups as speedups
    except ImportError:  # not built (no compiler at install), or built for another interpreter
        speedups = None

BUILDER: Final = "C" if speedups is not None else "Python"
"""Which builders decode the hot models from parsed JSON: "C" (the extension) or "Python"."""


def _kinds() -> dict[Any, int]:
    return {
        int: speedups.INT,
        str: speedups.STR,
        str | None: speedups.OPTIONAL_STR,
        datetime: speedups.DATETIME,
        datetime | None: speedups.OPTIONAL_DATETIME,
    }


def builders(
    cls: type, plan: list[tuple[str, str, Any]], refused: object
) -> tuple[Callable[[Any], Any], Callable[[Any], Any]] | None:
    """`(one, many)` in C for `cls` from its `_fields` plan, each giving `refused` for what it
    does not take; None without the extension."""
    if speedups is None:
        return None
    kinds = _kinds()
    entries = [(key, kinds[kind], cls.__dict__[name]) for name, key, kind in plan]
    builder = speedups.Builder(cls, entries, refused)
    return builder.one, builder.many


def adopter(
    cls: type, plan: list[tuple[str, str, Any]], refused: object
) -> tuple[type, Callable[[Any], Any]] | None:
    """`(struct, adopt)`: a msgspec struct of `cls`'s fields (their annotated types: msgspec's
    typed decoder checks a struct's fields as it checks the attrs class's), and `adopt(items)`,
    in C, a list of such structs as `cls` instances holding the same values, or `refused` for
    anything else. None without the extension or msgspec, or when a JSON key is not its field's
    name.

    Why: msgspec builds an attrs instance by a generic attribute store per field, a third of a
    page's decode; its own structs it fills at their offsets, and copying those slots costs
    less than that third."""
    if speedups is None or _json.msgspec is None or any(name != key for name, key, _ in plan):
        return None
    hints = get_type_hints(cls, include_extras=True)
    # gc=False: a struct of ints, strs and datetimes is in no reference cycle.
    fields = [(name, hints[name]) for name, _, _ in plan]
    struct: type = _json.msgspec.defstruct(f"_{cls.__name__}JSON", fields, gc=False)
    kinds = _kinds()
    entries = [(key, kinds[kind], cls.__dict__[name]) for name, key, kind in plan]
    descriptors = [struct.__dict__[name] for name, _, _ in plan]
    builder = speedups.Builder(cls, entries, refused, (struct, descriptors))
    return struct, builder.adopt
