"""A string that never shows itself: tokens and client secrets live in `Secret`.

Its `repr` and `str` are masked, so a secret that ends up in a log line, an exception message,
an attrs repr or a traceback's locals prints as `Secret('***')`. The value is reached only on
purpose, through `.get()`. Each `Secret` also registers its value with `_redact` for as long as
it lives, so a server that quotes it back has it masked in any error or log line.
"""

from __future__ import annotations

import hmac
from typing import Any, Final

from ._redact import hold

_MASK: Final = "***"


class Secret:
    """A string that never shows itself: masked in `repr`, `str` and f-strings, refused by pickle;
    `.get()` gives the value. Compared in constant time. While it lives, its value is masked in
    any text the SDK quotes from the wire."""

    __slots__ = ("_value", "__weakref__")

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"a secret must be a str, not {type(value).__name__}")
        self._value = value
        hold(self, value)

    def get(self) -> str:
        """The secret itself: call only where it is sent on the wire."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({_MASK!r})"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, spec: str) -> str:
        return _MASK

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            # compare_digest refuses non-ASCII str (TypeError): compare the encoded bytes.
            return hmac.compare_digest(
                self._value.encode("utf-8", "surrogatepass"), other._value.encode("utf-8", "surrogatepass")
            )
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> Any:
        # Pickling is how a secret would leave the process unasked (multiprocessing, caches).
        raise TypeError("a Secret cannot be pickled; pass the plain value on purpose")


def as_secret(value: str | Secret) -> Secret:
    return value if isinstance(value, Secret) else Secret(value)
