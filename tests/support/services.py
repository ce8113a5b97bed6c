"""Third-party servers for the tests: Debian's nginx, tinyproxy and redis-server, and hypercorn
(from PyPI), on free ports; and uvicorn serving a test's own ASGI app.

Each server runs from a configuration the fixture writes into a temporary directory, bound to
127.0.0.1 on a free port, and is stopped when the context exits. A server whose binary is not
installed skips the test with the command that installs it, so the README's test command passes
on a fresh machine; `.ci/run` sets `ASYNCAPI_TESTS_REQUIRE_SERVICES=1`, which turns those skips
into failures, so CI runs every test.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest

REQUIRE_SERVICES_ENV = "ASYNCAPI_TESTS_REQUIRE_SERVICES"
SERVER_DIRS = ("/usr/sbin", "/sbin", "/usr/bin")
"""Where a server binary is looked for after PATH."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_binary(name: str, apt_package: str | None = None) -> str:
    """The path of `name`, or skip (fail under `.ci/run`) saying how to install it."""
    # Debian puts servers in /usr/sbin, which a non-root PATH often lacks. `which` checks that
    # the file is executable, so a binary hidden by a bind mount (tests/ci) counts as missing.
    found = shutil.which(name) or shutil.which(name, path=os.pathsep.join(SERVER_DIRS))
    if found is not None:
        return found
    reason = f"{name} is not installed (apt-get install {apt_package or name})"
    if os.environ.get(REQUIRE_SERVICES_ENV) == "1":
        pytest.fail(f"{reason}; {REQUIRE_SERVICES_ENV}=1 requires every service", pytrace=False)
    pytest.skip(reason)


def wait_until_listening(
    port: int,
    proc: subprocess.Popen[bytes],
    what: str,
    *,
    probe: Callable[[socket.socket], bool] | None = None,
) -> None:
    """Return once `port` accepts a connection (and `probe` passes); raise if `proc` exits first."""
    deadline = time.monotonic() + 15
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
                if probe is None or probe(conn):
                    return
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with status {proc.returncode} before listening on {port}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not listen on port {port} within 15 s")
        time.sleep(0.05)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@contextmanager
def running_redis() -> Iterator[str]:
    """Yield `redis://127.0.0.1:PORT/0` for a fresh redis-server; stop it afterwards."""
    binary = require_binary("redis-server")
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                workdir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def pong(conn: socket.socket) -> bool:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")

        try:
            wait_until_listening(port, proc, "redis-server", probe=pong)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            _stop(proc)


