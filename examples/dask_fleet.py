"""An export and an import spread over the worker processes of a Dask cluster.

Run it against the sandbox, on this machine (a `LocalCluster` of 4 worker processes):

    pip install -e '.[dev]'                     # includes the dask extra (distributed) and redis
    asyncapi-sandbox serve --port 8000 --projects 20000 &
    redis-server --port 6379 --save '' &
    export ASYNCAPI_CLIENT_ID=demo-client ASYNCAPI_CLIENT_SECRET=demo-secret
    python examples/dask_fleet.py --base-url http://127.0.0.1:8000 --redis redis://127.0.0.1:6379/0 \
        --users 20000 --out /tmp/fleet-export

Each task opens its own `AsyncClient`; the clients share one access token (`RedisTokenStore`),
one rate limit (`RedisRateLimitBackend`) and their checkpoints (`RedisCheckpointStore`)
through Redis, so the cluster looks to the API like one careful client. The secret never
travels in the task graph: each worker reads `ASYNCAPI_CLIENT_ID` / `ASYNCAPI_CLIENT_SECRET`
from its own environment (a `LocalCluster`'s workers inherit the parent's).

- **Export**: `projects.split(parts)` plans disjoint page ranges; task i reads part i and writes
  each page to `<out>/page-<number>.jsonl` (written whole, then renamed: re-reading a page after
  a crash replaces its file, so the output holds every project once).
- **Import**: the users `[0, n)` are cut into `parts` slices; task i bulk-creates slice i with
  `job_id=<job>-import-<i>` and a checkpoint, and files each outcome in the Redis hash
  `<job>:outcomes` under its input index (a re-delivered outcome overwrites itself). If a worker
  dies, Dask runs its task again (on another worker, or on the one its nanny restarted) and the
  task resumes from its checkpoint: it sends only the chunks that were not acknowledged, and
  their deterministic `Idempotency-Key`s make the server replay what it had already created.

Why Dask: `distributed` is pure Python from PyPI, its `LocalCluster(processes=True)` runs real
worker processes on one machine with no broker or daemon to install (Celery needs a broker and
a separate worker command; Ray ships a large native runtime), and the same code runs on a
multi-host cluster by giving `Client` a scheduler address.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from asyncapi_client import (
    AsyncClient,
    ClientCredentials,
    Project,
    RateLimit,
    RedisRateLimitBackend,
    RedisTokenStore,
    RetryPolicy,
    Timeout,
)
from asyncapi_client.checkpoints import RedisCheckpointStore


@dataclass(frozen=True)
class Fleet:
    """What every task needs, and nothing secret (it is pickled into the task graph)."""

    base_url: str
    redis_url: str
    job_id: str
    rate: float | None = None  # the shared limit, requests/s (None: the fleet learns it)
    concurrency: int = 1  # bulk chunks in flight per task: a crash re-sends at most this many


def open_client(fleet: Fleet) -> tuple[AsyncClient, list[Any]]:
    """This worker's client on the shared Redis state, and the Redis backends to close."""
    token_store = RedisTokenStore(fleet.redis_url)
    auth = ClientCredentials(
        f"{fleet.base_url}/oauth/token",
        os.environ["ASYNCAPI_CLIENT_ID"],
        os.environ["ASYNCAPI_CLIENT_SECRET"],
        store=token_store,
    )
    backend = RedisRateLimitBackend(fleet.redis_url, prefix=f"{fleet.job_id}:ratelimit:")
    # A known limit: one shared bucket at that rate. Else the fleet learns it together.
    rate_limit = RateLimit(rate=fleet.rate, burst=10, backend=backend) if fleet.rate else RateLimit(backend=backend)
    client = AsyncClient(
        fleet.base_url,
        auth=auth,
        rate_limit=rate_limit,
        retry=RetryPolicy(max_attempts=8),
        timeout=Timeout(total=300, attempt=30),
        allow_insecure_http=fleet.base_url.startswith("http://127.0.0.1"),
    )
    return client, [token_store, backend]


async def _export_part(fleet: Fleet, plan: Any, index: int, out: str) -> int:
    client, backends = open_client(fleet)
    checkpoints = RedisCheckpointStore(fleet.redis_url, prefix=f"{fleet.job_id}:checkpoint:")
    written = 0
    try:
        async with (
            client,
            client.projects.list(
                pages=plan.parts[index],
                limit=plan.limit,
                prefetch=4,
                job_id=f"{fleet.job_id}-export",
                checkpoint=checkpoints,
            ) as pager,
        ):
            async for page in pager.pages():
                lines = "".join(project_line(project) for project in page.data)
                await anyio.to_thread.run_sync(_write_page, Path(out), page.meta.current_page, lines)
                written += len(page.data)
    finally:
        for backend in [*backends, checkpoints]:
            await backend.aclose()
    return written


