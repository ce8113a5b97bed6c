"""The default transport's fast HTTP/1.1 pool reaches into httpcore's private layout; these tests
fail loudly when the installed httpcore (or httpcore2) leaves the versions it was tested
against, or the layout changes, and prove the fallback to httpcore's public pool works.

When `test_installed_versions_are_the_tested_ones` fails after an upgrade: run the transport
suites (tests/transports) with the new version; if they pass, widen `TESTED_VERSIONS` in
`asyncapi_client/transports/_h1pool.py` and the pins in pyproject.toml together.
"""

from __future__ import annotations

import importlib.util
import select
from pathlib import Path
from types import ModuleType

import anyio
import httpcore
import pytest

from asyncapi_client import Request
from asyncapi_client.transports import HttpcoreTransport
from asyncapi_client.transports._h1pool import TESTED_VERSIONS, fast_path_problem
from tests.support.conformance_server import TestServer

ROOT = Path(__file__).resolve().parents[2]
CORES = [
    pytest.param("httpcore", id="httpcore"),
    pytest.param(
        "httpcore2",
        id="httpcore2",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("httpcore2") is None, reason="httpx2 not installed"
        ),
    ),
]


def _core(name: str) -> ModuleType:
    return httpcore if name == "httpcore" else importlib.import_module("httpcore2")


@pytest.mark.parametrize("name", CORES)
def test_installed_versions_are_the_tested_ones(name: str) -> None:
    problem = fast_path_problem(_core(name))
    assert problem is None, (
        f"the fast pool is off: {problem}. Test the new version (tests/transports) and widen "
        "TESTED_VERSIONS in transports/_h1pool.py and the pin in pyproject.toml"
    )


def test_the_default_transport_runs_on_the_fast_pool() -> None:
    transport = HttpcoreTransport()
    assert transport.fast_path_problem is None
    assert transport._h1 is not None and transport._pool is None


def test_pyproject_pins_the_tested_ranges() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = [*project["dependencies"], *project["optional-dependencies"]["httpx2"]]
    for name, (first, last) in TESTED_VERSIONS.items():
        pins = [r.replace(" ", "") for r in requirements if r.startswith(name + ">=")]
        assert pins, f"pyproject.toml does not pin {name} to its tested range"
        assert f">={first[0]}.{first[1]}" in pins[0] and f"<{last[0]}.{last[1] + 1}" in pins[0], pins[0]


def test_no_select_poll_falls_back_to_the_public_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(select, "poll")
    transport = HttpcoreTransport()
    assert transport.fast_path_problem == "select.poll is not available on this platform"
    assert transport._h1 is None
    _round_trips(transport)


def test_a_changed_layout_falls_back_to_the_public_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    class Renamed(httpcore.AsyncHTTP11Connection):  # type: ignore[misc]
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            self._state_lock_v2 = self.__dict__.pop("_state_lock")

    monkeypatch.setattr(httpcore, "AsyncHTTP11Connection", Renamed)
    assert "has no _state_lock" in (fast_path_problem(httpcore) or "")
    monkeypatch.undo()
    assert fast_path_problem(httpcore) is None


def test_another_version_falls_back_to_the_public_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(httpcore, "__version__", "1.1.0")
    transport = HttpcoreTransport()
    assert transport.fast_path_problem is not None and "outside the tested" in transport.fast_path_problem
    _round_trips(transport)


def _round_trips(transport: HttpcoreTransport) -> None:
    async def main() -> None:
        with TestServer() as server:
            try:
                for i in range(3):
                    response = await transport.send(Request("GET", f"{server.url}/echo?i={i}", timeout=10.0))
                    assert response.json()["query"] == f"i={i}"
            finally:
                await transport.aclose()

    anyio.run(main)
