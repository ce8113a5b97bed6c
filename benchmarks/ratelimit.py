"""Client-side rate limiting: each figure printed beside its bound. The client is made as a
user would make it: `AsyncClient(url, auth=...)`, no `rate_limit` argument, the default retry
policy.

    python benchmarks/ratelimit.py                       # everything (about ten minutes)
    python benchmarks/ratelimit.py nginx modes cost      # a subset
    python benchmarks/ratelimit.py slowapi               # the third-party sliding window
    python benchmarks/ratelimit.py slowapi --slowapi 20/second --repeat 5 --slowapi-http h11
    python benchmarks/ratelimit.py modes --calls 600     # shorter runs of the sandbox modes
    python benchmarks/ratelimit.py modes --mode sliding_window --mode "fixed_window / none"

1. nginx:   Debian's nginx `limit_req` (50 r/s, burst 10, nodelay; no rate-limit headers) in
            front of the sandbox, whose tokens live 4 s; 800 `users.me()` at concurrency 64,
            with nginx's HTML 429 page and with `Retry-After: 1` + the JSON envelope: every
            call succeeds, >= 90% of 50 + 10/duration ok/s, <= 10% of requests answered 429,
            no 401 reaches a caller, token requests <= duration / 4 + 1.
2. modes:   the sandbox in each limiter mode and header dialect, 2,000 calls at concurrency 64:
            >= 95% of the limit (50/s plus the bucket or the window's quota once), <= 1%
            answered 429, none lost.
2b. slowapi: slowapi (on `limits`) with `headers_enabled=True` guarding a small Starlette app
            (uvicorn, in a process of its own: `tests/support/slowapi_server.py`, so the
            client and the server share no event loop; the 429s are the server's own
            count): its `moving-window` (a true sliding log) and its
            `fixed-window` at 100 per 2 s, 1,000 calls, and the moving window at 20 per
            second, 400 calls, all at concurrency 64: >= 95% of the limit (the rate plus a
            window's quota once), <= 1% of requests answered 429, none lost.
3. pause:   one `Retry-After: 1000000000`, then the server recovers: the call that got it fails
            with RateLimitError; a call made after the cap (`max_pause`, 2 s here) succeeds, in
            this process and in a fresh process sharing the Redis state.
4. storm:   30 s of bare 429s (nginx `return 429`): requests per second from the 10th second on
            <= 2; every call ends with a typed error; retries within the budget.
5. redis:   4 processes, each with its own token (the sandbox allows 1,000/s per token), all
            sharing one `RedisRateLimitBackend` bucket at 100/s, burst 10, concurrency 16
            each, for a fixed 12 s window: the aggregate within 5% of 100/s.
6. cost:    the limiter's own cost per request when it is not binding (CPU microseconds; the
            two limiter layers called directly around canned responses whose Remaining goes
            down by one each, less two pass-through layers timed in the same round; the
            median of 21 rounds, with its quartiles), beside a raw request (sequential GETs
            to the sandbox). `limiter_instructions.py` counts the same chain's cost in
            instructions, which the machine's speed does not move.

The sandbox runs `isolated=True` (a subprocess with its own interpreter). On a shared 2-core
machine, figures move between runs.

The script stays whole (past 400 lines): each section is one scenario of the same promise, and
one run prints every figure beside its bound, with the count of bounds met at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import httpx

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from asyncapi_client import (
    APIError,
    AsyncClient,
    BearerToken,
    ClientCredentials,
    MockTransport,
    RateLimit,
    RateLimitError,
    Request,
    Response,
    Timeout,
)
from asyncapi_client._clock import SYSTEM_CLOCK
from asyncapi_client._pipeline import build_chain
from asyncapi_client._ratelimit import RateLimitMiddleware
from asyncapi_client._retry._policy import RETRY_COST
from asyncapi_client._stats import ClientStats
from asyncapi_sandbox import Sandbox
from tests.support.counting_transport import CountingTransport
from tests.support.nginx_limit_req import LIMIT_ZONE, limit_req_server
from tests.support.services import running_nginx

RESULTS: list[tuple[str, bool]] = []


def report(name: str, value: str, bound: str, ok: bool | None) -> None:
    mark = "" if ok is None else ("PASS" if ok else "FAIL")
    print(f"  {name:<48} {value:>22}   bound {bound:<22} {mark}", flush=True)
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


async def calls(client: AsyncClient, n: int, concurrency: int) -> tuple[Counter[str], float]:
    """n `users.me()` at `concurrency`: (outcomes by name, seconds)."""
    outcomes: Counter[str] = Counter()
    jobs = iter(range(n))

    async def worker() -> None:
        for _ in jobs:
            try:
                await client.users.me()
                outcomes["ok"] += 1
            except APIError as exc:
                outcomes[type(exc).__name__] += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return outcomes, time.perf_counter() - start


# -- 1. nginx limit_req in front of the sandbox ---------------------------------------------


async def nginx_run(style: str, n: int = 800) -> None:
    what = "nginx's HTML 429" if style == "html" else "429 + Retry-After: 1 + JSON envelope"
    print(f"\nnginx limit_req 50 r/s burst 10 nodelay, {what}; tokens live 4 s; {n} calls at 64")
    async with Sandbox(token_ttl=4, isolated=True) as sb:
        upstream = int(sb.base_url.rsplit(":", 1)[1])
        with running_nginx(limit_req_server(upstream, style), http_block=LIMIT_ZONE) as port:
            base = f"http://127.0.0.1:{port}"
            transport = CountingTransport()
            auth = ClientCredentials(base + "/oauth/token", sb.client_id, sb.client_secret)
            async with AsyncClient(base, auth=auth, transport=transport, allow_insecure_http=True) as client:
                outcomes, elapsed = await calls(client, n, 64)
    ok = outcomes["ok"]
    sent = sum(transport.api.values())
    limit = 50 + 10 / elapsed
    report("calls that succeeded", f"{ok} of {n}", f"{n}", ok == n)
    report(
        "sustained (ok/s)",
        f"{ok / elapsed:.2f}/s ({ok / elapsed / limit:.1%})",
        f">= {0.9 * limit:.2f}/s (90%)",
        ok / elapsed >= 0.9 * limit,
    )
    report(
        "answered 429",
        f"{transport.api[429]} of {sent} ({transport.api[429] / sent:.1%})",
        "<= 10%",
        transport.api[429] <= 0.1 * sent,
    )
    report(
        "AuthenticationError reaching a caller",
        f"{outcomes['AuthenticationError']}",
        "0",
        outcomes["AuthenticationError"] == 0,
    )
    report("401s answered at all", f"{transport.api[401]}", "", None)
    bound = elapsed / 4 + 1
    report(
        "token requests",
        f"{transport.token_requests} in {elapsed:.1f}s",
        f"<= {bound:.1f} (duration/4 + 1)",
        transport.token_requests <= bound,
    )


# -- 2. the sandbox's modes ------------------------------------------------------------------

MODES = [  # (limiter, dialect, Retry-After on 429s, secondary limit per second)
    ("token_bucket", "x-ratelimit", True, 0.0),
    ("token_bucket", "ietf", True, 0.0),
    ("token_bucket", "none", True, 0.0),
    ("token_bucket", "none", False, 0.0),
    ("fixed_window", "github", True, 0.0),
    ("fixed_window", "ietf", True, 0.0),
    ("fixed_window", "x-ratelimit", True, 0.0),
    ("fixed_window", "none", True, 0.0),
    ("fixed_window", "none", False, 0.0),
    ("sliding_window", "x-ratelimit", True, 0.0),
    ("sliding_window", "ietf", True, 0.0),
    ("sliding_window", "none", True, 0.0),
]


def _mode_label(limiter: str, dialect: str, retry_after: bool, secondary: float) -> str:
    return f"{limiter} / {dialect} / Retry-After {'on' if retry_after else 'off'}"


async def mode_run(limiter: str, dialect: str, retry_after: bool, secondary: float, n: int) -> None:
    options: dict[str, Any] = {"burst": 10} if limiter == "token_bucket" else {"window": 2.0}
    once = 10 if limiter == "token_bucket" else 100  # the bucket, or a window's quota
    async with Sandbox(
        rate=50, limiter=limiter, limit_headers=dialect, retry_after=retry_after, secondary_rate=secondary,
        isolated=True, **options,
    ) as sb:  # fmt: skip
        async with AsyncClient(
            sb.base_url, auth=BearerToken(await fetch_token(sb)), allow_insecure_http=True
        ) as client:
            outcomes, elapsed = await calls(client, n, 64)
        stats = await sb.stats()
    ok = outcomes["ok"]
    limit = 50 + once / elapsed
    limited = int(stats["rate_limited"])
    label = _mode_label(limiter, dialect, retry_after, secondary)
    good = ok / elapsed >= 0.95 * limit and limited <= n // 100 and ok == n
    report(
        label,
        f"{ok / elapsed:.1f}/s {ok / elapsed / limit:.0%}, 429 {limited / n:.1%}, lost {n - ok}",
        ">= 95%, <= 1%, 0",
        good,
    )


# -- 2b. slowapi: a third-party sliding window ----------------------------------------------

SLOWAPI_RUNS = [  # (strategy, limit as slowapi reads it, quota, window seconds, calls)
    ("moving-window", "100/2seconds", 100, 2.0, 1000),
    ("fixed-window", "100/2seconds", 100, 2.0, 1000),
    ("moving-window", "20/second", 20, 1.0, 400),
]


async def slowapi_run(
    strategy: str, limit_text: str, quota: int, window: float, n: int, http: str = "auto"
) -> None:
    from tests.support.slowapi_server import answered, running_slowapi_peer

    with running_slowapi_peer(limit_text, strategy, http) as url:
        async with AsyncClient(url, auth=BearerToken("t"), allow_insecure_http=True) as client:
            outcomes, elapsed = await calls(client, n, 64)
        counts = await asyncio.to_thread(answered, url)  # the server's own figures
    ok = outcomes["ok"]
    limit = quota / window + quota / elapsed  # the rate, plus a window's quota once
    limited = counts[429]
    sent = limited + counts[200]
    good = ok / elapsed >= 0.95 * limit and limited <= sent // 100 and ok == n and counts[200] == n
    report(
        f"slowapi {strategy} {limit_text}" + ("" if http == "auto" else f" ({http})"),
        f"{ok / elapsed:.1f}/s {ok / elapsed / limit:.0%}, 429 {limited / sent:.1%}, lost {n - ok}",
        ">= 95%, <= 1%, 0",
        good,
    )


# -- 3. Retry-After: 1000000000 --------------------------------------------------------------

_FRESH = """
import asyncio, json, sys
from asyncapi_client import AsyncClient, MockTransport, RateLimit, RedisRateLimitBackend, Response
USER = {"id": 1, "name": "Ada", "email": "ada@example.com", "created_at": "2024-01-01T00:00:00Z"}
async def main():
    backend = RedisRateLimitBackend(sys.argv[1], prefix=sys.argv[2], max_pause=float(sys.argv[3]))
    async with AsyncClient("https://api.example.com", transport=MockTransport(lambda r: Response.json_response(200, USER)),
                           rate_limit=RateLimit(rate=100, burst=10, backend=backend)) as client:
        await client.users.me()
        print(json.dumps({"waited": client.stats().limiter_wait_seconds}))
