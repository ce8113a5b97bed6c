"""The optional C extension (`_speedups`): the hot models' builders from parsed JSON, in C.

Installing the package compiles `_speedups.c` when a C compiler and the Python headers are
there (`hatch_build.py`); without them it installs pure Python, and `_fast_decode`'s builders
written in Python do the same work, about twice as slowly. `ASYNCAPI_CLIENT_NO_EXTENSIONS=1`
skips the compile at install, and at import (read once) leaves a built extension unused: to
compare the two, or to rule the C code out.

A C builder is made from the same plan as the Python ones (`_fast_decode._fields`: each field's
name, JSON key and type): it is handed the keys, the kinds and the slots' descriptors, and holds
no field list of its own. It gives what the Python builder gives, or the same refusal (`refused`,
`_fast_decode._SLOW`), after which the converter answers.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

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