@contextmanager
def running_nginx(
    server_block: str,
    *,
    http_block: str = "",
    files: dict[str, bytes] | None = None,
    cpu: int | None = None,
) -> Iterator[int]:
    """Run Debian's nginx with one `server { ... }` and yield its port.

    `server_block` is the inside of the server block; `{port}` in it is replaced by the port the
    server listens on (the `listen` line is written here). `http_block` adds directives at http
    level (`limit_req_zone`, `upstream`, ...). `files` are written under the server's root
    (name -> content). `cpu` pins nginx to that CPU with `taskset` (the benchmarks keep the
    client and the server on different cores). The error log is printed if nginx fails to start.
    """
    binary = require_binary("nginx")
    port = free_port()
    with tempfile.TemporaryDirectory() as prefix:
        root = Path(prefix)
        for sub in ("logs", "tmp", "html"):
            (root / sub).mkdir()
        temp_paths = "\n".join(
            f"    {kind}_temp_path {root / 'tmp' / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        conf = f"""
daemon off;
master_process on;
worker_processes 1;
pid {root / "nginx.pid"};
error_log {root / "logs" / "error.log"} warn;
events {{ worker_connections 4096; multi_accept on; }}
http {{
    access_log off;
{temp_paths}
    default_type application/octet-stream;
{http_block}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {root / "html"};
{server_block.replace("{port}", str(port))}
    }}
}}
"""
        # As root, nginx's workers would switch to "nobody", who cannot read the temp prefix.
        user_line = "user root;\n" if os.geteuid() == 0 else ""
        (root / "nginx.conf").write_text(user_line + conf)
        for name, content in (files or {}).items():
            (root / "html" / name).write_bytes(content)
        command = [binary, "-p", str(root), "-c", str(root / "nginx.conf")]
        if cpu is not None and shutil.which("taskset") and cpu in os.sched_getaffinity(0):
            command = ["taskset", "-c", str(cpu), *command]
        proc = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            try:
                wait_until_listening(port, proc, "nginx")
            except RuntimeError as exc:
                log = (
                    (root / "logs" / "error.log").read_text()
                    if (root / "logs" / "error.log").exists()
                    else ""
                )
                stderr = proc.stderr.read().decode() if proc.poll() is not None and proc.stderr else ""
                raise RuntimeError(f"{exc}\n{stderr}{log}") from None
            yield port
        finally:
            _stop(proc)


@contextmanager
def running_tinyproxy(*, basic_auth: tuple[str, str] | None = None) -> Iterator[tuple[int, Path]]:
    """Run Debian's tinyproxy on a free port; yield the port and the path of its log.

    The log (at Info level) records each request the proxy forwarded, `CONNECT` included, so a
    test can prove traffic went through it. `basic_auth` makes the proxy require those
    credentials.
    """
    binary = require_binary("tinyproxy")
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        root = Path(workdir)
        log = root / "tinyproxy.log"
        lines = [
            f"Port {port}",
            "Listen 127.0.0.1",
            "Timeout 30",
            f'LogFile "{log}"',
            "LogLevel Info",
            "MaxClients 100",
            "Allow 127.0.0.1",
            "DisableViaHeader Yes",
        ]
        if basic_auth is not None:
            lines.append(f"BasicAuth {basic_auth[0]} {basic_auth[1]}")
        if os.geteuid() == 0:
            lines += ["User root", "Group root"]
        (root / "tinyproxy.conf").write_text("\n".join(lines) + "\n")
        proc = subprocess.Popen(
            [binary, "-d", "-c", str(root / "tinyproxy.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until_listening(port, proc, "tinyproxy")
            yield port, log
        finally:
            _stop(proc)


@contextmanager
def running_hypercorn(
    app: str,
    *,
    certfile: Path,
    keyfile: Path,
    ca_certs: Path | None = None,
    require_client_cert: bool = False,
) -> Iterator[int]:
    """Run hypercorn (from PyPI: the dev extra) serving `app` ("module:attribute") over TLS on a
    free port, HTTP/1.1 and HTTP/2 by ALPN; yield the port.

    `ca_certs` with `require_client_cert` makes it demand a client certificate issued by that CA
    (mutual TLS). The app is imported from the repository root.
    """
    if importlib.util.find_spec("hypercorn") is None:
        reason = "hypercorn is not installed (pip install -e '.[dev]')"
        if os.environ.get(REQUIRE_SERVICES_ENV) == "1":
            pytest.fail(f"{reason}; {REQUIRE_SERVICES_ENV}=1 requires every service", pytrace=False)
        pytest.skip(reason)
    port = free_port()
    command = [
        sys.executable, "-m", "hypercorn", app,
        "--bind", f"127.0.0.1:{port}",
        "--certfile", str(certfile), "--keyfile", str(keyfile),
        "--workers", "1", "--log-level", "warning",
    ]  # fmt: skip
    if ca_certs is not None:
        command += ["--ca-certs", str(ca_certs)]
    if require_client_cert:
        command += ["--verify-mode", "CERT_REQUIRED"]
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
    }
    proc = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        try:
            wait_until_listening(port, proc, "hypercorn")
        except RuntimeError as exc:
            stderr = proc.stderr.read().decode() if proc.poll() is not None and proc.stderr else ""
            raise RuntimeError(f"{exc}\n{stderr}") from None
        yield port
    finally:
        _stop(proc)


@asynccontextmanager
async def serving_asgi(app: Any, *, port: int = 0, lifespan: str = "off") -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn on a loopback port (`port`, or a free one), in the
    caller's event loop; yield its base URL (`http://127.0.0.1:PORT`). `lifespan="on"` runs
    the app's lifespan, as a deployment does."""
    import anyio
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan=lifespan, log_level="warning", access_log=False, ws="none")
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(server.serve, [sock])
        with anyio.fail_after(15):
            while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to wait on
                await anyio.sleep(0.01)
        try:
            yield f"http://127.0.0.1:{sock.getsockname()[1]}"
        finally:
            server.should_exit = True


@contextmanager
def serving_asgi_in_thread(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a free loopback port from a thread with its own event
    loop (for sync tests and for peers other processes call); yield its base URL."""
    import threading

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False, ws="none")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start serving the app")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
