"""Serving the sandbox: uvicorn (httptools) in a background thread, in a subprocess, or in the
foreground for the CLI.

`Sandbox` runs the server on its own asyncio loop in a thread, so the caller's loop (asyncio or
trio) never runs server code and `async with Sandbox()` works from either. `isolated=True` runs
it in a separate process instead, for benchmarks (the server gets its own interpreter and GIL)
and for multi-process tests.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final

import anyio

from ._config import OPTION_NAMES, SandboxConfig

if TYPE_CHECKING:
    import uvicorn

    from ._app import SandboxApp

logger = logging.getLogger("asyncapi_sandbox")

_STARTUP_TIMEOUT: Final = 20.0
_READY_LINE: Final = re.compile(r"^Sandbox listening on (http://\S+)")


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket (connections queue until the server accepts); port 0 picks a free port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only when proto says TCP,
    # and without it every reply (headers and body are two writes) waits 40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def base_url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def make_server(app: SandboxApp) -> uvicorn.Server:
    import uvicorn

    config = uvicorn.Config(
        app,
        http="httptools",
        loop="asyncio",
        lifespan="on",
        interface="asgi3",
        log_level="warning",
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=2,
        ws="none",
    )
    return uvicorn.Server(config)


class Sandbox:
    """A running sandbox server on a free loopback port (or `port=`).

    async with Sandbox(rate=10, burst=10) as sb:      # asyncio or trio
        ... sb.base_url, sb.token_url, sb.client_id, sb.client_secret ...
        print(await sb.stats())

    `with Sandbox() as sb:` works too (for sync code and sync fixtures). Options are those of
    `SandboxConfig` (or pass `config=`). `isolated=True` serves from a subprocess
    (`python -m asyncapi_sandbox`), optionally pinned to one CPU with `cpu=`.
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        isolated: bool = False,
        cpu: int | None = None,
        **options: Any,
    ) -> None:
        if config is not None and options:
            raise TypeError("pass a SandboxConfig or keyword options, not both")
        self.config = config or SandboxConfig(**options)
        self.isolated = isolated
        self.cpu = cpu
        self.app: SandboxApp | None = None
        self._base_url: str | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._process: subprocess.Popen[str] | None = None
        self._failure: BaseException | None = None

    # -- attributes -----------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The sandbox's root URL (`http://127.0.0.1:<port>`); only while it runs."""
        if self._base_url is None:
            raise RuntimeError("the sandbox is not running; use `async with Sandbox() as sb:`")
        return self._base_url

    @property
    def token_url(self) -> str:
        """Its OAuth token endpoint (`<base_url>/oauth/token`)."""
        return self.base_url + "/oauth/token"

    @property
    def authorize_url(self) -> str:
        """Its OAuth authorization endpoint (`<base_url>/oauth/authorize`)."""
        return self.base_url + "/oauth/authorize"

    @property
    def revocation_url(self) -> str:
        """Its token revocation endpoint (RFC 7009, `<base_url>/oauth/revoke`)."""
        return self.base_url + "/oauth/revoke"

    @property
    def introspection_url(self) -> str:
        """Its token introspection endpoint (RFC 7662, `<base_url>/oauth/introspect`)."""
        return self.base_url + "/oauth/introspect"

    @property
    def client_id(self) -> str:
        """The registered client's id (`demo-client` unless configured)."""
        return self.config.client_id

    @property
    def client_secret(self) -> str:
        """The registered client's secret (`demo-secret` unless configured)."""
        return self.config.client_secret

    @property
    def running(self) -> bool:
        """True between start and stop."""
        return self._base_url is not None

    def __repr__(self) -> str:
        where = self._base_url or "stopped"
        return f"<Sandbox {where}{' isolated' if self.isolated else ''}>"

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start serving and return once the server accepts connections (blocking)."""
        if self._base_url is not None:
            raise RuntimeError("this sandbox is already running")
        if self.isolated:
            self._start_process()
        else:
            self._start_thread()

    def stop(self) -> None:
        """Stop serving (blocking); idempotent."""
        try:
            if self._process is not None:
                self._stop_process()
            if self._thread is not None:
                self._stop_thread()
        finally:
            self._base_url = None

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Sandbox:
        await anyio.to_thread.run_sync(self.start)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self.stop)

    def _start_thread(self) -> None:
        from ._app import SandboxApp

        self.app = SandboxApp(self.config)
        server = self._server = make_server(self.app)
        sock = bind_socket(self.config.host, self.config.port)
        url = base_url_of(sock)
        self._failure = None

        def run() -> None:
            try:
                asyncio.run(server.serve(sockets=[sock]))
            except BaseException as exc:  # reported to the starting thread
                self._failure = exc
            finally:
                sock.close()

        thread = self._thread = threading.Thread(target=run, name=f"asyncapi-sandbox {url}", daemon=True)
        thread.start()
        deadline = time.monotonic() + _STARTUP_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                thread.join(5)
                self._thread = None
                raise RuntimeError(f"the sandbox did not start: {self._failure!r}") from self._failure
            time.sleep(0.005)
        self._base_url = url

    def _stop_thread(self) -> None:
        assert self._server is not None and self._thread is not None
        self._server.should_exit = True
        self._thread.join(15)
        if self._thread.is_alive():  # pragma: no cover - a stuck connection; the thread is a daemon
            self._server.force_exit = True
            self._thread.join(5)
        self._thread = None
        self._server = None

    def _command(self) -> list[str]:
        command = [sys.executable, "-m", "asyncapi_sandbox", "serve", "--exit-with-parent"]
        for name in OPTION_NAMES:
            command += ["--" + name.replace("_", "-"), str(getattr(self.config, name))]
        return command

    def _start_process(self) -> None:
        cpu = self.cpu
        preexec = None
        if cpu is not None:

            def preexec() -> None:
                os.sched_setaffinity(0, {cpu})

        env = dict(os.environ, PYTHONUNBUFFERED="1")
        process = self._process = subprocess.Popen(
            self._command(),
            stdout=subprocess.PIPE,
            stdin=subprocess.PIPE,  # never written: EOF tells the child its parent is gone
            text=True,
            env=env,
            preexec_fn=preexec,
        )
        assert process.stdout is not None
        seen: list[str] = []
        while True:
            line = process.stdout.readline()
            if not line:
                process.wait(5)
                self._process = None
                raise RuntimeError(
                    f"the sandbox process exited with {process.returncode} before listening: {''.join(seen)!r}"
                )
            seen.append(line)
            match = _READY_LINE.match(line)
            if match:
                self._base_url = match.group(1)
                return

    def _stop_process(self) -> None:
        process = self._process
        assert process is not None
        self._process = None
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:  # pragma: no cover
                process.kill()
                process.wait(5)
        for pipe in (process.stdin, process.stdout):
            if pipe is not None:
                pipe.close()

    # -- admin helpers (no auth on /_sandbox) -------------------------------------------

    async def _admin(self, method: str, path: str, json: Any = None) -> Any:
        import httpx

        async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
            response = await client.request(method, self.base_url + path, json=json)
        return _checked(response)

    def _admin_sync(self, method: str, path: str, json: Any = None) -> Any:
        import httpx

        with httpx.Client(trust_env=False, timeout=10) as client:
            return _checked(client.request(method, self.base_url + path, json=json))

    async def stats(self) -> dict[str, Any]:
        """The counters of `GET /_sandbox/stats`."""
        result: dict[str, Any] = await self._admin("GET", "/_sandbox/stats")
        return result

    async def reset(self) -> None:
        """Restore the seeded data and the starting options, zero the counters (tokens survive)."""
        await self._admin("POST", "/_sandbox/reset")

    async def configure(self, **options: Any) -> dict[str, Any]:
        """Change runtime options (rates, latency, limits, token_ttl); returns the options in force."""
        result: dict[str, Any] = await self._admin("POST", "/_sandbox/config", options)
        return result

    async def expire_tokens(self) -> int:
        """Make every access token issued so far invalid (refresh tokens keep working)."""
        result: dict[str, Any] = await self._admin("POST", "/_sandbox/expire-tokens")
        return int(result["expired"])

    def stats_sync(self) -> dict[str, Any]:
        """`await stats()`, from synchronous code (another thread serves)."""
        result: dict[str, Any] = self._admin_sync("GET", "/_sandbox/stats")
        return result

    def reset_sync(self) -> None:
        """`await reset()`, from synchronous code."""
        self._admin_sync("POST", "/_sandbox/reset")

    def configure_sync(self, **options: Any) -> dict[str, Any]:
        """`await configure(...)`, from synchronous code."""
        result: dict[str, Any] = self._admin_sync("POST", "/_sandbox/config", options)
        return result


def _checked(response: Any) -> Any:
    if response.status_code >= 400:
        try:
            message = response.json()["error"]["message"]
        except Exception:
            message = response.text
        raise ValueError(f"sandbox admin call failed ({response.status_code}): {message}")
    return response.json()


def serve_forever(config: SandboxConfig, *, out: Any = None, exit_with_parent: bool = False) -> None:
    """Serve in the foreground until SIGINT/SIGTERM (the CLI); prints where it listens.

    `exit_with_parent`: also stop when stdin reaches EOF, i.e. when the process that started
    this one (`Sandbox(isolated=True)`, holding the other end of the pipe) dies, so a killed
    test run leaves no server behind.
    """
    from ._app import SandboxApp

    out = out or sys.stdout
    sock = bind_socket(config.host, config.port)
    url = base_url_of(sock)
    app = SandboxApp(config)
    server = make_server(app)
    out.write(
        f"Sandbox listening on {url}\n"
        f"  token URL:     {url}/oauth/token\n"
        f"  client id:     {config.client_id}\n"
        f"  client secret: {config.client_secret}\n"
        "Press Ctrl-C to stop.\n"
    )
    out.flush()
    if exit_with_parent:

        def watch_parent() -> None:
            sys.stdin.read()
            server.should_exit = True

        threading.Thread(target=watch_parent, name="sandbox-parent-watch", daemon=True).start()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the Ctrl-C it handled; the server has stopped cleanly
    finally:
        sock.close()
