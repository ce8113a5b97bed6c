"""Client-side rate limiting: each figure printed beside its bound.

    python benchmarks/ratelimit.py                       # everything (about two and a half minutes)
    python benchmarks/ratelimit.py configured learned redis cost   # a subset

1. configured: sandbox (own process) at 50 requests/s, burst 10; 2,000 GETs at concurrency 64,
               client `RateLimit(rate=50, burst=10)`: >= 95% of 50/s, <= 1% answered 429,
               none lost (every call ends in a 200).
2. learned:    the same with `RateLimit()`: no client-side rate, learned from the headers alone.
3. redis:      4 processes, each with its own token (the sandbox allows 1,000/s per token), all
               sharing one `RedisRateLimitBackend` bucket at 100/s, burst 10, concurrency 16
               each, for a fixed 12 s window: the aggregate within 5% of 100/s.
4. cost:       the limiter's own cost per request when it is not binding (microseconds; the
               middleware called directly with a canned response carrying X-RateLimit headers),
               beside a raw request's cost (sequential GETs to the sandbox, no limiter).

The sandbox runs `isolated=True` (a subprocess with its own interpreter). On a shared 2-core
machine, figures move between runs.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import platform
import sys
import time
from typing import Any

import httpx

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from asyncapi_client import AsyncClient, BearerToken, RateLimit, Request, Response
from asyncapi_client._clock import SYSTEM_CLOCK
from asyncapi_client._ratelimit import RateLimitMiddleware
from asyncapi_client._stats import ClientStats
from asyncapi_sandbox import Sandbox

RESULTS: list[tuple[str, bool]] = []


def report(name: str, value: str, bound: str, ok: bool | None) -> None:
    mark = "" if ok is None else ("PASS" if ok else "FAIL")
    print(f"  {name:<48} {value:>16}   bound {bound:<18} {mark}", flush=True)
    if ok is not None:
        RESULTS.append((name, ok))


async def fetch_token(sb: Sandbox) -> str:
    async with httpx.AsyncClient() as http:
        reply = await http.post(
            sb.token_url, data={"grant_type": "client_credentials"}, auth=(sb.client_id, sb.client_secret)
        )
        reply.raise_for_status()
        token: str = reply.json()["access_token"]
        return token


async def load(client: AsyncClient, n: int, concurrency: int) -> tuple[dict[int, int], int, float]:
    """n GETs at `concurrency`: (final statuses, exceptions, seconds)."""
    statuses: dict[int, int] = {}
    errors = 0
    jobs = iter(range(n))

    async def worker() -> None:
        nonlocal errors
        for _ in jobs:
            try:
                response = await client.send(client.build_request("GET", "/api/v1/users/me"))
            except Exception:
                errors += 1
            else:
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses, errors, time.perf_counter() - start


async def paced_run(label: str, config: RateLimit, n: int = 2000) -> None:
    rate = 50.0
    print(f"\n{label}: sandbox 50/s burst 10, {n} GETs at concurrency 64, client {config_repr(config)}")
    async with Sandbox(rate=rate, burst=10, isolated=True) as sb:
        token = await fetch_token(sb)
        async with AsyncClient(
            sb.base_url, auth=BearerToken(token), rate_limit=config, allow_insecure_http=True
        ) as client:
            statuses, errors, elapsed = await load(client, n, 64)
            status = client.rate_limit_status()
            wait = client.stats().limiter_wait_seconds
        stats = await sb.stats()
    limited = int(stats["rate_limited"])
    sustained = statuses.get(200, 0) / elapsed
    report(
        "sustained rate (200s / wall time)",
        f"{sustained:.2f}/s",
        ">= 47.50/s (95%)",
        sustained >= 0.95 * rate,
    )
    report(
        "answered 429 (sandbox count)", f"{limited} ({limited / n:.2%})", "<= 1% (20)", limited <= n // 100
    )
    lost = n - statuses.get(200, 0)
    report("lost (not 200 in the end, or raised)", f"{lost}", "0", lost == 0 and errors == 0)
    report("wall time", f"{elapsed:.2f}s", "", None)
    learned = f"{status.server_rate:.2f}/s" if status.server_rate else "-"
    report("learned server rate / limiter waits", f"{learned} / {wait:.0f}s", "", None)


def config_repr(config: RateLimit) -> str:
    if config.rate is None:
        return "RateLimit()"
    return f"RateLimit(rate={config.rate:g}, burst={config.burst})"


# -- 4 processes sharing one Redis bucket --------------------------------------------------


def _redis_worker(
    base_url: str, token: str, redis_url: str, prefix: str, start_at: float, window: float, queue: Any
) -> None:
    queue.put(asyncio.run(_redis_load(base_url, token, redis_url, prefix, start_at, window)))


async def _redis_load(
    base_url: str, token: str, redis_url: str, prefix: str, start_at: float, window: float
) -> tuple[int, int, int, float]:
    from asyncapi_client._ratelimit import RedisRateLimitBackend

    backend = RedisRateLimitBackend(redis_url, prefix=prefix)
    config = RateLimit(rate=100, burst=10, backend=backend)
    done = limited = errors = 0
    async with AsyncClient(
        base_url, auth=BearerToken(token), rate_limit=config, allow_insecure_http=True
    ) as client:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        started = time.time()  # later than start_at if this process was slow to start
        end = start_at + window

        async def worker() -> None:
            nonlocal done, limited, errors
            while time.time() < end:
                try:
                    response = await client.send(client.build_request("GET", "/api/v1/users/me"))
                except Exception:
                    errors += 1
                    continue
                if time.time() <= end:
                    done += 1
                    limited += response.status_code == 429

        await asyncio.gather(*(worker() for _ in range(16)))
    return done, limited, errors, started


async def redis_run(processes: int = 4, window: float = 12.0) -> None:
    from tests.support.redis_server import running_redis

    print(f"\nredis: {processes} processes, one shared bucket at 100/s burst 10, {window:.0f} s window")
    with running_redis() as redis_url:
        async with Sandbox(rate=1000, burst=100, isolated=True) as sb:
            tokens = [await fetch_token(sb) for _ in range(processes)]
            ctx = multiprocessing.get_context("spawn")
            queue = ctx.Queue()
            start_at = time.time() + 8.0  # time for the children to start and connect
            prefix = f"bench:{os.getpid()}:{time.time()}:"
            procs = [
                ctx.Process(
                    target=_redis_worker, args=(sb.base_url, tok, redis_url, prefix, start_at, window, queue)
                )
                for tok in tokens
            ]
            for proc in procs:
                proc.start()
            results = [queue.get(timeout=window + 60) for _ in procs]
            for proc in procs:
                proc.join(10)
            stats = await sb.stats()
    done = sum(r[0] for r in results)
    errors = sum(r[2] for r in results)
    # The shared bucket starts when the first process does; a process slow to start (spawn
    # and imports on a busy machine) only shortens the measured window.
    first = min(r[3] for r in results)
    last = max(r[3] for r in results)
    effective = window - (first - start_at)
    aggregate = done / effective
    per_process = ", ".join(f"{r[0] / effective:.1f}" for r in results)
    report("aggregate rate", f"{aggregate:.2f}/s", "95..105/s", abs(aggregate - 100) <= 5)
    report("per process (/s)", per_process, "", None)
    report("answered 429 (sandbox count)", f"{stats['rate_limited']}", "", None)
    report("errors", f"{errors}", "0", errors == 0)
    report("start skew between processes", f"{last - first:.3f}s", "", None)


# -- the limiter's own cost -------------------------------------------------------------------


async def cost_run(calls: int = 200_000) -> None:
    print("\ncost: the limiter's own cost per request when not binding, beside a raw request")
    headers = {
        "content-type": "application/json",
        "x-ratelimit-limit": "1000000000",
        "x-ratelimit-remaining": "999999999",
        "x-ratelimit-reset": str(int(time.time()) + 1),
    }
    request = Request("GET", "http://127.0.0.1/api/v1/users/me", {"authorization": "Bearer x"})
    canned = Response(200, headers, b"{}")

    async def call_next(req: Request) -> Response:
        return canned

    async def timed(middleware: Any) -> float:
        for _ in range(2000):  # warm-up
            await middleware(request, call_next)
        start = time.perf_counter()
        for _ in range(calls):
            await middleware(request, call_next)
        return (time.perf_counter() - start) / calls * 1e6

    async def bare(req: Request, nxt: Any) -> Response:
        return await nxt(req)

    base = await timed(bare)
    variants = {
        "no limiter (RateLimit None)": RateLimitMiddleware(None, clock=SYSTEM_CLOCK, stats=ClientStats()),
        "RateLimit(rate=1e9, burst=1e9)": RateLimitMiddleware(
            RateLimit(rate=1e9, burst=10**9), clock=SYSTEM_CLOCK, stats=ClientStats()
        ),
        "RateLimit() learning from headers": RateLimitMiddleware(
            RateLimit(), clock=SYSTEM_CLOCK, stats=ClientStats()
        ),
        "RateLimit(partition='token')": RateLimitMiddleware(
            RateLimit(rate=1e9, burst=10**9, partition="token"), clock=SYSTEM_CLOCK, stats=ClientStats()
        ),
    }
    report("pass-through middleware (baseline)", f"{base:.2f} us", "", None)
    costs = {}
    for label, middleware in variants.items():
        costs[label] = await timed(middleware) - base
        report(f"limiter cost: {label}", f"{costs[label]:.2f} us", "<= 10 us", costs[label] <= 10)

    async with Sandbox(isolated=True) as sb:
        token = await fetch_token(sb)
        async with AsyncClient(sb.base_url, auth=BearerToken(token), allow_insecure_http=True) as client:
            for _ in range(200):
                await client.send(client.build_request("GET", "/api/v1/users/me"))
            n = 2000
            start = time.perf_counter()
            for _ in range(n):
                await client.send(client.build_request("GET", "/api/v1/users/me"))
            raw = (time.perf_counter() - start) / n * 1e6
    report("raw request (sequential GET, sandbox)", f"{raw:.0f} us", "", None)
    worst = max(costs.values())
    report("limiter cost / raw request", f"{worst / raw:.2%}", "", None)


async def main(selected: list[str]) -> int:
    print(
        f"asyncapi_client rate-limit benchmark: Python {platform.python_version()}, "
        f"{os.cpu_count()} cores, {platform.machine()}"
    )
    if "configured" in selected:
        await paced_run("configured", RateLimit(rate=50, burst=10))
    if "learned" in selected:
        await paced_run("learned", RateLimit())
    if "redis" in selected:
        await redis_run()
    if "cost" in selected:
        await cost_run()
    failed = [name for name, ok in RESULTS if not ok]
    print(
        f"\n{len(RESULTS) - len(failed)}/{len(RESULTS)} bounds met"
        + (f"; FAILED: {failed}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    names = sys.argv[1:] or ["configured", "learned", "redis", "cost"]
    sys.exit(asyncio.run(main(names)))
