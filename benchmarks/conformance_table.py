"""Run the transports' peer suite and write its scenario-by-transport table into docs/transports.md.

    python benchmarks/conformance_table.py    # needs nginx and tinyproxy (apt) and the dev extra

Runs tests/transports/test_peers.py (every socket transport against Debian's nginx, hypercorn
over TLS with a trustme CA, and Debian's tinyproxy) with pytest, records each test's outcome,
and replaces the table between the markers in docs/transports.md with this run's: one row per
scenario (the test's docstring), one column per transport. The table is never edited by hand.
Exits non-zero when a test failed (the table then shows FAIL where it did).
"""

from __future__ import annotations

import importlib.metadata
import platform
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "transports.md"
SUITE = "tests/transports/test_peers.py"
BEGIN = (
    "<!-- peer-table:begin (written by benchmarks/conformance_table.py from its last run; do not edit) -->"
)
END = "<!-- peer-table:end -->"
COLUMNS = {
    "httpcore": "`HttpcoreTransport` (asyncio)",
    "httpcore-trio": "`HttpcoreTransport` (trio)",
    "httpcore-pool": "`HttpcoreTransport`, public-pool fallback",
    "httpcore2": "`Httpcore2Transport`",
    "aiohttp": "`AiohttpTransport`",
    "pyreqwest": "`PyreqwestTransport`",
}


class Recorder:
    """A pytest plugin: each test's scenario (docstring), transport (parameter id) and outcome
    (pass, FAIL, or "no" for a skip: a transport that cannot do it, the reason in a note)."""

    def __init__(self) -> None:
        self.scenarios: dict[str, str] = {}  # test name -> first docstring line, in file order
        self.outcomes: dict[tuple[str, str], tuple[str, str]] = {}  # (test, kind) -> (outcome, why)

    def pytest_collection_modifyitems(self, items: list[Any]) -> None:
        for item in items:
            doc = (getattr(item, "function", None).__doc__ or item.name).strip().splitlines()[0]
            self.scenarios.setdefault(item.originalname, doc.rstrip("."))

    def pytest_runtest_logreport(self, report: Any) -> None:
        name, _, kind = report.nodeid.split("::")[-1].partition("[")
        key = (name, kind.rstrip("]"))
        if report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            self.outcomes[key] = ("no", reason.removeprefix("Skipped: "))
        elif report.failed:
            self.outcomes[key] = ("FAIL", "")
        elif report.when == "call" and key not in self.outcomes:
            self.outcomes[key] = ("pass", "")


def _version(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError:
        return "not installed"
    text = (done.stdout + done.stderr).strip()
    found = re.search(r"\d+\.\d+(\.\d+)?", text)
    return found.group(0) if found else text


def _package(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def table(recorder: Recorder) -> str:
    notes: dict[str, int] = {}
    lines = ["| scenario | " + " | ".join(COLUMNS.values()) + " |", "| --- |" + " --- |" * len(COLUMNS)]
    for name, scenario in recorder.scenarios.items():
        cells = []
        for kind in COLUMNS:
            outcome, why = recorder.outcomes.get((name, kind), ("not run", ""))
            if why:
                mark = notes.setdefault(why, len(notes) + 1)
                outcome += f" ({mark})"
            cells.append(outcome)
        lines.append(f"| {scenario} | " + " | ".join(cells) + " |")
    peers = (
        f"nginx {_version(['nginx', '-v'])}, tinyproxy {_version(['tinyproxy', '-v'])}, "
        f"hypercorn {_package('hypercorn')}; httpcore {_package('httpcore')}, httpcore2 {_package('httpcore2')}, "
        f"aiohttp {_package('aiohttp')}, pyreqwest {_package('pyreqwest')}; Python {platform.python_version()}"
    )
    lines += ["", f"Peers and libraries of that run: {peers}."]
    for why, mark in notes.items():
        lines.append(f"({mark}) {why}.")
    return "\n".join(lines)


def main() -> int:
    recorder = Recorder()
    status = pytest.main(["-q", "-p", "no:cacheprovider", str(ROOT / SUITE)], plugins=[recorder])
    text = DOC.read_text()
    if BEGIN not in text or END not in text:
        print(f"{DOC.relative_to(ROOT)} has no {BEGIN!r} ... {END!r} markers", file=sys.stderr)
        return 2
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    DOC.write_text(f"{head}{BEGIN}\n{table(recorder)}\n{END}{tail}")
    print(f"wrote the table of {len(recorder.outcomes)} outcomes to {DOC.relative_to(ROOT)}")
    return int(status)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main())
