"""Re-running a bulk import whose records already exist: requests and time, beside the first
run and beside a raw client that settles one refused record per request.

    python benchmarks/bulk_rerun.py            # 2,000 users, chunk 100, concurrency 8, 30 ms latency
    python benchmarks/bulk_rerun.py 20000      # another count

1. first run:  `bulk_create` of N new users: N / 100 requests.
2. re-run:     the same N users again, without `job_id` (so no idempotent replay): every record
               is a 409. The sandbox's 409 names every conflicting record (`details.errors`), so
               the SDK settles a whole chunk per reply. Bound: one request per chunk (N / 100).
3. raw:        the same re-run by a raw httpx loop that reads only `details.index` (the first
               record at fault) and re-sends the rest of the chunk: one request per record (N).

The sandbox runs `isolated=True` (its own process) with 30 ms of latency per request, as in
benchmarks/streaming.py. Times move between runs on a shared machine; the request counts do not.
"""

from __future__ import annotations

import asyncio
import platform
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx

from asyncapi_client import AsyncClient, BearerToken, ConflictError
from asyncapi_sandbox import Sandbox

LATENCY_MS = 30
CHUNK = 100
CONCURRENCY = 8


def users(n: int) -> Iterator[dict[str, str]]:
    return ({"name": f"rerun {i}", "email": f"rerun{i}@example.com"} for i in range(n))


async def token(sb: Sandbox) -> str:
    async with httpx.AsyncClient(trust_env=False) as http:
        reply = await http.post(
            sb.token_url, data={"grant_type": "client_credentials"}, auth=(sb.client_id, sb.client_secret)
        )
        reply.raise_for_status()
        access: str = reply.json()["access_token"]
        return access


async def bulk_requests(sb: Sandbox) -> int:
    stats: dict[str, Any] = await sb.stats()
    return int(stats["bulk_requests"])


async def raw_rerun(sb: Sandbox, access: str, n: int) -> tuple[int, int]:
    """What a raw client does with the first-record-only contract: (requests, records refused)."""
    records = list(users(n))
    chunks = [records[i : i + CHUNK] for i in range(0, n, CHUNK)]
    requests = refused = 0
    limit = asyncio.Semaphore(CONCURRENCY)
    headers = {"Authorization": f"Bearer {access}"}
    async with httpx.AsyncClient(base_url=sb.base_url, headers=headers, trust_env=False, timeout=60) as http:

        async def one(chunk: list[dict[str, str]]) -> None:
            nonlocal requests, refused
            async with limit:
                while chunk:
                    requests += 1
                    reply = await http.post("/api/v1/users/bulk", json=chunk)
                    if reply.status_code == 201:
                        return
                    index = reply.json()["error"]["details"]["index"]
                    chunk = chunk[:index] + chunk[index + 1 :]
                    refused += 1

        await asyncio.gather(*(one(chunk) for chunk in chunks))
    return requests, refused


async def main(n: int) -> int:
    chunks = -(-n // CHUNK)
    print(
        f"bulk re-run benchmark: Python {platform.python_version()}, {platform.machine()}; {n:,} users, "
        f"chunk {CHUNK}, concurrency {CONCURRENCY}, sandbox latency {LATENCY_MS} ms (own process)"
    )
    async with Sandbox(users=0, projects=0, latency_ms=LATENCY_MS, isolated=True) as sb:
        access = await token(sb)
        async with AsyncClient(sb.base_url, auth=BearerToken(access), allow_insecure_http=True) as client:
            before = await bulk_requests(sb)
            start = time.perf_counter()
            first = await client.users.bulk_create(users(n), chunk_size=CHUNK, concurrency=CONCURRENCY)
            first_time = time.perf_counter() - start
            first_requests = await bulk_requests(sb) - before

            before = await bulk_requests(sb)
            start = time.perf_counter()
            again = await client.users.bulk_create(users(n), chunk_size=CHUNK, concurrency=CONCURRENCY)
            again_time = time.perf_counter() - start
            again_requests = await bulk_requests(sb) - before

        start = time.perf_counter()
        raw_requests, raw_refused = await raw_rerun(sb, access, n)
        raw_time = time.perf_counter() - start

    conflicts = sum(isinstance(e, ConflictError) for e in again.failed.values())
    numbered = all(e.details.get("index") == i for i, e in again.failed.items())
    ok = (
        len(first.created) == n
        and conflicts == n
        and numbered
        and again_requests <= chunks
        and raw_refused == n
    )
    print(f"  {'run':<44} {'requests':>9} {'time':>9}")
    print(f"  {'1. first run (all new)':<44} {first_requests:>9,} {first_time:>8.2f}s")
    print(f"  {'2. re-run, no job_id (SDK, all existing)':<44} {again_requests:>9,} {again_time:>8.2f}s")
    print(f"  {'3. re-run by a raw client, one per record':<44} {raw_requests:>9,} {raw_time:>8.2f}s")
    print(
        f"  re-run: {again_requests:,} requests (bound: <= {chunks:,}, one per chunk), "
        f"{raw_requests / max(again_requests, 1):.0f}x fewer than the raw client; "
        f"every record a ConflictError under its input index: {conflicts == n and numbered}"
    )
    print("OK" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)))