asyncio.run(main())
"""
USER = {"id": 1, "name": "Ada", "email": "ada@example.com", "created_at": "2024-01-01T00:00:00Z"}
ENVELOPE = {"error": {"code": "RATE_LIMITED", "message": "slow down", "details": {}}}


async def pause_run(cap: float = 2.0) -> None:
    from asyncapi_client import RedisRateLimitBackend
    from tests.support.services import running_redis

    print(f"\npause: one 429 with Retry-After 1000000000, then the server recovers; max_pause {cap:g}s")
    hostile = iter([Response.json_response(429, ENVELOPE, {"retry-after": "1000000000"})])
    transport = MockTransport(lambda r: next(hostile, None) or Response.json_response(200, USER))
    async with AsyncClient(
        "https://api.example.com", transport=transport, rate_limit=RateLimit(max_pause=cap)
    ) as client:
        try:
            await client.users.me()
            first = "succeeded"
        except RateLimitError:
            first = "RateLimitError"
        report("the call that got it", first, "RateLimitError", first == "RateLimitError")
        await asyncio.sleep(cap)
        start = time.perf_counter()
        await client.users.me()
        report(
            "a call made after the cap (this process)",
            f"ok in {time.perf_counter() - start:.3f}s",
            "ok",
            True,
        )
    with running_redis() as redis_url:
        prefix = f"bench:pause:{os.getpid()}:{time.time()}:"
        hostile = iter([Response.json_response(429, ENVELOPE, {"retry-after": "1000000000"})])
        backend = RedisRateLimitBackend(redis_url, prefix=prefix, max_pause=cap)
        async with AsyncClient(
            "https://api.example.com",
            transport=MockTransport(lambda r: next(hostile, None) or Response.json_response(200, USER)),
            rate_limit=RateLimit(rate=100, burst=10, backend=backend, max_pause=cap),
        ) as client:
            with contextlib.suppress(RateLimitError):
                await client.users.me()
        done = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", _FRESH, redis_url, prefix, "60"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        waited = json.loads(done.stdout)["waited"] if done.returncode == 0 else None
        value = "failed" if waited is None else f"ok after {waited:.3f}s"
        report(
            "a fresh process sharing the Redis state",
            value,
            f"ok, wait <= {cap:g}s",
            waited is not None and waited <= cap,
        )


# -- 4. a storm of bare 429s -----------------------------------------------------------------


async def storm_run(seconds: float = 30.0) -> None:
    print(
        f"\nstorm: nginx answers every request 429 (its HTML page, no Retry-After) for {seconds:.0f} s; 64 callers"
    )
    with running_nginx("location / { return 429; }") as port:
        transport = CountingTransport()
        async with AsyncClient(
            f"http://127.0.0.1:{port}", auth=BearerToken("t"), transport=transport, timeout=Timeout(total=10),
            allow_insecure_http=True,
        ) as client:  # fmt: skip
            outcomes: Counter[str] = Counter()
            start = time.monotonic()

            async def worker() -> None:
                while time.monotonic() - start < seconds:
                    try:
                        await client.users.me()
                        outcomes["ok"] += 1
                    except APIError as exc:
                        outcomes[type(exc).__name__] += 1
                    except Exception as exc:
                        outcomes["untyped " + type(exc).__name__] += 1

            await asyncio.gather(*(worker() for _ in range(64)))
            retries = client.stats().retries
    per_second = Counter(int(t - start) for t in transport.times if t - start < seconds)
    late = max(per_second[s] for s in range(10, int(seconds)))
    report("requests in the first second", f"{per_second[0]}", "", None)
    report("most requests in a second, from the 10th on", f"{late}/s", "<= 2/s", late <= 2)
    untyped = sum(v for k, v in outcomes.items() if k.startswith("untyped"))
    report(
        "calls ended / with a typed error",
        f"{sum(outcomes.values())} / {sum(outcomes.values()) - untyped - outcomes['ok']}",
        "all typed",
        untyped == 0 and outcomes["ok"] == 0,
    )
    report(
        "retries",
        f"{retries}",
        f"<= {500 // RETRY_COST} (budget 500 / {RETRY_COST})",
        retries <= 500 // RETRY_COST,
    )


# -- 5. 4 processes sharing one Redis bucket --------------------------------------------------


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
    from tests.support.services import running_redis

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


# -- 6. the limiter's own cost ---------------------------------------------------------------


COST_URL = "http://127.0.0.1/api/v1/users/me"
COST_HEADERS = {"authorization": "Bearer x"}


def cost_request() -> Request:
    """What the limiter gets in the default client: a request whose extensions the retry layer
    built for this attempt, with the slot for the limiter's permit (built for the base too)."""
    return Request._trusted(
        "GET", COST_URL, COST_HEADERS, None, None, {"deadline": None, "attempt": 1, "rate_limit": None}
    )
