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
"""

from __future__ import annotations

import importlib
import json
import os
from typing import Any, Final

# Errors a parser raises on bad input (RecursionError: nested too deep).
PARSE_ERRORS: Final = (ValueError, UnicodeDecodeError, RecursionError)
_JSON_OPENERS: Final = (b"{", b"[")
_stdlib_decode = json.JSONDecoder().decode  # json.loads' own default decoder, same settings


def stdlib_loads(content: bytes) -> Any:
    """`json.loads(content)`, without its encoding sniffing where the answer is known: a body
    opening with `{` or `[` and no NUL after it is UTF-8."""
    if type(content) is bytes and content[:1] in _JSON_OPENERS and content[1:2] != b"\x00":
        return _stdlib_decode(content.decode("utf-8", "surrogatepass"))
    return json.loads(content)


msgspec: Any  # the module, or None without the [speed] extra (or with ASYNCAPI_JSON_PARSER=json)
try:
    msgspec = None if os.environ.get("ASYNCAPI_JSON_PARSER") == "json" else importlib.import_module("msgspec")
except ImportError:
    msgspec = None

if msgspec is not None:
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
