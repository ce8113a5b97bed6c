"""The imports a package's source makes, read with `ast` (nothing is imported to find them).

One walker serves the layout test (which third-party distributions each package imports) and
the import-graph test (no cycle inside the client): both need every import the interpreter may
run, at any depth (functions, `try` blocks), and `importlib.import_module("x")` with a literal.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Imported:
    module: str
    """The module imported, absolute (a relative import resolved against its importer)."""
    names: tuple[str, ...]
    """`from module import names`; empty for `import module` and `import_module(...)`."""
    optional: bool
    """Inside `try: ... except ImportError` (or `ModuleNotFoundError`)."""


def package_modules(root: Path, package: str) -> Iterator[tuple[str, Path]]:
    """(dotted module name, path) of every module of `package`, found under `root`."""
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def _guarded_by_import_error(node: ast.Try) -> bool:
    for handler in node.handlers:
        caught = handler.type
        names = caught.elts if isinstance(caught, ast.Tuple) else [caught]
        if any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError") for n in names):
            return True
    return False


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports(
    tree: ast.Module,
    *,
    importer: str | None = None,
    importer_is_package: bool = False,
    skip_type_checking: bool = False,
) -> Iterator[Imported]:
    """Every import in `tree`. Relative imports are resolved when `importer` (the module's
    dotted name) is given, and left out otherwise. `skip_type_checking` leaves out the bodies
    of `if TYPE_CHECKING:` (which never run; their `else:` does)."""

    def resolve(node: ast.ImportFrom) -> str | None:
        if not node.level:
            return node.module
        if importer is None:
            return None
        parts = importer.split(".") if importer_is_package else importer.split(".")[:-1]
        base = parts[: len(parts) - (node.level - 1)]
        return ".".join(base + ([node.module] if node.module else []))

    def visit(node: ast.AST, optional: bool) -> Iterator[Imported]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Imported(alias.name, (), optional)
        elif isinstance(node, ast.ImportFrom):
            module = resolve(node)
            if module:
                yield Imported(module, tuple(alias.name for alias in node.names), optional)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                yield Imported(node.args[0].value, (), optional)
        if isinstance(node, ast.If) and skip_type_checking and _is_type_checking(node.test):
            for child in node.orelse:
                yield from visit(child, optional)
            return
        if isinstance(node, ast.Try):
            guarded = _guarded_by_import_error(node)
            for child in node.body:
                yield from visit(child, optional or guarded)
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                yield from visit(child, optional)
            return
        for child in ast.iter_child_nodes(node):
            yield from visit(child, optional)

    yield from visit(tree, False)