COST_LIMIT = 1_000_000_000


def cost_answers(first: int, n: int, with_headers: bool) -> list[Response]:
    """`n` canned answers: without rate-limit headers, or the `first`-th to the next `n` of a
    settled server, whose Remaining goes down by one per answer (Limit and Reset repeat)."""
    if not with_headers:
        return [Response(200, {"content-type": "application/json"}, b"{}")] * n
    reset = str(int(time.time()) + 1)
    return [
        Response(
            200,
            {
                "content-type": "application/json",
                "x-ratelimit-limit": str(COST_LIMIT),
                "x-ratelimit-remaining": str(COST_LIMIT - 1 - i),
                "x-ratelimit-reset": reset,
            },
            b"{}",
        )
        for i in range(first, first + n)
    ]


def cost_chain(limiter: RateLimitMiddleware | None, served: dict[str, Any], name: str) -> Any:
    """The limiter's two layers (or, for None, two pass-through layers: the base) around a
    send that answers `served[name]()`."""

    async def call_next(req: Request) -> Response:
        return served[name]()  # type: ignore[no-any-return]

    async def bare(req: Request, nxt: Any) -> Response:
        return await nxt(req)  # type: ignore[no-any-return]

    layers: list[Any] = [bare, bare] if limiter is None else [limiter, limiter.gate]
    return build_chain(layers, call_next)


