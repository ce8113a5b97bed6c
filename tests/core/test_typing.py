"""`mypy --strict` on a small user program: the SDK's types reach the user's code, no `Any`.

The program below is what a user writes; mypy runs on it in a subprocess, as it would in their
project (the SDK found as an installed, `py.typed` package). The test expects the exact errors
that a typo and a wrong argument type must give, and nothing else.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

USER_PROGRAM = textwrap.dedent(
    """\
    from asyncapi_client import AsyncClient, Page, Project, RawResponse, User

    async def main(client: AsyncClient) -> None:
        raw = await client.projects.with_raw_response.get(1)
        reveal_type(raw)
        name: str = raw.parsed.name
        print(name, raw.status_code, raw.request_id, raw.rate_limit)
        print(raw.parsed.nmae)  # error: typo
        page = await client.users.with_raw_response.list_page(1, 10)
        users: list[User] = page.parsed.data
        me: RawResponse[User] = await client.users.with_raw_response.me()
        await client.projects.with_raw_response.get("one")  # error: wrong argument type
        updated = await client.projects.with_raw_response.update(1, description=None)
        project: Project = updated.parsed
        listing: Page[Project] = await client.projects.list_page()
        hooks = await client.webhooks.with_raw_response.list()
        reveal_type(hooks.parsed)
        gone = await client.projects.with_raw_response.delete(1)
        reveal_type(gone.parsed)
        print(users, me, project, listing)
    """
)


def run_mypy(tmp_path: Path) -> list[str]:
    program = tmp_path / "user_program.py"
    program.write_text(USER_PROGRAM)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--no-error-summary",
            "--hide-error-context",
            "--cache-dir",
            str(tmp_path / "mypy-cache"),
            program.name,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode in (0, 1), result.stderr + result.stdout
    return [line for line in result.stdout.splitlines() if line.strip()]


def line_of(marker: str) -> int:
    return next(n for n, line in enumerate(USER_PROGRAM.splitlines(), 1) if marker in line)


def test_with_raw_response_is_typed_so_a_typo_is_a_mypy_error(tmp_path: Path) -> None:
    lines = run_mypy(tmp_path)
    wrong_type = line_of("wrong argument type")
    errors = [line for line in lines if ": error:" in line]
    # Type names without their module paths (and mypy versions differ on "builtins.").
    notes = [
        re.sub(r"(?:asyncapi_client\.[\w.]*?\.|builtins\.)(\w+)", r"\1", line)
        for line in lines
        if ": note:" in line
    ]
    assert errors == [
        f'user_program.py:{line_of("raw.parsed.nmae")}: error: "Project" has no attribute "nmae"  [attr-defined]',
        f'user_program.py:{wrong_type}: error: Argument 1 has incompatible type "str"; expected "int"  [arg-type]',
    ], "\n".join(lines)
    assert notes == [
        f'user_program.py:{line_of("reveal_type(raw)")}: note: Revealed type is "RawResponse[Project]"',
        f'user_program.py:{line_of("reveal_type(hooks")}: note: Revealed type is "list[Webhook]"',
        f'user_program.py:{line_of("reveal_type(gone")}: note: Revealed type is "None"',
    ], "\n".join(lines)
