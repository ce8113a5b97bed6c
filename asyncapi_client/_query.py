"""The query string of a call: `"?" + urlencode(params)`, less the None values, cheaper for whole
numbers.

Every page of a listing is a `?page=N&limit=M`; `urllib.parse.urlencode` quotes each name and
value, which made it a third of building a request. Whole numbers under names that need no
quoting are written directly (what `urlencode` writes for them); anything else goes through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote_plus, urlencode

_SAFE_NAMES: dict[str, bool] = {}  # query parameter name -> it needs no quoting


def query_string(params: Mapping[str, Any]) -> str:
    """`"?" + urlencode(params)` less the None values; "" when none is left."""
    parts = []
    for name, value in params.items():
        if value is None:
            continue
        safe = _SAFE_NAMES.get(name)
        if safe is None:
            safe = quote_plus(name) == name
            if len(_SAFE_NAMES) < 256:
                _SAFE_NAMES[name] = safe
        if type(value) is int and safe:
            parts.append(f"{name}={value}")
        else:
            parts.append(urlencode({name: value}))
    return "?" + "&".join(parts) if parts else ""
