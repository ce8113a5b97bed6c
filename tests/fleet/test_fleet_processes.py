"""The fleet with real processes: 4 worker processes (examples/dask_fleet.py's tasks, run by
tests/support/fleet_worker.py) on one real redis-server and the sandbox over HTTP.

- Import: one worker is SIGKILLed mid-job (right after filing its 1,234th outcome) and started
  again: every input index has exactly one outcome, every user is on the server once (its own
  counters and its listing), and the server saw at most one chunk request per killed worker
  beyond the job's (concurrency 1: a crash re-sends at most the unacknowledged chunk).
- Export: a split listing over 4 processes writes every project exactly once.

Invariants only; nothing here measures time (benchmarks/fleet.py does).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from asyncapi_sandbox import Sandbox
from tests.support.fleet_worker import load_example, plan_to_json, start_worker


@pytest.fixture
def sandbox_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    with Sandbox(users=0, projects=3_000) as sb:
        monkeypatch.setenv("ASYNCAPI_CLIENT_ID", sb.client_id)
        monkeypatch.setenv("ASYNCAPI_CLIENT_SECRET", sb.client_secret)
        yield sb


def finish(proc: subprocess.Popen[str]) -> tuple[int, Any]:
    out, _ = proc.communicate(timeout=240)
    lines = out.strip().splitlines()
    return proc.returncode, json.loads(lines[-1])["result"] if lines else None


def fleet_json(sb: Sandbox, redis_url: str, job_id: str) -> str:
    return json.dumps({"base_url": sb.base_url, "redis_url": redis_url, "job_id": job_id, "concurrency": 1})


@pytest.mark.slow
def test_a_killed_import_worker_resumes_with_every_index_once_and_no_duplicate(
    sandbox_env: Sandbox, redis_server_url: str
) -> None:
    import redis

    sb, n, parts, job = sandbox_env, 20_000, 4, f"kill-{os.urandom(3).hex()}"
    fleet = fleet_json(sb, redis_server_url, job)
    bounds = load_example().slices(n, parts)
    # Worker 0 dies (SIGKILL, by its own hand) right after filing its 1,234th outcome.
    workers = [
        start_worker("import", fleet, str(a), str(b), str(i), *(["1234"] if i == 0 else []))
        for i, (a, b) in enumerate(bounds)
    ]
    code, _ = finish(workers[0])
    assert code == -9  # killed mid-job, as planned
    workers[0] = start_worker("import", fleet, *map(str, bounds[0]), "0")  # started again: resumes
    results = [finish(proc) for proc in workers]
    assert all(code == 0 for code, _ in results), results
    resumed = results[0][1]
    assert resumed["skipped"] >= 1_200 and resumed["skipped"] + resumed["done"] == 5_000
    assert resumed["failed"] == 0

    outcomes = redis.Redis.from_url(redis_server_url).hgetall(f"{job}:outcomes")
    assert sorted(int(k) for k in outcomes) == list(range(n))  # every input index, once
    assert all(v.startswith(b"id:") for v in outcomes.values())
    assert len(set(outcomes.values())) == n  # n different users

    stats = sb.stats_sync()
    assert stats["users_created"] == n and stats["duplicate_creates"] == 0
    resent = stats["idempotent_replays"] + stats["bulk_requests"] - n // 100
    assert 0 <= resent <= 1  # one killed worker, concurrency 1: at most its one unacknowledged chunk


@pytest.mark.slow
def test_an_export_split_over_four_processes_writes_every_project_once(
    sandbox_env: Sandbox, redis_server_url: str, tmp_path: Path
) -> None:
    import anyio

    sb, parts = sandbox_env, 4
    example = load_example()
    fleet = example.Fleet(sb.base_url, redis_server_url, f"export-{os.urandom(3).hex()}")
    plan = anyio.run(example._plan, fleet, parts)
    fleet_text = json.dumps(
        {"base_url": fleet.base_url, "redis_url": fleet.redis_url, "job_id": fleet.job_id}
    )
    workers = [
        start_worker("export", fleet_text, plan_to_json(plan), str(i), str(tmp_path)) for i in range(parts)
    ]
    results = [finish(proc) for proc in workers]
    assert [code for code, _ in results] == [0] * parts
    assert sum(count for _, count in results) == 3_000
    ids = [
        json.loads(line)["id"]
        for page in sorted(tmp_path.glob("page-*.jsonl"))
        for line in page.read_text().splitlines()
    ]
    assert sorted(ids) == list(range(1, 3_001)) and len(ids) == 3_000