async def _cost_of(label: str, with_headers: bool, calls_: int, rounds: int) -> float:
    """`cost_run` for one kind of response; returns the default limiter's figure."""
    stats = ClientStats()
    limiters = {
        "default RateLimit()": RateLimitMiddleware(RateLimit(), clock=SYSTEM_CLOCK, stats=stats),
        "RateLimit(rate=1e9)": RateLimitMiddleware(
            RateLimit(rate=1e9, burst=10**9), clock=SYSTEM_CLOCK, stats=stats
        ),
    }
    sent: dict[str, int] = {}  # per chain: its server's Remaining goes down by one per answer
    served: dict[str, Any] = {}

    def answers(name: str, n: int) -> list[Response]:
        first = sent.get(name, 0)
        sent[name] = first + n
        return cost_answers(first, n, with_headers)

    chains = {"base": cost_chain(None, served, "base")}
    for name, limiter in limiters.items():
        chains[name] = cost_chain(limiter, served, name)

    async def timed(name: str, n: int) -> float:
        served[name] = iter(answers(name, n)).__next__
        chain = chains[name]
        start = time.process_time()
        for _ in range(n):
            await chain(cost_request())
        return (time.process_time() - start) / n * 1e6

    names = list(chains)
    for name in names:
        await timed(name, 2000)  # warm-up (and the limiters' first answers)
    costs: dict[str, list[float]] = {name: [] for name in limiters}
    for round_ in range(rounds):
        turn = round_ % len(names)
        took = {name: await timed(name, calls_) for name in names[turn:] + names[:turn]}
        for name in limiters:
            costs[name].append(took[name] - took["base"])
    default_cost = 0.0
    for name, samples in costs.items():
        low, cost, high = statistics.quantiles(samples, n=4)
        default = name.startswith("default")
        if default:
            default_cost = cost
        report(
            f"{name}, {label}",
            f"{cost:.2f} us ({low:.2f}-{high:.2f})",
            "<= 3 us" if default else "",
            cost <= 3 if default else None,
        )
    if stats.limiter_wait_seconds:
        report(f"limiter wait, {label} (it must not bind)", f"{stats.limiter_wait_seconds:.3f}s", "0", False)
    return default_cost


