"""A fleet as one client: 4 worker processes on one Redis state, each figure beside its bound.

    python benchmarks/fleet.py            # the issue's sizes: 200,000 projects, 200,000 users
    python benchmarks/fleet.py --quick    # 20,000 of each, shorter windows (checks it works)

Peers: Debian's redis-server and nginx (`tests/support/services.py` starts them on free ports),
the sandbox in its own process. Three scenarios:

1. **Pacing with no rate configured.** 4 processes, `RateLimit(backend=RedisRateLimitBackend(...))`
   without a rate (shared learning), 16 concurrent `users.me()` calls each, for a window:
   against the sandbox at 100 r/s (its headers on): aggregate within 5% of 100/s, at most 1%
   answered 429; against nginx `limit_req` 100 r/s burst 10 (no rate-limit headers, bare 429s):
   at least 85% of the limit, at most 10% answered 429. The requests and 429s counted are the
   server's (the sandbox's counters) or every attempt's (each client's `stats()` for nginx).
2. **A split export.** 200,000 projects, `projects.split(4)`, 4 processes each reading its
   part (`prefetch=4`) on the shared state at the sandbox's 100 r/s: every id exactly once, and
   the time beside the ideal at that limit, (pages - burst) / rate, from the first worker's start to the last one's end.
3. **A resumed import.** 200,000 users over 4 processes (`concurrency=1`, a checkpoint in
   Redis); worker 0 SIGKILLs itself half-way (after filing 25,000 outcomes) and is started
   again: every input index accounted for once, 0 duplicates on the server, and the chunk
   requests the server saw beyond the 2,000 the job needs (at most one per killed worker).

The workers of 2 and 3 are examples/dask_fleet.py's tasks run by tests/support/fleet_worker.py
(the same code the tests kill), so the figures are of the code users copy. Each worker's clock
starts once its modules are imported (redis-py and the HTTP transport too, which the client
would import on first use), as on an executor's worker that ran a task before: four interpreters
importing at once on two cores are not the time an export takes at the shared limit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from asyncapi_client import (  # noqa: E402
    AsyncClient,
    BearerToken,
    ClientCredentials,
    RateLimit,
    RedisRateLimitBackend,
    RedisTokenStore,
)
from asyncapi_sandbox import Sandbox  # noqa: E402
from benchmarks._common import machine_note  # noqa: E402
from tests.support.fleet_worker import load_example, plan_to_json, start_worker  # noqa: E402
from tests.support.services import running_nginx, running_redis  # noqa: E402

RATE = 100
BURST = 10
CONCURRENCY = 16


def report(name: str, value: str, bound: str, ok: bool | None) -> None:
    verdict = "" if ok is None else ("  ok" if ok else "  NOT MET")
    print(f"  {name:<48} {value:<28} bound {bound or '-'}{verdict}")


def shared_limit(redis_url: str, prefix: str) -> RateLimit | None:
    """The no-rate shared limiter, or None when this SDK cannot start a shared bucket open."""
    try:
        return RateLimit(backend=RedisRateLimitBackend(redis_url, prefix=prefix))
    except ValueError:
        return None


# -- 1. pacing, no rate configured ---------------------------------------------------------


def _pace_worker(
    base_url: str,
    auth: dict[str, str],
    redis_url: str,
    prefix: str,
    start_at: float,
    window: float,
    queue: Any,
) -> None:
    queue.put(asyncio.run(_pace(base_url, auth, redis_url, prefix, start_at, window)))


async def _pace(
    base_url: str, auth_spec: dict[str, str], redis_url: str, prefix: str, start_at: float, window: float
) -> dict[str, float]:
    limit = shared_limit(redis_url, prefix)
    assert limit is not None
    store = RedisTokenStore(redis_url, key=prefix + "oauth")
    if "token" in auth_spec:
        auth: Any = BearerToken(auth_spec["token"])
        path = "/api/v1/projects/1"
    else:
        auth = ClientCredentials(auth_spec["token_url"], auth_spec["id"], auth_spec["secret"], store=store)
        path = "/api/v1/users/me"
    ok = errors = 0
    async with AsyncClient(base_url, auth=auth, rate_limit=limit, allow_insecure_http=True) as client:
        await client.request("GET", path)  # connected and authenticated before the window
        await asyncio.sleep(max(0.0, start_at - time.time()))
        end = start_at + window
        before = client.stats()

        async def caller() -> None:
            nonlocal ok, errors
            while time.time() < end:
                try:
                    await client.request("GET", path)
                    ok += time.time() <= end
                except Exception:
                    errors += 1

        await asyncio.gather(*(caller() for _ in range(CONCURRENCY)))
        after = client.stats()
    await store.aclose()
    return {
        "ok": ok,
        "errors": errors,
        "attempts": after.attempts - before.attempts,
        "429": after.rate_limited - before.rate_limited,
    }


def run_pacing(
    label: str, base_url: str, auth: dict[str, str], redis_url: str, window: float
) -> list[dict[str, float]]:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    prefix = f"fleet-bench:{label}:{os.getpid()}:{time.time()}:"
    start_at = time.time() + 8.0  # time for the children to start, connect and authenticate
    procs = [
        ctx.Process(target=_pace_worker, args=(base_url, auth, redis_url, prefix, start_at, window, queue))
        for _ in range(4)
    ]
    for proc in procs:
        proc.start()
    results = [queue.get(timeout=window + 120) for _ in procs]
    for proc in procs:
        proc.join(10)
    return results


async def pacing(redis_url: str, window: float) -> None:
    print(f"\n1. 4 processes, no rate configured, one shared Redis state ({window:.0f} s windows)")
    if shared_limit(redis_url, "probe:") is None:
        report("shared learning", "not available in this SDK", "", False)
        return
    async with Sandbox(rate=RATE, burst=BURST, isolated=True) as sb:
        auth = {"token_url": sb.token_url, "id": sb.client_id, "secret": sb.client_secret}
        before = await sb.stats()
        results = run_pacing("sandbox", sb.base_url, auth, redis_url, window)
        after = await sb.stats()
    ok = sum(r["ok"] for r in results)
    answered = after["requests_total"] - before["requests_total"]
    limited = after["rate_limited"] - before["rate_limited"]
    rate = ok / window
    report("sandbox 100 r/s: aggregate", f"{rate:.2f}/s", "95..105/s", abs(rate - RATE) <= 5)
    share = limited / answered if answered else 0.0
    report("sandbox: answered 429", f"{limited} of {answered} ({share:.2%})", "<= 1%", share <= 0.01)
    report(
        "sandbox: errors",
        f"{sum(r['errors'] for r in results):.0f}",
        "0",
        sum(r["errors"] for r in results) == 0,
    )

    body = json.dumps(
        {
            "id": 1,
            "name": "Apollo",
            "description": None,
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-01-01T00:00:00Z",
        }
    )
    with tempfile.TemporaryDirectory() as files:
        # A static file, not `return 200`: `return` answers in the rewrite phase, before
        # limit_req (the preaccess phase) ever runs.
        project = Path(files) / "project.json"
        project.write_text(body)
        server = f"""
            location = /api/v1/projects/1 {{
                limit_req zone=fleet burst={BURST} nodelay;
                limit_req_status 429;
                default_type application/json;
                alias {project};
            }}
        """
        http = f"limit_req_zone $binary_remote_addr zone=fleet:1m rate={RATE}r/s;"
        with running_nginx(server, http_block=http) as port:
            results = run_pacing(
                "nginx", f"http://127.0.0.1:{port}", {"token": "fleet-bench"}, redis_url, window
            )
    ok = sum(r["ok"] for r in results)
    attempts = sum(r["attempts"] for r in results)
    limited = sum(r["429"] for r in results)
    bound = RATE + BURST / window
    rate = ok / window
    report(
        "nginx limit_req 100 r/s: aggregate",
        f"{rate:.2f}/s ({rate / bound:.1%})",
        ">= 85% of 100 + 10/window",
        rate >= 0.85 * bound,
    )
    share = limited / attempts if attempts else 0.0
    report("nginx: answered 429", f"{limited} of {attempts} ({share:.2%})", "<= 10%", share <= 0.10)


# -- 2 and 3: the example's tasks in worker processes -------------------------------------


def finish(proc: subprocess.Popen[str]) -> tuple[int, dict[str, Any]]:
    """The worker's exit status and its line: `{"result", "started", "ended"}` ({} if none)."""
    out, _ = proc.communicate(timeout=1800)
    lines = out.strip().splitlines()
    return proc.returncode, json.loads(lines[-1]) if lines else {}


