"""`NOT_GIVEN`: the default of a parameter for which `None` is a value of its own.

`client.with_options(auth=None)` means "no auth" and `projects.update(1, description=None)`
clears the description, so "the caller did not pass it" needs a value that is not None. One
sentinel serves every such parameter (as openai-python's `NOT_GIVEN` does); it is falsy, and
`isinstance(value, NotGiven)` narrows the type for a type checker.
"""

from __future__ import annotations

from typing import Final, Literal


class NotGiven:
    """The type of `NOT_GIVEN`, its one instance (copies and unpickling give it back)."""

    __slots__ = ()
    _instance: NotGiven | None = None

    def __new__(cls) -> NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> Literal[False]:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __reduce__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Final = NotGiven()
