"""Each public package's `__all__` is exactly what it serves.

Served means: a public name bound in the module that holds one of the package's own classes or
functions (an incidental `Any` or `TYPE_CHECKING` is not), plus every name its `__getattr__` hands
out on first use (the transports over network libraries, the Redis stores). The names
`__getattr__` serves are read from its source (the strings it compares `name` with), so a lazy
name cannot be served yet left out of `__all__`.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import types

import pytest

PUBLIC_PACKAGES = [
    "asyncapi_client",
    "asyncapi_client.auth",
    "asyncapi_client.services",
    "asyncapi_client.transports",
    "asyncapi_client.webhooks",
]


def is_ours(value: object) -> bool:
    module = getattr(value, "__module__", None)
    if isinstance(value, (str, int, float, frozenset, tuple, dict)):
        return False  # constants carry no module; the bound ones are checked through __all__
    return isinstance(module, str) and module.split(".")[0] == "asyncapi_client"


def bound_public_names(module: types.ModuleType) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType) and is_ours(value)
    }


def lazily_served_names(module: types.ModuleType) -> set[str]:
    """The names `module.__getattr__` compares its argument with (`name == "X"`, `name in S`)."""
    getattr_fn = vars(module).get("__getattr__")
    if getattr_fn is None:
        return set()
    served: set[str] = set()
    for node in ast.walk(ast.parse(inspect.getsource(getattr_fn))):
        if not isinstance(node, ast.Compare):
            continue
        for comparator in node.comparators:
            if isinstance(comparator, ast.Constant) and isinstance(comparator.value, str):
                served.add(comparator.value)
            elif isinstance(comparator, (ast.Tuple, ast.List, ast.Set)):
                served.update(e.value for e in comparator.elts if isinstance(e, ast.Constant))
            elif isinstance(comparator, ast.Name):
                served.update(getattr(module, comparator.id))
    return served


@pytest.mark.parametrize("name", PUBLIC_PACKAGES)
def test_all_is_exactly_what_the_package_serves(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert len(exported) == len(set(exported)), "a name twice in __all__"
    lazy = lazily_served_names(module)
    # Everything it serves is exported ...
    assert not (bound_public_names(module) - set(exported)), "served but not in __all__"
    assert not (lazy - set(exported)), "served by __getattr__ but not in __all__"
    # ... and everything exported is served (bound, or handed out by __getattr__).
    assert not (set(exported) - set(vars(module)) - lazy), "in __all__ but not served"
    for public in exported:
        assert getattr(module, public) is not None
    with pytest.raises(AttributeError, match="NoSuchName"):
        module.NoSuchName  # noqa: B018 - the access is the test


def test_every_transport_the_top_level_serves_is_exported() -> None:
    import asyncapi_client

    lazy = lazily_served_names(asyncapi_client)
    assert {"AiohttpTransport", "HttpcoreTransport", "Httpcore2Transport", "PyreqwestTransport"} <= lazy
    assert lazy <= set(asyncapi_client.__all__)
    from asyncapi_client.transports import AiohttpTransport, HttpcoreTransport

    assert asyncapi_client.AiohttpTransport is AiohttpTransport
    assert asyncapi_client.HttpcoreTransport is HttpcoreTransport


def test_star_import_gives_all() -> None:
    namespace: dict[str, object] = {}
    exec("from asyncapi_client import *", namespace)
    namespace.pop("__builtins__")
    import asyncapi_client

    assert set(namespace) == set(asyncapi_client.__all__)
