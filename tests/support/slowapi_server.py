"""The slowapi peer (`tests/support/slowapi_peer.py`) served by uvicorn in a process of its own,
so that the client under test shares neither its event loop nor its CPU time with the server:

    python -m tests.support.slowapi_server LIMIT STRATEGY PORT [HTTP]

serves until it is terminated (`HTTP`: uvicorn's HTTP implementation, `auto`, `h11` or
`httptools`; h11's parser is the slower, and spreads the server's answers further).
`running_slowapi_peer(limit, strategy)` starts it on a free port from the repository's root,
waits until it answers, yields its base URL and always stops it; `answered(url)` reads the
server's own counts of its answers (`GET /peer/answered`).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.services import _stop, free_port, wait_until_listening


def _answers(conn: socket.socket) -> bool:
    """The app answers (uvicorn may listen before it serves)."""
    conn.sendall(b"GET /peer/answered HTTP/1.1\r\nHost: peer\r\nConnection: close\r\n\r\n")
    return conn.recv(16).startswith(b"HTTP/1.1 200")


@contextmanager
def running_slowapi_peer(limit: str, strategy: str, http: str = "auto") -> Iterator[str]:
    """Serve a `SlowapiPeer(limit, strategy)` in a subprocess; yield `http://127.0.0.1:PORT`."""
    port = free_port()
    root = Path(__file__).resolve().parents[2]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])),
    }
    # (Its stderr goes to a file, not a pipe nobody reads: slowapi warns on every 429.)
    with tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.slowapi_server", limit, strategy, str(port), http],
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            try:
                wait_until_listening(port, proc, "the slowapi peer", probe=_answers)
            except RuntimeError as exc:
                stderr.seek(0)
                raise RuntimeError(f"{exc}\n{stderr.read().decode(errors='replace')}") from None
            yield f"http://127.0.0.1:{port}"
        finally:
            _stop(proc)


def answered(url: str) -> Counter[int]:
    """The peer's own counts of its answers to the limited route, by status."""
    with urllib.request.urlopen(url + "/peer/answered", timeout=10) as reply:
        counts: dict[str, int] = json.load(reply)
    return Counter({int(status): count for status, count in counts.items()})


def main(limit: str, strategy: str, port: int, http: str = "auto") -> None:
    import uvicorn

    from tests.support.slowapi_peer import SlowapiPeer

    peer = SlowapiPeer(limit, strategy)
    uvicorn.run(
        peer.app,
        host="127.0.0.1",
        port=port,
        lifespan="off",
        log_level="warning",
        access_log=False,
        ws="none",
        http=http,
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), *sys.argv[4:5])
