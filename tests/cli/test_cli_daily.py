"""The CLI in daily use, against the sandbox: never a traceback (bad flags and values exit 2 in
one line, a closed pipe ends quietly), --version, -v, --start-page, and bulk-create's numbering
(index and line number, input order), invalid JSON, unknown fields, --job-id re-runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from asyncapi_client import __version__
from asyncapi_client.cli import main
from asyncapi_sandbox import Sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(projects=5000, users=10) as sb:
        yield sb


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox) -> dict[str, str]:
    values = {
        "ASYNCAPI_BASE_URL": sandbox.base_url,
        "ASYNCAPI_CLIENT_ID": sandbox.client_id,
        "ASYNCAPI_CLIENT_SECRET": sandbox.client_secret,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (
            ["users", "bulk-create", "x.jsonl", "--chunk-size", "500"],
            "--chunk-size: must be an integer from 1 to 100, got 500",
        ),
        (
            ["users", "bulk-create", "x.jsonl", "--concurrency", "0"],
            "--concurrency: must be an integer >= 1, got 0",
        ),
        (["projects", "list", "--limit", "many"], "--limit: must be an integer from 1 to 100, got 'many'"),
        (["projects", "list", "--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["projects", "list", "--all", "--page", "3"], "with --all, start elsewhere with --start-page"),
        (["users", "bulk-create", "no-such-file.jsonl"], "no such file: no-such-file.jsonl"),
        (
            ["users", "bulk-create", "x.jsonl", "--job-id", ""],
            "--job-id: must be 1 to 64 printable characters",
        ),
        (["nope"], "invalid choice: 'nope'"),
    ],
)
def test_bad_flags_and_values_are_one_line_errors(
    env: dict[str, str], argv: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert says in err
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"asyncapi-client {__version__}"


def test_start_page_is_honoured(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["projects", "list", "--all", "--limit", "100", "--start-page", "48", "--prefetch", "1"]) == 0
    ids = [p["id"] for p in lines(capsys.readouterr().out)]
    assert ids == list(range(4701, 5001))


def test_models_are_written_as_the_api_writes_them(
    env: dict[str, str], sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["projects", "list", "--page", "3", "--limit", "2"]) == 0
    printed = lines(capsys.readouterr().out)
    token = httpx.post(
        sandbox.token_url,
        data={"grant_type": "client_credentials"},
        auth=(sandbox.client_id, sandbox.client_secret),
    ).json()["access_token"]
    raw = httpx.get(
        f"{sandbox.base_url}/api/v1/projects",
        params={"page": 3, "limit": 2},
        headers={"Authorization": f"Bearer {token}"},
    ).json()["data"]
    assert printed == raw  # field for field, timestamps in the API's own form


def test_verbose_logs_each_call_redacted(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-v", "users", "me"]) == 0
    err = capsys.readouterr().err
    assert "INFO asyncapi_client.http: GET /api/v1/users/me -> 200" in err
    assert env["ASYNCAPI_CLIENT_SECRET"] not in err


def test_an_unexpected_error_is_one_line(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from asyncapi_client import services

    async def broken(self: object) -> None:
        raise RuntimeError("boom token=abc123")

    monkeypatch.setattr(services.UsersService, "me", broken)
    assert main(["users", "me"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("asyncapi-client: error: unexpected RuntimeError: boom token=***")
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def cli() -> list[str]:
    script = shutil.which("asyncapi-client", path=os.path.dirname(sys.executable))
    assert script is not None
    return [script]


def test_a_closed_pipe_ends_quietly(env: dict[str, str]) -> None:
    """`asyncapi-client projects list --all | head -3`: 5,000 projects is far more than a pipe
    holds, so the CLI is still writing when the reader goes away."""
    proc = subprocess.Popen(
        [*cli(), "projects", "list", "--all", "--limit", "100"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **env},
    )
    assert proc.stdout is not None and proc.stderr is not None
    head = [proc.stdout.readline() for _ in range(3)]
    proc.stdout.close()
    err = proc.stderr.read().decode()
    status = proc.wait(timeout=60)
    assert [json.loads(line)["id"] for line in head] == [1, 2, 3]
    assert err == ""
    assert status == 141


def write(path: Path, *rows: str) -> Path:
    path.write_text("".join(row + "\n" for row in rows))
    return path


def test_bulk_lines_carry_the_index_and_line_number_in_input_order(
    env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [json.dumps({"name": f"N{i}", "email": f"n{i}@cli.example.com"}) for i in range(250)]
    rows.insert(0, "")  # blank lines are not records, and do not shift the numbering
    rows.insert(120, "   ")
    rows[197] = '{"email": "no-name@cli.example.com"}'
    rows[60] = "not json"
    rows[61] = '{"name": "Typo", "emial": "typo@cli.example.com"}'
    path = write(tmp_path / "users.jsonl", *rows)
    assert main(["users", "bulk-create", str(path), "--chunk-size", "25", "--concurrency", "4"]) == 1
    captured = capsys.readouterr()
    out = lines(captured.out)
    assert [o["index"] for o in out] == list(range(250))  # every record, in input order
    by_line = {o["line"]: o for o in out}
    assert set(by_line) == {n for n in range(1, len(rows) + 1) if rows[n - 1].strip()}
    failed = {o["line"]: o for o in out if o["status"] == "failed"}
    assert sorted(failed) == [61, 62, 198]
    assert failed[198]["message"] == f"item {failed[198]['index']}: 'name' is missing"
    assert failed[198]["details"] == {"index": failed[198]["index"], "field": "name"}
    assert failed[61]["message"].startswith(f"item {failed[61]['index']}: line 61 is not valid JSON (")
    assert failed[62]["message"].endswith("unknown field 'emial' (a user has only 'name' and 'email')")
    assert "created 247, failed 3" in captured.err


def test_a_csv_file_is_said_to_be_one(
    env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path / "users.csv", "name,email", "Ada,ada@csv.example.com")
    assert main(["users", "bulk-create", str(path)]) == 1
    captured = capsys.readouterr()
    assert all("is not valid JSON" in o["message"] for o in lines(captured.out))
    assert "is not JSON; bulk-create reads JSON lines" in captured.err


def test_job_id_makes_a_rerun_create_nothing_twice(
    env: dict[str, str], sandbox: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [json.dumps({"name": f"J{i}", "email": f"j{i}@job.example.com"}) for i in range(30)]
    path = write(tmp_path / "job.jsonl", *rows)
    argv = ["users", "bulk-create", str(path), "--job-id", "import-7", "--chunk-size", "10"]
    assert main(argv) == 0
    first = lines(capsys.readouterr().out)
    before = sandbox.stats_sync()
    assert main(argv) == 0  # the same job again: each chunk's reply is replayed, nothing created
    second = lines(capsys.readouterr().out)
    after = sandbox.stats_sync()
    assert [o["user"]["id"] for o in second] == [o["user"]["id"] for o in first]
    assert after["users_created"] == before["users_created"]
    assert after["idempotent_replays"] == before["idempotent_replays"] + 3


def test_the_progress_bar_has_a_total(
    env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [json.dumps({"name": f"P{i}", "email": f"p{i}@bar.example.com"}) for i in range(7)]
    path = write(tmp_path / "bar.jsonl", "", *rows)
    assert main(["users", "bulk-create", str(path), "--progress"]) == 0
    assert "7/7" in capsys.readouterr().err