async def cost_run(calls_: int = 10_000, rounds: int = 21) -> None:
    """The limiter's CPU time per request, over a pipeline of two pass-through layers (the
    base) around canned responses. Each round times the base and each limiter for `calls_`
    requests, one after the other in an order that turns with the round, so that drift in the
    machine's speed falls on all of them alike; the figure is the median over `rounds` of the
    round's limiter time less its base time, with the quartiles of that difference beside it
    (the spread the shared machine put in): not the quietest round, which would hide what a
    busy machine costs, and not their mean, which one descheduled round would move. With
    headers, each response tells a Remaining one lower than the one before, as a server does
    (Limit and Reset repeat; Reset is a second away when the round begins); the responses of a
    round are built before it, so the limiter reads them from memory, not from the caches a
    transport that has just built one would leave them in. The limiter must not bind: a wait
    would be reported."""
    print("\ncost: the limiter's own cost per request when not binding (CPU time), beside a raw request")
    worst = 0.0
    for label, with_headers in (("no rate-limit headers", False), ("X-RateLimit headers", True)):
        worst = max(worst, await _cost_of(label, with_headers, calls_, rounds))
    async with (
        Sandbox(isolated=True) as sb,
        AsyncClient(
            sb.base_url, auth=BearerToken(await fetch_token(sb)), rate_limit=None, allow_insecure_http=True
        ) as client,
    ):
        for _ in range(200):
            await client.send(client.build_request("GET", "/api/v1/users/me"))
        n = 2000
        start = time.perf_counter()
        for _ in range(n):
            await client.send(client.build_request("GET", "/api/v1/users/me"))
        raw = (time.perf_counter() - start) / n * 1e6
    report("raw request (sequential GET, sandbox)", f"{raw:.0f} us", "", None)
    report("default limiter cost / raw request", f"{worst / raw:.2%}", "", None)


