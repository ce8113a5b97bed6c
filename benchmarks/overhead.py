"""What the SDK costs over the raw HTTP clients, side by side, in one run.

    python benchmarks/overhead.py            # about 30 s; needs nginx (apt-get install -y nginx)
    python benchmarks/overhead.py --quick    # shorter runs, noisier figures

1. Against nginx (pinned to CPU 1; this process on CPU 0), concurrency 1 and 32: the SDK's
   `projects.get(1)` with every layer present (BearerToken auth, retry and rate limiter present
   but not binding) against raw `httpx.AsyncClient` doing the same GET with the same header and
   `json` decode; and the SDK over `AiohttpTransport` against raw aiohttp. Requests per second,
   CPU microseconds per request, and the SDK/raw ratios. Targets: over the httpx transport the
   SDK costs no more CPU per request than raw httpx; over aiohttp it keeps >= 75% of raw
   aiohttp's req/s.
2. Over a mock transport, no network: the SDK pipeline's own cost per call (target < 50 us),
   beside the stack users assemble today (authlib's AsyncOAuth2Client + aiolimiter + tenacity
   over httpx.MockTransport) doing the same call and decode.

The raw httpx client gets the same pool as the SDK (100 connections, all kept alive): httpx's
default keeps only 20 alive and churns connections at concurrency 32, which would flatter the SDK.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c

import asyncapi_client as sdk
from asyncapi_client._models import structure

POOL = 100


def nonbinding_rate_limit() -> Any:
    """A RateLimit that never makes a request wait, whatever the limiter's fields are called."""
    import attrs

    try:
        names = {f.name for f in attrs.fields(sdk.RateLimit)}
    except (TypeError, attrs.exceptions.NotAnAttrsClassError):
        names = set()
    kwargs: dict[str, Any] = {}
    for name in ("rate", "requests_per_second", "rps", "per_second"):
        if name in names:
            kwargs[name] = 1e9
    for name in ("burst", "capacity"):
        if name in names:
            kwargs[name] = 10**9
    try:
        return sdk.RateLimit(**kwargs)
    except (TypeError, ValueError):
        return sdk.RateLimit()


def make_sdk_client(base: str, transport: Any) -> sdk.AsyncClient:
    return sdk.AsyncClient(
        base,
        auth=sdk.BearerToken(c.TOKEN),
        transport=transport,
        rate_limit=nonbinding_rate_limit(),
        retry=sdk.RetryPolicy(),
        timeout=30.0,
    )


async def network(base: str, seconds: float) -> list[tuple[str, int, c.Result, c.Result]]:
    import aiohttp
    import httpx

    url = base + c.PROJECT_PATH
    auth_header = {"authorization": f"Bearer {c.TOKEN}", "accept": "application/json"}
    pairs: list[tuple[str, int, c.Result, c.Result]] = []

    raw_httpx = httpx.AsyncClient(
        limits=httpx.Limits(max_connections=POOL, max_keepalive_connections=POOL), timeout=30.0
    )
    sdk_httpx = make_sdk_client(base, sdk.HttpcoreTransport(max_connections=POOL))
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=POOL))
    sdk_aiohttp = make_sdk_client(base, sdk.transports.AiohttpTransport(max_connections=POOL))

    async def raw_httpx_call() -> Any:
        response = await raw_httpx.get(url, headers=auth_header)
        response.raise_for_status()
        return response.json()

    async def raw_aiohttp_call() -> Any:
        async with session.get(url, headers=auth_header) as response:
            response.raise_for_status()
            return json.loads(await response.read())

    try:
        for kind, transport, raw_call, sdk_client in (
            ("httpx", "HttpcoreTransport", raw_httpx_call, sdk_httpx),
            ("aiohttp", "AiohttpTransport", raw_aiohttp_call, sdk_aiohttp),
        ):
            for concurrency in (1, 32):
                raw_name, sdk_name = f"raw {kind}", f"SDK over {transport}"
                results = await c.measure_interleaved(
                    [(raw_name, raw_call), (sdk_name, lambda client=sdk_client: client.projects.get(1))],
                    concurrency=concurrency,
                    seconds=seconds,
                )
                pairs.append((kind, concurrency, results[sdk_name], results[raw_name]))
    finally:
        await raw_httpx.aclose()
        await sdk_httpx.aclose()
        await session.close()
        await sdk_aiohttp.aclose()
    return pairs


