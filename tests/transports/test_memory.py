"""A 500 MiB reply (and a gzip bomb) against the default `max_response_bytes`, on every transport:
a typed error, and resident memory growing by at most the limit plus 32 MiB.

Each transport is measured in a fresh process (`tests/support/rss_probe.py`) against a hostile server in
another (`tests/support/huge_server.py`), so neither the server's memory nor an earlier test's peak counts.
It measures memory, not time. Linux only (/proc).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from asyncapi_client.transports import DEFAULT_MAX_RESPONSE_BYTES
from tests.support.transport_kinds import SOCKET_TRANSPORTS, installed

ROOT = Path(__file__).resolve().parents[2]
ALLOWED_GROWTH = DEFAULT_MAX_RESPONSE_BYTES + 32 * 1024 * 1024

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")


@pytest.fixture(scope="module")
def huge_server() -> Iterator[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.huge_server"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param(k, marks=[] if installed(k) else [pytest.mark.skip(reason=f"{k} is not installed")])
        for k in [*SOCKET_TRANSPORTS, "asgi"]
    ],
)
def test_huge_replies_are_refused_within_the_limit(kind: str, huge_server: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.rss_probe", kind, huge_server],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["outcomes"] == {
        "/huge": "ResponseTooLargeError",
        "/huge-declared": "ResponseTooLargeError",
        "/bomb": "ResponseTooLargeError",
    }
    growth = (report["peak_kib"] - report["baseline_kib"]) * 1024
    assert growth <= ALLOWED_GROWTH, (
        f"{kind}: resident memory grew by {growth / 2**20:.1f} MiB against a limit of "
        f"{DEFAULT_MAX_RESPONSE_BYTES / 2**20:.0f} MiB (+32 MiB allowed); {report}"
    )
