"""Soak: 100,000 requests through the full pipeline against the real sandbox, memory flat.

The sandbox runs in its own process (`isolated=True`). The client has everything on: OAuth
client credentials with 5-second tokens (so it refreshes about once every 5 s), the learning
rate limiter, retries (1% of replies are injected 5xx, so the retry path runs too), user and
attempt middleware, the default `HttpcoreTransport`. 100 workers send the requests: 90% gets, 8%
list pages, 2% creates (POSTs with idempotency keys).

Calls have a 1.5 s deadline (see TIMEOUT for why). Memory is measured with `tracemalloc`
(everything the process allocates after the sandbox and the client exist), at quiescent points
(no request in flight, after `gc.collect()`), every 10,000 requests. The level at the end (the
median of the last three checkpoints, 80,000 to 100,000 requests) must be within 10% of the level
after the warm-up (the median of the checkpoints at 20,000 to 40,000): no growth per request. A
median of three, not one reading: a checkpoint's level moves by a few percent with what happens
to be allocated at that moment (pool connections, token refreshes, more of them when the
machine is loaded and the run slow), and the first 10,000 requests are still warming up (on a
loaded machine the first checkpoint reads about 10% below the rest). A leak of one byte per
request would add about 60 KB between the two, some 15%. RSS is reported beside it.

`ASYNCAPI_RELIABILITY_SOAK` changes the number of requests (default 100,000).
"""

from __future__ import annotations

import gc
import os
import resource
import statistics
import time
import tracemalloc
from collections import Counter

import anyio
import pytest

import asyncapi_client as sdk
from asyncapi_client import Request, Response
from asyncapi_sandbox import Sandbox
from tests.support.outcomes import report

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

REQUESTS = int(os.environ.get("ASYNCAPI_RELIABILITY_SOAK", "100000"))
WORKERS = 100
CHECKPOINTS = 10
TOLERANCE = 0.10
# The transports' deadline timer wheel keeps one bucket per 50 ms up to the longest deadline
# in use, so it grows for one deadline's length and then stays flat (about 2 MB at these rates
# with the default 60 s deadline). Short deadlines let it settle within the first 10,000
# requests, and waiting out one deadline at each checkpoint empties it, so what is compared is
# per-request growth.
TIMEOUT = sdk.Timeout(total=1.5, attempt=1.5, connect=1.5)


def _rss_mib() -> float:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:  # not Linux: the peak is the best we have
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class CountingMiddleware:
    """A user middleware (and, as attempt middleware, one per attempt): counts what it sees."""

    def __init__(self) -> None:
        self.seen = 0

    async def __call__(self, request: Request, call_next: sdk.CallNext) -> Response:
        self.seen += 1
        return await call_next(request)


async def _batch(client: sdk.AsyncClient, start: int, count: int, errors: Counter[str]) -> None:
    """`count` requests from WORKERS workers; every reply checked."""
    per_worker = count // WORKERS

    async def worker(w: int) -> None:
        for i in range(per_worker):
            n = start + w * per_worker + i
            kind = n % 50
            try:
                if kind < 45:
                    pid = 1 + n % 150
                    project = await client.projects.get(pid)
                    assert project.id == pid
                elif kind < 49:
                    page = await client.projects.list_page(page=1 + n % 7, limit=20)
                    assert page.meta.current_page == 1 + n % 7
                else:
                    project = await client.projects.create(f"soak {n}")
                    assert project.name == f"soak {n}"
            except sdk.APIError as exc:
                errors[type(exc).__name__] += 1

    async with anyio.create_task_group() as tg:
        for w in range(WORKERS):
            tg.start_soon(worker, w)


def _traced() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


async def test_soak_memory_is_flat_over_100_000_requests() -> None:
    """100,000 requests through auth, limiter, retries and middleware: tracemalloc's current
    size after the run is within 10% of its size after the first 10,000 (no per-request growth);
    every reply right or an APIError."""
    errors: Counter[str] = Counter()
    per_call = CountingMiddleware()
    per_attempt = CountingMiddleware()
    async with Sandbox(isolated=True, token_ttl=5, fail_rate=0.01) as sb:
        tracemalloc.start(1)
        try:
            auth = sdk.ClientCredentials(sb.token_url, sb.client_id, sb.client_secret)
            client = sdk.AsyncClient(
                sb.base_url,
                auth=auth,
                rate_limit=sdk.RateLimit(),
                retry=sdk.RetryPolicy(max_attempts=4, backoff_base=0.02, backoff_max=0.2),
                middleware=[per_call],
                attempt_middleware=[per_attempt],
                transport=sdk.HttpcoreTransport(max_connections=WORKERS),
                timeout=TIMEOUT,
            )
            samples: list[tuple[int, int, float, float]] = []  # (requests, traced bytes, rss MiB, seconds)
            started = time.monotonic()
            async with client:
                done = 0
                step = REQUESTS // CHECKPOINTS
                with anyio.fail_after(360):
                    while done < REQUESTS:
                        await _batch(client, done, step, errors)
                        done += step
                        await anyio.sleep(TIMEOUT.total + 0.2)  # let the deadline wheel drain
                        samples.append((done, _traced(), _rss_mib(), time.monotonic() - started))
                elapsed = time.monotonic() - started
                stats = client.stats()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        server = await sb.stats()

    levels = [traced for _, traced, _, _ in samples]
    after_warmup = statistics.median(levels[1:4])
    final = statistics.median(levels[-3:])
    growth = (final - after_warmup) / after_warmup
    figures = {
        "requests": REQUESTS,
        "workers": WORKERS,
        "seconds": round(elapsed, 1),
        "requests_per_second": round(REQUESTS / (elapsed - CHECKPOINTS * (TIMEOUT.total + 0.2))),
        "traced_kib_after_warmup": round(after_warmup / 1024),
        "traced_kib_at_the_end": round(final / 1024),
        "traced_growth_percent": round(100 * growth, 2),
        "traced_peak_kib": round(peak / 1024),
        "rss_growth_percent": round(100 * (samples[-1][2] - samples[0][2]) / samples[0][2], 2),
        "traced_kib_by_checkpoint": [round(t / 1024) for _, t, _, _ in samples],
        "rss_mib_by_checkpoint": [round(r, 1) for _, _, r, _ in samples],
        "client_attempts": stats.attempts,
        "client_retries": stats.retries,
        "sdk_errors": dict(errors),
        "token_requests": server["token_requests"],
        "server_statuses": server["responses_by_status"],
    }
    report("soak", figures)
    assert per_call.seen == REQUESTS, f"{per_call.seen} calls seen by the user middleware, not {REQUESTS}"
    assert per_attempt.seen == stats.attempts >= REQUESTS
    assert stats.retries > 0 and server["token_requests"]["client_credentials"] >= 2
    # Every failure is an APIError (anything else propagates and fails the test); a loaded
    # machine may push a few calls past their 1.5 s deadline, but not many.
    assert sum(errors.values()) < REQUESTS * 0.01, f"too many failed calls: {dict(errors)}"
    rss_growth = (samples[-1][2] - samples[0][2]) / samples[0][2]
    assert rss_growth <= TOLERANCE, f"RSS grew {100 * rss_growth:+.1f}% from 10,000 requests to the end"
    assert abs(growth) <= TOLERANCE, (
        f"traced memory went from {after_warmup:.0f} bytes after the warm-up to {final:.0f} at the "
        f"end ({100 * growth:+.1f}%, limit {100 * TOLERANCE:.0f}%; by checkpoint: {levels})"
    )