BODY = json.dumps(c.PROJECT, separators=(",", ":")).encode()
MOCK_URL = "https://api.example.com"


def sdk_mock_costs(n: int) -> dict[str, float]:
    headers = {"content-type": "application/json", "x-request-id": "bench-1"}

    def handler(request: sdk.Request) -> sdk.Response:
        return sdk.Response._trusted(200, headers, BODY, request)

    costs: dict[str, float] = {}

    async def direct() -> Any:
        # The floor: the handler and the model decode alone, no pipeline.
        response = handler(request_template)
        return structure(json.loads(response.content), sdk.Project)

    request_template = sdk.Request("GET", MOCK_URL + c.PROJECT_PATH)
    costs["handler + decode only (the floor)"] = c.mock_loop_cost(direct, n)

    async def handler_only() -> Any:
        return handler(request_template)

    costs["handler only (the floor of send)"] = c.mock_loop_cost(handler_only, n)

    def run_with_client(label: str, call_name: str) -> None:
        async def main() -> float:
            client = make_sdk_client(MOCK_URL, sdk.MockTransport(handler, record=False))
            async with client:
                if call_name == "get":

                    async def call() -> Any:
                        return await client.projects.get(1)
                else:
                    request = client.build_request("GET", c.PROJECT_PATH)

                    async def call() -> Any:
                        return await client.send(request)

                import time

                for _ in range(2000):
                    await call()
                cpu0 = time.process_time()
                for _ in range(n):
                    await call()
                return (time.process_time() - cpu0) / n * 1e6

        costs[label] = asyncio.run(main())

    run_with_client("SDK projects.get(1), every layer", "get")
    run_with_client("SDK client.send(request), pipeline only", "send")
    return costs


