"""The `asyncapi-sandbox` command line: `demo` runs the whole SDK against an in-process sandbox,
and the client's own CLI no longer carries the server's commands."""

from __future__ import annotations

import pytest

from asyncapi_client.cli import build_parser
from asyncapi_sandbox._cli import main


def test_demo_runs_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--projects", "120", "--bulk", "300", "--rate", "50", "--burst", "10"]) == 0
    out = capsys.readouterr().out
    assert "streamed 120 projects of 120" in out
    assert "every index accounted for: True" in out
    assert "item 3: BadRequestError" in out
    assert "received a verified 'project.created' event" in out
    assert "5. summary" in out


@pytest.mark.parametrize("command", ["sandbox", "demo"])
def test_the_client_cli_has_no_server_commands(command: str) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args([command])