def project_line(project: Project) -> str:
    record = {"id": project.id, "name": project.name, "created_at": project.created_at.isoformat()}
    return json.dumps(record) + "\n"


def _write_page(out: Path, number: int, lines: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out, suffix=".tmp")
    with os.fdopen(fd, "w") as file:
        file.write(lines)
    os.replace(tmp, out / f"page-{number:07d}.jsonl")


def user_rows(start: int, stop: int) -> list[dict[str, str]]:
    """The users to import, `[start, stop)` of a deterministic input (a real job reads a file)."""
    return [{"name": f"user {i}", "email": f"user{i}@example.com"} for i in range(start, stop)]


class OutcomeSink:
    """Where the import files its outcomes: the Redis hash `<job>:outcomes`, by input index."""

    def __init__(self, fleet: Fleet) -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.from_url(fleet.redis_url)
        self._key = f"{fleet.job_id}:outcomes"

    async def put(self, index: int, value: str) -> None:
        await self._redis.hset(self._key, str(index), value)

    async def aclose(self) -> None:
        await self._redis.aclose()


async def _import_part(
    fleet: Fleet, start: int, stop: int, index: int, sink: OutcomeSink | None = None
) -> dict[str, int]:
    client, backends = open_client(fleet)
    checkpoints = RedisCheckpointStore(fleet.redis_url, prefix=f"{fleet.job_id}:checkpoint:")
    sink = sink or OutcomeSink(fleet)
    try:
        async with (
            client,
            client.users.bulk_create_iter(
                user_rows(start, stop),
                concurrency=fleet.concurrency,
                job_id=f"{fleet.job_id}-import-{index}",
                checkpoint=checkpoints,
            ) as job,
        ):
            async for outcome in job:
                value = f"id:{outcome.user.id}" if outcome.user else f"error:{type(outcome.error).__name__}"
                await sink.put(start + outcome.index, value)
        return {"done": job.done, "failed": job.failed, "skipped": job.skipped}
    finally:
        await sink.aclose()
        for backend in [*backends, checkpoints]:
            await backend.aclose()


# -- the Dask tasks (plain functions: each runs one event loop in its worker) ---------------


def export_part(fleet: Fleet, plan: Any, index: int, out: str) -> int:
    """Task: read part `index` of `plan` and write its pages under `out`; items written."""
    return anyio.run(_export_part, fleet, plan, index, out)


def import_part(fleet: Fleet, start: int, stop: int, index: int) -> dict[str, int]:
    """Task: bulk-create users `[start, stop)` (resuming from this part's checkpoint)."""
    return anyio.run(_import_part, fleet, start, stop, index)


async def _plan(fleet: Fleet, parts: int) -> Any:
    client, backends = open_client(fleet)
    try:
        async with client:
            return await client.projects.split(parts)
    finally:
        for backend in backends:
            await backend.aclose()


def slices(total: int, parts: int) -> list[tuple[int, int]]:
    """`[start, stop)` of each part, sizes differing by at most one."""
    base, extra = divmod(total, parts)
    bounds, start = [], 0
    for index in range(parts):
        stop = start + base + (1 if index < extra else 0)
        bounds.append((start, stop))
        start = stop
    return bounds


def run(dask_client: Any, fleet: Fleet, *, parts: int, users: int, out: str) -> dict[str, Any]:
    """The export, then the import, each as `parts` tasks on the cluster."""
    plan = anyio.run(_plan, fleet, parts)
    exported = dask_client.gather(
        [dask_client.submit(export_part, fleet, plan, i, out, pure=False) for i in range(parts)]
    )
    imported = dask_client.gather(
        [
            dask_client.submit(import_part, fleet, start, stop, i, pure=False)
            for i, (start, stop) in enumerate(slices(users, parts))
        ]
    )
    return {"planned": plan.total_items, "exported": sum(exported), "imported": imported}


def main() -> None:
    from distributed import Client, LocalCluster

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--redis", required=True)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rate", type=float, default=None, help="the shared limit, requests/s")
    parser.add_argument("--out", default="fleet-export")
    parser.add_argument("--job-id", default="fleet-example")
    args = parser.parse_args()
    fleet = Fleet(args.base_url, args.redis, args.job_id, rate=args.rate)
    with (
        LocalCluster(
            n_workers=args.workers, processes=True, threads_per_worker=1, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as dask_client,
    ):
        summary = run(dask_client, fleet, parts=args.workers, users=args.users, out=args.out)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