def todays_stack_cost(n: int) -> float | str:
    """authlib's AsyncOAuth2Client + aiolimiter + tenacity over httpx.MockTransport."""
    try:
        from aiolimiter import AsyncLimiter
        from authlib.integrations.httpx_client import AsyncOAuth2Client
        from tenacity import (
            AsyncRetrying,
            retry_if_exception_type,
            stop_after_attempt,
            wait_random_exponential,
        )
    except ImportError as exc:
        return f"not measured: {exc.name} is not installed (pip install aiolimiter tenacity)"
    # authlib's httpx integration runs on httpx2 when httpx2 is installed, on httpx otherwise.
    httpx: Any
    try:
        from authlib.integrations.httpx_client._compat import httpx2 as httpx
    except ImportError:
        import httpx

    headers = {"content-type": "application/json", "x-request-id": "bench-1"}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers=headers, content=BODY)

    async def main() -> float:
        import time

        client = AsyncOAuth2Client(
            token={"access_token": c.TOKEN, "token_type": "Bearer"},
            transport=httpx.MockTransport(handler),
            base_url=MOCK_URL,
        )
        limiter = AsyncLimiter(1e9, 1)

        async def call() -> Any:
            async with limiter:
                async for attempt in AsyncRetrying(
                    stop=stop_after_attempt(3),
                    wait=wait_random_exponential(multiplier=0.5, max=8),
                    retry=retry_if_exception_type(httpx.TransportError),
                    reraise=True,
                ):
                    with attempt:
                        response = await client.get(c.PROJECT_PATH)
                        response.raise_for_status()
            return structure(response.json(), sdk.Project)

        async with client:
            for _ in range(1000):
                await call()
            cpu0 = time.process_time()
            for _ in range(n):
                await call()
            return (time.process_time() - cpu0) / n * 1e6

    return asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (noisier)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per measurement")
    args = parser.parse_args()
    seconds = args.seconds or (1.5 if args.quick else 4.5)
    n_mock = 5000 if args.quick else 20000

    print(f"machine: {c.machine_note()}; {c.pin_client()}; nginx pinned to CPU {c.SERVER_CPU}")
    print(
        f"each network figure: the median of 3 interleaved runs of {seconds / 3:.1f} s "
        "(each after a 0.3 s warm-up)\n"
    )
    with c.running_nginx() as base:
        pairs = asyncio.run(network(base, seconds))

    print("== Against nginx: SDK projects.get (auth + retry + limiter) vs the raw client, same run ==")
    rows = []
    for _kind, concurrency, ours, raw in pairs:
        rows.append(
            [
                ours.name,
                str(concurrency),
                f"{ours.rps:,.0f}",
                f"{raw.rps:,.0f}",
                c.fmt_ratio(ours.rps, raw.rps),
                f"{ours.cpu_us:,.0f}",
                f"{raw.cpu_us:,.0f}",
                c.fmt_ratio(ours.cpu_us, raw.cpu_us),
                str(ours.errors + raw.errors),
            ]
        )
    c.print_table(
        [
            "SDK over",
            "conc",
            "SDK req/s",
            "raw req/s",
            "req/s SDK/raw",
            "SDK CPU us/req",
            "raw CPU us/req",
            "CPU SDK/raw",
            "errors",
        ],
        rows,
    )
    verdicts = []
    for kind, concurrency, ours, raw in pairs:
        if kind == "httpx":
            ok = ours.cpu_us <= raw.cpu_us
            verdicts.append(
                f"httpx c={concurrency}: SDK CPU/req {ours.cpu_us:,.0f} us vs raw {raw.cpu_us:,.0f} us "
                f"-> {'MET' if ok else 'NOT MET'} (target: SDK <= raw)"
            )
        else:
            share = ours.rps / raw.rps if raw.rps else 0.0
            verdicts.append(
                f"aiohttp c={concurrency}: SDK keeps {share:.0%} of raw aiohttp's req/s "
                f"-> {'MET' if share >= 0.75 else 'NOT MET'} (target: >= 75%)"
            )
    print("\n".join(verdicts) + "\n")

    print("== No network: cost per call over a mock transport (CPU microseconds, sequential) ==")
    costs = sdk_mock_costs(n_mock)
    stack = todays_stack_cost(n_mock)
    floor = costs["handler + decode only (the floor)"]
    send_floor = costs["handler only (the floor of send)"]
    floors = {
        "SDK client.send(request), pipeline only": send_floor,
        "SDK projects.get(1), every layer": floor,
    }
    rows = [
        [name, f"{value:,.1f}", f"{value - floors[name]:,.1f}" if name in floors else ""]
        for name, value in costs.items()
    ]
    if isinstance(stack, float):
        rows.append(
            [
                "today's stack: authlib + aiolimiter + tenacity (same decode)",
                f"{stack:,.1f}",
                f"{stack - floor:,.1f}",
            ]
        )
    c.print_table(["what", "us/call", "us/call above its floor"], rows)
    pipeline = costs["SDK projects.get(1), every layer"] - floor
    print(
        f"SDK pipeline's own cost: {pipeline:,.1f} us/call -> {'MET' if pipeline < 50 else 'NOT MET'} (target < 50 us)"
    )
    if isinstance(stack, float):
        print(
            f"today's stack adds {stack - floor:,.1f} us/call: {(stack - floor) / max(pipeline, 0.1):.1f}x the SDK's"
        )
    else:
        print(f"today's stack: {stack}")


if __name__ == "__main__":
    main()
