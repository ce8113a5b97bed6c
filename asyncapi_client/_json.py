"""The JSON parser: msgspec's when it is installed (`pip install 'asyncapi-client[speed]'`), the
standard library's otherwise, with the standard library's answers either way.

`loads(content)` gives exactly what `json.loads(content)` gives, value or error. msgspec reads
strict RFC 8259 JSON in UTF-8, two to three times faster; whatever it refuses (`NaN`, a UTF-8
byte order mark, UTF-16, a lone surrogate escape, garbage) goes to `json.loads`, which accepts
it or raises its own error. So a body decodes, or fails with the same `ResponseDecodeError`
message, whichever parser is installed. (Both refuse nesting deeper than Python's recursion
limit allows; near that limit, their cut-off depths may differ by a few levels.)

`ASYNCAPI_JSON_PARSER=json` in the environment (read at import) uses the standard library even
with msgspec installed: to compare the two, or to rule msgspec out.

`typed_decoder(spec)` is the decode function of msgspec's typed decoder for `spec` (None
without msgspec): `_fast_decode` uses it to build the hot models straight from the bytes.
`AWARE`, in a datetime's `Annotated`, makes that decoder refuse a timestamp without offset.
"""

from __future__ import annotations

import importlib
import json
import os
from typing import Any, Final

# Errors a parser raises on bad input (RecursionError: nested too deep).
PARSE_ERRORS: Final = (ValueError, UnicodeDecodeError, RecursionError)
_JSON_OPENERS: Final = (b"{", b"[")
_JSON_WHITESPACE: Final = " \t\n\r"
# json.loads' own scanner (C), with its default decoder's settings: what `JSONDecoder.decode`
# calls after matching the whitespace around the value with a regex each side.
_scan: Final[Any] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def stdlib_loads(content: bytes) -> Any:
    """`json.loads(content)`. A body opening with `{` or `[` and no NUL after it is UTF-8 (no
    encoding sniffing) and goes to the scanner directly; whatever it does not read whole (an
    error, extra data after the value) goes to `json.loads`, for its answer, value or error."""
    if type(content) is bytes and content[:1] in _JSON_OPENERS and content[1:2] != b"\x00":
        try:
            text = content.decode("utf-8", "surrogatepass")
            value, end = _scan(text, 0)
        except Exception:  # StopIteration, JSONDecodeError, RecursionError...: json.loads says
            pass
        else:
            if end == len(text) or not text[end:].strip(_JSON_WHITESPACE):
                return value
    return json.loads(content)


msgspec: Any  # the module, or None without the [speed] extra (or with ASYNCAPI_JSON_PARSER=json)
try:
    msgspec = None if os.environ.get("ASYNCAPI_JSON_PARSER") == "json" else importlib.import_module("msgspec")
except ImportError:
    msgspec = None

AWARE: Any = "aware"  # msgspec's Meta(tz=True) with msgspec; to the rest, a note

if msgspec is not None:
    AWARE = msgspec.Meta(tz=True)
    _msgspec_decode = msgspec.json.Decoder().decode
    # TypeError: content that is not bytes-like to msgspec (json.loads also takes str).
    _msgspec_errors: tuple[type[BaseException], ...] = (msgspec.DecodeError, RecursionError, TypeError)
    PARSER: str = "msgspec"

    def loads(content: bytes) -> Any:
        try:
            return _msgspec_decode(content)
        except _msgspec_errors:
            return stdlib_loads(content)  # its answer, value or error

    def typed_decoder(spec: Any) -> Any:
        return msgspec.json.Decoder(spec).decode

else:
    PARSER = "json"
    loads = stdlib_loads

    def typed_decoder(spec: Any) -> Any:
        return None