async def main(
    selected: list[str],
    n: int,
    only_modes: list[str] | None = None,
    only_slowapi: list[str] | None = None,
    repeat: int = 1,
    slowapi_http: str = "auto",
) -> int:
    print(
        f"asyncapi_client rate-limit benchmark: Python {platform.python_version()}, {os.cpu_count()} cores, {platform.machine()}"
    )
    if "nginx" in selected:
        await nginx_run("html")
        await nginx_run("json")
    if "modes" in selected:
        print(
            f"\nmodes: the sandbox at 50/s (a bucket of 10, or windows of 2 s), {n} calls at 64, default client"
        )
        for mode in MODES:
            if only_modes and not any(part in _mode_label(*mode) for part in only_modes):
                continue
            await mode_run(*mode, n=n)
    if "slowapi" in selected:
        print(
            "\nslowapi (limits) with headers, served by uvicorn in its own process; calls at 64, default client"
        )
        for run in SLOWAPI_RUNS:
            if only_slowapi and not any(part in f"{run[0]} {run[1]}" for part in only_slowapi):
                continue
            for _ in range(repeat):
                await slowapi_run(*run, http=slowapi_http)
    if "pause" in selected:
        await pause_run()
    if "storm" in selected:
        await storm_run()
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
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "runs", nargs="*", default=["nginx", "modes", "slowapi", "pause", "storm", "redis", "cost"]
    )
    parser.add_argument("--calls", type=int, default=2000, help="calls per sandbox mode (default 2000)")
    parser.add_argument(
        "--mode",
        action="append",
        help="run only the sandbox modes whose label contains this text (repeatable), e.g. 'sliding_window'",
    )
    parser.add_argument(
        "--slowapi",
        action="append",
        help="run only the slowapi runs whose label contains this text (repeatable), e.g. '20/second'",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="run each slowapi run this many times (default 1)"
    )
    parser.add_argument(
        "--slowapi-http",
        default="auto",
        choices=["auto", "h11", "httptools"],
        help="the slowapi peer's HTTP implementation in uvicorn (h11 answers slower)",
    )
    args = parser.parse_args()
    sys.exit(
        asyncio.run(main(args.runs, args.calls, args.mode, args.slowapi, args.repeat, args.slowapi_http))
    )
