"""Starting the sandbox: options, the Sandbox runner (thread, subprocess, sync, trio), the CLI,
the bare ASGI app, the admin routes and the pytest plugin's fixtures."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest
import trio

from asyncapi_sandbox import Sandbox, SandboxConfig, create_app
from asyncapi_sandbox._cli import add_serve_command, config_from_args

# Raw asyncio sockets, servers or async fixtures: asyncio by nature (the runner's trio test
# and the other sandbox modules cover trio).
ASYNCIO_ONLY = True


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"fail_rate": 1.5}, "fail_rate must be a fraction between 0 and 1"),
        ({"drop_rate": -0.1}, "drop_rate must be a fraction"),
        ({"rate": -1}, "rate must be >= 0"),
        ({"burst": 2.5}, "burst must be an integer"),
        ({"token_ttl": 0}, "token_ttl must be >= 0.001"),
        ({"latency_ms": float("nan")}, "latency_ms must be a finite number"),
        ({"max_bulk": 0}, "max_bulk must be >= 1"),
        ({"users": "10"}, "users must be an integer"),
        ({"port": 70000}, "port must be between 0 and 65535"),
        ({"client_id": ""}, "client_id must be a non-empty string"),
        ({"fail_rate": 0.6, "drop_rate": 0.6}, "must not exceed 1"),
    ],
)
def test_config_is_validated_with_clear_messages(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SandboxConfig(**options)


def test_secret_stays_out_of_repr_and_public_options() -> None:
    config = SandboxConfig(client_secret="hush")
    assert "hush" not in repr(config)
    assert "client_secret" not in config.public()


async def test_runtime_configuration_is_validated(sb: Sandbox) -> None:
    with pytest.raises(ValueError, match="fraction between 0 and 1"):
        await sb.configure(fail_rate=2)
    with pytest.raises(ValueError, match="cannot change users at runtime"):
        await sb.configure(users=3)
    current = await sb.configure(rate=3)
    assert current["rate"] == 3 and current["burst"] == 0
    await sb.reset()  # back to the starting options
    async with httpx.AsyncClient() as http:
        assert (await http.get(sb.base_url + "/_sandbox/config")).json()["rate"] == 0


async def test_stats_has_the_documented_keys(sb: Sandbox) -> None:
    stats = await sb.stats()
    for key in (
        "token_requests",
        "responses_by_status",
        "rate_limited",
        "users_created",
        "projects_created",
        "idempotent_replays",
        "webhook_deliveries",
        "requests_total",
        "drops",
        "bulk_requests",
        "users_total",
        "projects_total",
        "duplicate_creates",
    ):
        assert key in stats
    assert stats["token_requests"] == {"client_credentials": 0, "refresh_token": 0, "authorization_code": 0}
    assert stats["authorizations"] == {"approved": 0, "denied": 0} and stats["revocations"] == 0
    assert stats["webhook_deliveries"] == {"succeeded": 0, "failed": 0}


def test_sync_form_and_trio() -> None:
    with Sandbox(projects=3) as sb:
        assert sb.base_url.startswith("http://127.0.0.1:") and not sb.base_url.endswith("/")
        assert sb.token_url == sb.base_url + "/oauth/token"
        assert sb.stats_sync()["projects_total"] == 3
    assert not sb.running
    with pytest.raises(RuntimeError, match="not running"):
        _ = sb.base_url

    async def under_trio() -> int:
        async with Sandbox(users=4) as server, httpx.AsyncClient() as http:
            token = await http.post(
                server.token_url,
                data={"grant_type": "client_credentials"},
                auth=(server.client_id, server.client_secret),
            )
            reply = await http.get(
                server.base_url + "/api/v1/users",
                headers={"Authorization": "Bearer " + token.json()["access_token"]},
            )
            total: int = reply.json()["meta"]["totalItems"]
            return total

    assert trio.run(under_trio) == 4


async def test_isolated_sandbox_runs_in_a_subprocess() -> None:
    async with Sandbox(isolated=True, projects=7, cpu=0) as sb:
        stats = await sb.stats()
        assert stats["projects_total"] == 7
        assert sb.app is None  # the state lives in the other process
        await sb.configure(rate=5)
        async with httpx.AsyncClient() as http:
            assert (await http.get(sb.base_url + "/_sandbox/config")).json()["rate"] == 5


def test_cli_parses_options_and_serves() -> None:
    parser = argparse.ArgumentParser()
    add_serve_command(parser.add_subparsers())
    args = parser.parse_args(
        ["serve", "--rate", "5", "--burst", "10", "--token-ttl", "2", "--fail-rate", "0.1"]
    )
    config = config_from_args(args)
    assert (config.rate, config.burst, config.token_ttl, config.fail_rate, config.port) == (
        5,
        10,
        2,
        0.1,
        8000,
    )
    assert callable(args.handler)
    process = subprocess.Popen(
        [sys.executable, "-m", "asyncapi_sandbox", "serve", "--port", "0", "--client-id", "cli-demo"],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(4)]
        assert lines[0].startswith("Sandbox listening on http://127.0.0.1:")
        base_url = lines[0].split()[-1]
        assert "cli-demo" in lines[2] and "demo-secret" in lines[3]
        assert httpx.get(base_url + "/_sandbox/health").json() == {"status": "ok"}
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(10) == 0
        if process.stdout is not None:
            process.stdout.close()


def test_cli_rejects_bad_options() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "asyncapi_sandbox", "serve", "--fail-rate", "3"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode != 0
    assert "fail_rate must be a fraction" in result.stderr


async def test_bare_asgi_app_in_process() -> None:
    app = create_app(projects=2, users=1)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as http:
        token = await http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, auth=("demo-client", "demo-secret")
        )
        headers = {"Authorization": "Bearer " + token.json()["access_token"]}
        page = (await http.get("/api/v1/projects", headers=headers)).json()
        assert page["meta"]["totalItems"] == 2
        assert (await http.get("/_sandbox/stats")).json()["requests_total"] == 2


@pytest.mark.parametrize(
    ("module", "unwanted"),
    [
        ("asyncapi_client", "asyncapi_sandbox"),
        ("asyncapi_client.testing", "asyncapi_sandbox"),
        ("asyncapi_sandbox.pytest_plugin", "uvicorn"),
    ],
)
def test_importing_the_sdk_or_the_pytest_plugin_does_not_import_the_server(
    module: str, unwanted: str
) -> None:
    code = (
        f"import sys, {module}; "
        f"bad = [m for m in ({unwanted!r}, 'uvicorn', 'starlette', 'httpx') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


# -- the pytest plugin (asyncapi_sandbox.pytest_plugin, enabled by tests/conftest.py) -------------


@pytest.mark.sandbox(rate=7, burst=3, projects=5)
def test_plugin_sandbox_fixture_takes_marker_options(sandbox: Sandbox) -> None:
    assert (sandbox.config.rate, sandbox.config.burst) == (7, 3)
    assert sandbox.stats_sync()["projects_total"] == 5


def test_plugin_session_sandbox(sandbox_session: Sandbox) -> None:
    assert sandbox_session.stats_sync()["projects_total"] == 150


async def test_plugin_sandbox_client_fixture(sandbox_client: Any, sandbox: Sandbox) -> None:
    me = await sandbox_client.users.me()
    assert me.email == f"{sandbox.client_id}@example.com"


def test_an_isolated_sandbox_exits_when_its_parent_dies() -> None:
    code = (
        "import sys, time\n"
        "from asyncapi_sandbox import Sandbox\n"
        "sb = Sandbox(isolated=True).__enter__()\n"
        "print(sb.base_url, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    base_url = parent.stdout.readline().strip()
    assert httpx.get(base_url + "/_sandbox/health").status_code == 200
    parent.kill()
    parent.wait(5)
    parent.stdout.close()
    for _ in range(100):
        try:
            httpx.get(base_url + "/_sandbox/health", timeout=0.5)
        except httpx.TransportError:
            return
        time.sleep(0.05)
    raise AssertionError("the sandbox outlived its parent")
