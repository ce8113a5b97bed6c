"""The pytest plugin as a user meets it: opt-in, and the docs' example passing in an empty
directory, outside this repository's pytest configuration (no `asyncio_mode = "auto"`)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "sandbox.md"


def doc_files() -> dict[str, str]:
    """The python blocks of docs/sandbox.md whose first line names a file (`# conftest.py`)."""
    blocks = re.findall(r"```python\n# (\S+\.py)\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    return {name: body for name, body in blocks}


def run_pytest(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (directory / "pytest.ini").write_text("[pytest]\n")  # this directory is the rootdir
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_docs_example_passes_outside_this_repository(tmp_path: Path) -> None:
    files = doc_files()
    assert set(files) == {"conftest.py", "test_projects.py"}
    for name, body in files.items():
        (tmp_path / name).write_text(body)
    result = run_pytest(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_the_plugin_is_not_loaded_unless_asked_for(tmp_path: Path) -> None:
    (tmp_path / "test_uses_fixture.py").write_text("def test_it(sandbox):\n    pass\n")
    result = run_pytest(tmp_path)
    assert result.returncode != 0
    assert "fixture 'sandbox' not found" in result.stdout
    assert run_pytest(tmp_path, "-p", "asyncapi_sandbox.pytest_plugin").returncode == 0
