"""The package's import graph has no cycle.

The graph is read from the source (ast), so it sees every import the interpreter may run:
module-level ones and those inside functions (which run later, but a cycle through them is
still two modules that each need the other). Imports under `if TYPE_CHECKING:` are left out:
they never run. Importing `a.b.c` runs `a/__init__` and `a/b/__init__` first, so an import of a
submodule is also an edge to each package on its way that is not already being imported (an
ancestor of the importing module). A module loaded by name at run time (`importlib`) would be
invisible to this walk, so the package may not load its own modules that way.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import asyncapi_client
from tests.support.import_walk import imports, package_modules

PACKAGE = "asyncapi_client"
ROOT = Path(asyncapi_client.__file__).resolve().parent


def module_files() -> dict[str, Path]:
    modules = dict(package_modules(ROOT.parent, PACKAGE))
    # A C extension is a module too, with its stub beside its source; it imports nothing here.
    for stub in sorted(ROOT.rglob("*.pyi")):
        if stub.with_suffix(".c").exists():
            modules[".".join(stub.relative_to(ROOT.parent).with_suffix("").parts)] = stub
    return modules


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> Iterator[str]:
    """The package's modules that `name` imports (explicitly named, not yet the parents)."""
    tree = ast.parse(path.read_text(), str(path))
    found = imports(
        tree, importer=name, importer_is_package=path.name == "__init__.py", skip_type_checking=True
    )
    for imported in found:
        if imported.module != PACKAGE and not imported.module.startswith(PACKAGE + "."):
            continue
        if not imported.names:
            yield imported.module
        for alias in imported.names:
            submodule = f"{imported.module}.{alias}"
            yield submodule if submodule in modules else imported.module


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        ancestors = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        if path.name == "__init__.py":
            ancestors.add(name)
        for target in imported_modules(name, path, modules):
            assert target in modules, f"{name} imports {target}, which is not a module of the package"
            graph[name].add(target)
            # The packages on the way to `target` that are not already being imported.
            for i in range(2, target.count(".") + 1):
                parent = ".".join(target.split(".")[:i])
                if parent not in ancestors:
                    graph[name].add(parent)
        graph[name].discard(name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_package_has_no_import_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 50  # the walk found the package
    assert "asyncapi_client._client" in graph["asyncapi_client"]
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_the_walk_sees_function_level_imports_and_skips_type_checking_ones() -> None:
    graph = import_graph()
    # `SharedState.build` imports the default transport inside the function.
    assert "asyncapi_client.transports._httpcore" in graph["asyncapi_client._shared_state"]
    # services/_base.py names AsyncClient only for the type checker.
    assert "asyncapi_client._client" not in graph["asyncapi_client.services._base"]


def test_cycles_finds_a_cycle_through_a_package_init() -> None:
    """The detector itself: a submodule that imports its own package's `__init__` back."""
    graph = {"pkg": {"pkg.a"}, "pkg.a": {"pkg.sub"}, "pkg.sub": {"pkg.sub.b"}, "pkg.sub.b": {"pkg.a"}}
    assert cycles(graph) == [["pkg.a", "pkg.sub", "pkg.sub.b"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_package_loads_none_of_its_own_modules_by_name() -> None:
    """`importlib.import_module(".x", __package__)` hides an edge from the walk above: a call
    that names one of our modules, or passes a package to resolve a relative name against, fails
    (the optional transports import their outside libraries this way, by absolute name)."""
    offenders = []
    for name, path in module_files().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called not in ("import_module", "__import__"):
                continue
            first = node.args[0] if node.args else None
            names_ours = isinstance(first, ast.Constant) and (
                str(first.value).startswith(".") or str(first.value).split(".")[0] == PACKAGE
            )
            relative = len(node.args) > 1 or any(k.arg == "package" for k in node.keywords)
            if names_ours or (called == "import_module" and relative):
                offenders.append(f"{name}: {ast.unparse(node)}")
    assert not offenders, offenders
