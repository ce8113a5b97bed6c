"""Measure the sandbox's capacity: requests per second on one core for GET /api/v1/projects.

    python benchmarks/sandbox_capacity.py [--seconds 10] [--connections 64] [--server-cpu 0] [--wrk-cpu 1]

The server runs in a subprocess pinned to one core (`Sandbox(isolated=True, cpu=...)`); `wrk`
(Debian: `apt-get install -y wrk`) runs pinned to another core, with a valid bearer token.
Besides wrk's wall-clock figure it prints requests per CPU-second of the server process, which
holds up better on a machine shared with other work (it is the ceiling on a dedicated core).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from asyncapi_sandbox import Sandbox


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--wrk-cpu", type=int, default=1)
    parser.add_argument("--path", default="/api/v1/projects")
    args = parser.parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk is not installed (Debian: apt-get install -y wrk)", file=sys.stderr)
        return 2
    with Sandbox(isolated=True, cpu=args.server_cpu) as sb:
        token = httpx.post(
            sb.token_url, data={"grant_type": "client_credentials"}, auth=(sb.client_id, sb.client_secret)
        ).json()["access_token"]
        assert sb._process is not None
        pid = sb._process.pid
        sb.reset_sync()
        cpu_before = cpu_seconds(pid)
        command = [
            wrk,
            "-t1",
            f"-c{args.connections}",
            f"-d{args.seconds}s",
            "-H",
            f"Authorization: Bearer {token}",
            sb.base_url + args.path,
        ]
        output = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=True,
            preexec_fn=lambda: os.sched_setaffinity(0, {args.wrk_cpu}),
        ).stdout
        cpu_used = cpu_seconds(pid) - cpu_before
        stats = sb.stats_sync()
    print(output)
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    non_200 = {k: v for k, v in stats["responses_by_status"].items() if k != "200"}
    print(f"GET {args.path}: {float(match.group(1)) if match else float('nan'):,.0f} requests/s on one core")
    served = stats["requests_total"]
    print(
        f"server CPU: {cpu_used:.2f} s for {served:,} requests = {served / cpu_used:,.0f} requests per CPU-second"
    )
    print(f"non-200 replies: {non_200 or 'none'}; load average now: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