def read_ids(out: str) -> list[int]:
    return [
        json.loads(line)["id"]
        for page in sorted(Path(out).glob("page-*.jsonl"))
        for line in page.read_text().splitlines()
    ]


def fleet_json(sb: Sandbox, redis_url: str, job_id: str, rate: float | None) -> str:
    return json.dumps(
        {"base_url": sb.base_url, "redis_url": redis_url, "job_id": job_id, "rate": rate, "concurrency": 1}
    )


async def export(redis_url: str, projects: int, rate: float | None) -> None:
    print(f"\n2. exporting {projects:,} projects split over 4 processes, sandbox at {RATE} r/s")
    example = load_example()
    async with Sandbox(rate=RATE, burst=BURST, users=0, projects=projects, isolated=True) as sb:
        os.environ["ASYNCAPI_CLIENT_ID"], os.environ["ASYNCAPI_CLIENT_SECRET"] = (
            sb.client_id,
            sb.client_secret,
        )
        job = f"export-{os.getpid()}-{int(time.time())}"
        fleet = example.Fleet(sb.base_url, redis_url, job, rate=rate)
        with tempfile.TemporaryDirectory() as out:
            plan = await example._plan(fleet, 4)
            workers = [
                start_worker("export", fleet_json(sb, redis_url, job, rate), plan_to_json(plan), str(i), out)
                for i in range(4)
            ]
            results = [finish(proc) for proc in workers]
            ids = read_ids(out)
        stats = await sb.stats()
    once = len(ids) == len(set(ids)) == projects and all(code == 0 for code, _ in results)
    report(
        "every id exactly once",
        f"{len(set(ids)):,} ids, {len(ids):,} lines",
        f"{projects:,} and {projects:,}",
        once,
    )
    # From the first worker's start (its modules imported, its client not yet opened) to the
    # last one's end.
    elapsed = max(r["ended"] for _, r in results) - min(r["started"] for _, r in results)
    ideal = (plan.total_pages - BURST) / RATE
    report(
        "time",
        f"{elapsed:.2f} s ({elapsed / ideal:.1%} of ideal)",
        f"<= 110% of {ideal:.2f} s",
        elapsed <= 1.1 * ideal,
    )
    report("answered 429", f"{stats['rate_limited']}", "", None)


