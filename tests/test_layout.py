"""The repository's layout holds: the client never imports the sandbox, each package declares the
third-party distributions it imports (and the sandbox extra nothing it does not), and the suite's
helpers live in one package."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.support.import_walk import imports, package_modules

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("asyncapi_client", "asyncapi_sandbox")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

# A pytest plugin is only ever imported by pytest: the host needs no declaring.
IMPORTED_BY_ITS_HOST = {"asyncapi_sandbox.pytest_plugin": {"pytest"}}
# Declared and needed at run time, but never imported by name: sniffio is what httpcore asks for
# the running async library (without it, httpcore retries a failing import on every lock);
# httptools is uvicorn's HTTP parser, chosen by name in `uvicorn.Config(http="httptools")`.
USED_WITHOUT_IMPORT = {"asyncapi_client": {"sniffio"}, "asyncapi_sandbox": {"httptools"}}


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def modules(package: str) -> Iterator[tuple[str, ast.Module]]:
    for name, path in package_modules(ROOT, package):
        yield name, ast.parse(path.read_text(), filename=str(path))


def declared(*extras: str) -> set[str]:
    """Distributions named by the core dependencies and the given extras (markers ignored)."""
    project = PYPROJECT["project"]
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    names = {normalize(Requirement(text).name) for text in requirements}
    return names - {normalize(project["name"])}


def declarations() -> dict[str, set[str]]:
    """What each package may import: the client, the core and its own extras; the sandbox, the
    core and the `sandbox` extra (it runs on the client, which brings the core)."""
    client_extras = [e for e in PYPROJECT["project"]["optional-dependencies"] if e not in ("sandbox", "dev")]
    return {"asyncapi_client": declared(*client_extras), "asyncapi_sandbox": declared("sandbox")}


def third_party(package: str, *, optional_too: bool = False) -> dict[str, set[str]]:
    """Top-level third-party module -> the modules of `package` importing it; imports guarded
    by `except ImportError` only with `optional_too`."""
    found: dict[str, set[str]] = {}
    for module, tree in modules(package):
        for imported in imports(tree):
            top = imported.module.partition(".")[0]
            if imported.optional and not optional_too:
                continue
            if top in sys.stdlib_module_names or top in (*PACKAGES, "__future__"):
                continue
            if top in IMPORTED_BY_ITS_HOST.get(module, ()):
                continue
            found.setdefault(top, set()).add(module)
    return found


def distributions(top_level: str) -> set[str]:
    mapping = importlib.metadata.packages_distributions()
    return {normalize(d) for d in mapping.get(top_level, [top_level])}


def test_the_client_never_imports_the_sandbox() -> None:
    offenders = [
        f"{module} imports {imported.module}"
        for module, tree in modules("asyncapi_client")
        for imported in imports(tree)
        if imported.module.partition(".")[0] == "asyncapi_sandbox"
    ]
    assert offenders == []


def test_the_import_walker_sees_every_kind_of_import() -> None:
    tree = ast.parse(
        "import a.b\nfrom c import d\nfrom . import local\n"
        "def f():\n    import importlib\n    importlib.import_module('e')\n"
        "try:\n    import g\nexcept ImportError:\n    pass\n"
    )
    assert sorted((i.module, i.optional) for i in imports(tree)) == [
        ("a.b", False),
        ("c", False),
        ("e", False),
        ("g", True),
        ("importlib", False),
    ]


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_imports_only_distributions_it_declares(package: str) -> None:
    allowed = declarations()[package]
    undeclared = {
        top: sorted(where) for top, where in third_party(package).items() if not distributions(top) & allowed
    }
    assert undeclared == {}, f"{package} imports distributions pyproject.toml does not declare for it"


@pytest.mark.parametrize(("package", "extra"), [("asyncapi_client", None), ("asyncapi_sandbox", "sandbox")])
def test_what_a_package_declares_it_uses(package: str, extra: str | None) -> None:
    """The core dependencies are the client's imports, and the `sandbox` extra the sandbox's:
    nothing in them that the code does not use (httpx left the core when only the sandbox and
    the tests imported it; starlette left the sandbox extra when nothing imported it)."""
    listed = declared(extra) - declared() if extra else declared()
    used = {d for top in third_party(package, optional_too=True) for d in distributions(top)}
    unused = listed - used - USED_WITHOUT_IMPORT[package]
    assert unused == set()


def test_the_suite_keeps_its_helpers_in_tests_support() -> None:
    """Beside tests/support/, a module under tests/ is a test module, a conftest.py or a package
    marker; benchmark scripts live in benchmarks/."""
    tests = ROOT / "tests"
    strays = [
        str(path.relative_to(ROOT))
        for path in tests.rglob("*.py")
        if "support" not in path.relative_to(tests).parts[:1]
        and not path.name.startswith("test_")
        and path.name not in ("conftest.py", "__init__.py")
    ]
    assert strays == []
