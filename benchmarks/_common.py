"""Shared benchmark helpers: a pinned nginx serving canned JSON, CPU pinning, and a load loop
that reports requests per second and process CPU time per request.

Method: the client runs on CPU 0 and nginx (one worker) on CPU 1, so the client's CPU time is
what the SDK costs. CPU per request is the process CPU time (user + system, all threads: this
counts the Rust threads of pyreqwest too) divided by the requests completed. Each figure is one
time-boxed run after a short warm-up; on a shared 2-core machine, figures move by 10-20%
between runs, so compare figures from the same run, as every benchmark here prints them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

PROJECT = {
    "id": 1,
    "name": "Apollo",
    "description": "Canned project served by nginx for the benchmarks",
    "created_at": "2024-01-01T00:00:00Z",
    "updated_at": "2024-06-01T12:30:00Z",
    "owner_id": 7,
    "tags": ["bench", "nginx"],
}
PROJECT_PATH = "/api/v1/projects/1"
TOKEN = "bench-token-0123456789"

CLIENT_CPU = 0
SERVER_CPU = 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pin_client(cpu: int = CLIENT_CPU) -> str:
    """Pin this process to `cpu` (when the machine has it); returns a note for the report."""
    try:
        if cpu in os.sched_getaffinity(0) and (os.cpu_count() or 1) > 1:
            os.sched_setaffinity(0, {cpu})
            return f"client pinned to CPU {cpu}"
    except (AttributeError, OSError):
        pass
    return "client not pinned"


# The benchmarks' nginx: one worker, keep-alive connections that last the whole run, and the
# canned project at PROJECT_PATH.
_NGINX_HTTP = """
    keepalive_requests 10000000;
    keepalive_timeout 120s;
    server_tokens off;
"""
_NGINX_SERVER = """
        location = {path} {{
            default_type application/json;
            add_header X-Request-Id bench-1 always;
            return 200 '{body}';
        }}
{extra}
        location / {{ return 404; }}
"""


@contextlib.contextmanager
def running_nginx(
    cpu: int = SERVER_CPU, *, files: dict[str, bytes] | None = None, extra: str = ""
) -> Iterator[str]:
    """Start Debian's nginx (the tests' `running_nginx`) pinned to `cpu`; yield its base URL.

    `files` are written under the server's root (name -> content) for `extra`, more directives
    for the server block (`location`s serving those files, say)."""
    from _pytest.outcomes import OutcomeException

    from tests.support.services import running_nginx as nginx

    body = json.dumps(PROJECT, separators=(",", ":")).replace("'", "\\'")
    server = _NGINX_SERVER.format(path=PROJECT_PATH, body=body, extra=extra)
    pin = cpu if (os.cpu_count() or 1) > 1 else None
    with contextlib.ExitStack() as stack:
        try:
            port = stack.enter_context(nginx(server, http_block=_NGINX_HTTP, files=files, cpu=pin))
        except OutcomeException as exc:  # nginx missing: the tests' skip, said plainly here
            raise SystemExit(str(exc)) from None
        yield f"http://127.0.0.1:{port}"


@dataclass
class Result:
    name: str
    concurrency: int
    requests: int
    seconds: float
    cpu_seconds: float
    errors: int = 0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_us(self) -> float:
        """Process CPU microseconds per request."""
        return self.cpu_seconds / self.requests * 1e6 if self.requests else float("nan")


async def measure(
    name: str,
    call: Callable[[], Awaitable[object]],
    *,
    concurrency: int,
    seconds: float = 2.0,
    warmup: float = 0.3,
) -> Result:
    """Run `call` from `concurrency` asyncio workers for `seconds` (after `warmup`); count it."""
    await _run_for(call, concurrency, warmup)
    cpu0, t0 = time.process_time(), time.perf_counter()
    done, errors = await _run_for(call, concurrency, seconds)
    t1, cpu1 = time.perf_counter(), time.process_time()
    return Result(name, concurrency, done, t1 - t0, cpu1 - cpu0, errors)


async def measure_interleaved(
    calls: list[tuple[str, Callable[[], Awaitable[object]]]],
    *,
    concurrency: int,
    seconds: float,
    rounds: int = 3,
) -> dict[str, Result]:
    """Measure each call `rounds` times, interleaved (a, b, c, a, b, c, ...), and keep for each
    the round with the median requests per second. Interleaving spreads the noise of a shared
    machine over every client alike instead of landing on whichever ran during a burst."""
    runs: dict[str, list[Result]] = {name: [] for name, _ in calls}
    for _ in range(rounds):
        for name, call in calls:
            runs[name].append(await measure(name, call, concurrency=concurrency, seconds=seconds / rounds))
    return {name: sorted(results, key=lambda r: r.rps)[len(results) // 2] for name, results in runs.items()}


async def _run_for(
    call: Callable[[], Awaitable[object]], concurrency: int, seconds: float
) -> tuple[int, int]:
    deadline = time.perf_counter() + seconds
    counts = [0, 0]

    async def worker() -> None:
        clock = time.perf_counter
        while clock() < deadline:
            try:
                await call()
                counts[0] += 1
            except Exception:
                counts[1] += 1
                if counts[1] > 100 and counts[0] == 0:
                    raise

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return counts[0], counts[1]


def mock_loop_cost(call: Callable[[], Awaitable[object]], n: int) -> float:
    """Microseconds of CPU per call for `n` sequential calls of `call` (no network)."""

    async def main() -> float:
        for _ in range(min(2000, n // 5)):
            await call()
        cpu0 = time.process_time()
        for _ in range(n):
            await call()
        return (time.process_time() - cpu0) / n * 1e6

    return asyncio.run(main())


def fmt_ratio(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base else "n/a"


def print_table(headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True))
    print(line)
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    print()


def machine_note() -> str:
    import platform
    import sys

    mem = ""
    with contextlib.suppress(OSError, ValueError):
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB"
    return f"{os.cpu_count()} cores{mem}, Python {sys.version.split()[0]}, {platform.system()} {platform.machine()}"