async def resumed_import(redis_url: str, users: int, rate: float | None) -> None:
    import redis

    print(f"\n3. importing {users:,} users over 4 processes, worker 0 killed half-way and resumed")
    example = load_example()
    async with Sandbox(rate=RATE, burst=BURST, users=0, projects=0, isolated=True) as sb:
        os.environ["ASYNCAPI_CLIENT_ID"], os.environ["ASYNCAPI_CLIENT_SECRET"] = (
            sb.client_id,
            sb.client_secret,
        )
        job = f"import-{os.getpid()}-{int(time.time())}"
        fleet = fleet_json(sb, redis_url, job, rate)
        bounds = example.slices(users, 4)
        die_after = (bounds[0][1] - bounds[0][0]) // 2
        started = time.perf_counter()
        workers = [
            start_worker("import", fleet, str(a), str(b), str(i), *([str(die_after)] if i == 0 else []))
            for i, (a, b) in enumerate(bounds)
        ]
        killed, _ = finish(workers[0])
        workers[0] = start_worker("import", fleet, *map(str, bounds[0]), "0")
        results = [finish(proc) for proc in workers]
        elapsed = time.perf_counter() - started
        stats = await sb.stats()
    outcomes = redis.Redis.from_url(redis_url).hgetall(f"{job}:outcomes")
    indices = sorted(int(k) for k in outcomes)
    report("worker 0 killed mid-job", f"exit {killed}", "-9 (SIGKILL)", killed == -9)
    report(
        "resumed worker skipped (from its checkpoint)",
        f"{results[0][1]['result']['skipped']:,} records",
        "",
        None,
    )
    report(
        "every input index accounted for once",
        f"{len(indices):,} indices",
        f"0..{users - 1:,}",
        indices == list(range(users)),
    )
    created = sum(v.startswith(b"id:") for v in outcomes.values())
    report(
        "created, distinct users",
        f"{created:,}, {len(set(outcomes.values())):,}",
        f"{users:,}",
        created == users == len(set(outcomes.values())),
    )
    dup = stats["users_created"] - users + stats["duplicate_creates"]
    report("duplicates on the server", f"{dup} (users_created {stats['users_created']:,})", "0", dup == 0)
    resent = stats["idempotent_replays"] + stats["bulk_requests"] - users // 100
    report("chunk requests re-sent", f"{resent}", "<= 1 per killed worker (1)", 0 <= resent <= 1)
    report("time", f"{elapsed:.2f} s", "", None)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="20,000 records, 6 s windows")
    parser.add_argument("--only", choices=["pacing", "export", "import"], action="append")
    args = parser.parse_args()
    size, window = (20_000, 6.0) if args.quick else (200_000, 12.0)
    print(f"fleet benchmark, {machine_note()}{' (quick)' if args.quick else ''}")
    only = set(args.only or ["pacing", "export", "import"])
    with running_redis() as redis_url:
        # Without shared learning the workers need the shared bucket's rate said.
        rate = None if shared_limit(redis_url, "probe:") is not None else float(RATE)
        if rate is not None:
            print(
                f"  (no shared learning in this SDK: exports and imports share a configured {RATE}/s bucket)"
            )
        if "pacing" in only:
            await pacing(redis_url, window)
        if "export" in only:
            await export(redis_url, size, rate)
        if "import" in only:
            await resumed_import(redis_url, size, rate)


if __name__ == "__main__":
    asyncio.run(main())
