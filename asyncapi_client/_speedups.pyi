"""Types of the optional C extension built from `_speedups.c` (see `_c_builders`)."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Final, final

INT: Final[int]
STR: Final[int]
OPTIONAL_STR: Final[int]
DATETIME: Final[int]
OPTIONAL_DATETIME: Final[int]

@final
class Builder:
    """Builds `cls` instances from parsed JSON; `plan` holds (JSON key, kind, slot descriptor)."""

    def __init__(
        self,
        cls: type,
        plan: Sequence[tuple[str, int, Any]],
        refused: object,
        source: tuple[type, Sequence[Any]] | None = None,
    ) -> None: ...
    def one(self, obj: object, /) -> Any: ...
    def many(self, items: object, /) -> Any: ...
    def adopt(self, items: object, /) -> Any: ...

@final
class Maker:
    """`make(*values)`: a new `cls` instance with one value per descriptor in its slot."""

    def __init__(self, cls: type, descriptors: Sequence[Any]) -> None: ...
    def make(self, *values: object) -> Any: ...

def any_in(names: tuple[str, ...], mapping: Mapping[str, str], /) -> bool: ...
def parse_datetime(value: object, /) -> datetime | None: ...
