"""`mypy --strict` on a user's program (tests/support/user_program.py: `with_raw_response`,
`to_dict`, the webhook receiver, the FastAPI dependencies): it passes, no SDK type is `Any`
there (its `assert_type` lines would fail), and a misspelt attribute or key is an error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PROGRAM = (Path(__file__).parents[1] / "support" / "user_program.py").read_text()

# (the right text, a typo of it): an attribute, a to_dict() key, a model field, an error field.
TYPOS = [
    ('return [row["name"] for row in rows]', 'return [row["nmae"] for row in rows]'),
    ("print(event.data.name,", "print(event.data.nmae,"),
    ("receiver = WebhookReceiver(hook.secret)", "receiver = WebhookReceiver(hook.secrte)"),
    ("print(status.remaining, status.limit)", "print(status.remianing, status.limit)"),
    ('field = error.details.get("field")', 'field = error.detials.get("field")'),
    ("print(user.to_json())", "print(user.to_jsno())"),
    ("print(raw.parsed.name, raw.status_code)", "print(raw.parsed.nmae, raw.status_code)"),
]


def mypy(source: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    program = tmp_path / "program.py"
    program.write_text(source)
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\n")  # a user's own settings, not this repository's
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file",
            str(config),
            "--cache-dir",
            str(tmp_path.parent / "mypy-cache"),
            str(program),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("typing")


def test_the_program_passes_mypy_strict(workdir: Path) -> None:
    clean = workdir / "clean"
    clean.mkdir()
    result = mypy(PROGRAM, clean)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found" in result.stdout


def test_a_typo_is_an_error(workdir: Path) -> None:
    typos = workdir / "typos"
    typos.mkdir()
    source = PROGRAM
    for right, wrong in TYPOS:
        assert right in source, right
        source = source.replace(right, wrong)
    result = mypy(source, typos)
    assert result.returncode == 1, result.stdout
    lines = source.splitlines()
    reported = {int(line.split(":")[1]) for line in result.stdout.splitlines() if ": error:" in line}
    for _, wrong in TYPOS:
        number = next(i for i, text in enumerate(lines, start=1) if wrong in text)
        assert number in reported, f"no error for {wrong!r}:\n{result.stdout}"
