"""examples/dask_fleet.py on a Dask `LocalCluster` of 4 worker processes on this machine, against
the sandbox over HTTP and a real redis-server: the split export writes every project once, the
import gives every input index one outcome and creates every user once, and the workers shared
one access token through Redis."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from asyncapi_sandbox import Sandbox
from tests.support.fleet_worker import EXAMPLE, load_example

distributed = pytest.importorskip("distributed", reason="pip install 'asyncapi-client[dask]'")


@pytest.mark.slow
def test_export_and_import_on_a_local_cluster(
    redis_server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import redis

    example = load_example()
    # The tasks are pickled by reference: the workers (spawned with this process's sys.path)
    # import `dask_fleet` from examples/, as they would run `python examples/dask_fleet.py`.
    monkeypatch.syspath_prepend(str(EXAMPLE.parent))
    projects, users = 2_500, 3_000
    with Sandbox(users=0, projects=projects) as sb:
        monkeypatch.setenv("ASYNCAPI_CLIENT_ID", sb.client_id)  # the workers inherit it
        monkeypatch.setenv("ASYNCAPI_CLIENT_SECRET", sb.client_secret)
        fleet = example.Fleet(sb.base_url, redis_server_url, f"dask-{os.urandom(3).hex()}")
        with (
            distributed.LocalCluster(
                n_workers=4, processes=True, threads_per_worker=1, dashboard_address=":0"
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            pids = set(client.run(os.getpid).values())
            summary = example.run(client, fleet, parts=4, users=users, out=str(tmp_path))
        stats = sb.stats_sync()
    assert len(pids) == 4 and os.getpid() not in pids  # four processes of their own
    assert summary["planned"] == summary["exported"] == projects
    ids = [
        json.loads(line)["id"]
        for page in sorted(tmp_path.glob("page-*.jsonl"))
        for line in page.read_text().splitlines()
    ]
    assert sorted(ids) == list(range(1, projects + 1))
    assert sum(part["done"] for part in summary["imported"]) == users
    outcomes = redis.Redis.from_url(redis_server_url).hgetall(f"{fleet.job_id}:outcomes")
    assert sorted(int(k) for k in outcomes) == list(range(users))
    assert all(v.startswith(b"id:") for v in outcomes.values())
    assert stats["users_created"] == users and stats["duplicate_creates"] == 0
    assert stats["token_requests"]["client_credentials"] == 1  # one token for the whole cluster
