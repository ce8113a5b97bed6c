"""The `asyncapi-client` command line against a real sandbox: the resource commands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from asyncapi_client.cli import main
from asyncapi_sandbox import Sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(projects=120, users=10) as sb:
        yield sb


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, sandbox: Sandbox) -> None:
    monkeypatch.setenv("ASYNCAPI_BASE_URL", sandbox.base_url)
    monkeypatch.setenv("ASYNCAPI_CLIENT_ID", sandbox.client_id)
    monkeypatch.setenv("ASYNCAPI_CLIENT_SECRET", sandbox.client_secret)
    monkeypatch.delenv("ASYNCAPI_TOKEN_URL", raising=False)
    monkeypatch.delenv("ASYNCAPI_ACCESS_TOKEN", raising=False)


def lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_users_me_prints_the_user_as_json(env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["users", "me"]) == 0
    (me,) = lines(capsys.readouterr().out)
    assert me["email"] == "demo-client@example.com"


def test_projects_list_all_streams_every_project_once(env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["projects", "list", "--all", "--limit", "50", "--prefetch", "2"]) == 0
    ids = [p["id"] for p in lines(capsys.readouterr().out)]
    assert len(ids) == 120
    assert ids == sorted(set(ids))


def test_projects_list_one_page(env: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["projects", "list", "--page", "2", "--limit", "10"]) == 0
    assert [p["id"] for p in lines(capsys.readouterr().out)] == list(range(11, 21))


def test_bulk_create_reports_every_line(
    env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "users.jsonl"
    path.write_text(
        '{"name": "Cli One", "email": "cli.one@example.com"}\n'
        "this is not json\n"
        '{"name": "Cli Bad", "email": "nope"}\n'
        '{"name": "Cli Two", "email": "cli.two@example.com"}\n'
    )
    assert main(["users", "bulk-create", str(path)]) == 1  # some failed
    outcomes = {o["index"]: o for o in lines(capsys.readouterr().out)}
    assert sorted(outcomes) == [0, 1, 2, 3]
    assert [outcomes[i]["status"] for i in range(4)] == ["created", "failed", "failed", "created"]
    assert outcomes[2]["error"] == "BadRequestError"


@pytest.mark.parametrize(
    ("unset", "message"),
    [
        ("ASYNCAPI_BASE_URL", "ASYNCAPI_BASE_URL"),
        ("ASYNCAPI_CLIENT_SECRET", "ASYNCAPI_CLIENT_SECRET"),
    ],
)
def test_missing_configuration_is_a_clear_error(
    env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], unset: str, message: str
) -> None:
    monkeypatch.delenv(unset)
    assert main(["users", "me"]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_secret_flag_never_echoed_in_errors(
    env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("ASYNCAPI_CLIENT_SECRET")
    assert main(["users", "me", "--client-secret", "wrong-secret-value"]) == 1
    captured = capsys.readouterr()
    assert "OAuthError" in captured.err
    assert "wrong-secret-value" not in captured.err + captured.out
