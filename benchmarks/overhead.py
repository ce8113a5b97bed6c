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
3. Where the CPU goes (`--layers`, or alone with `--layers-only`): against nginx serving a page
   of 10 projects at concurrency 32, over AiohttpTransport and PyreqwestTransport, one layer
   added per row, interleaved in one run: the raw client + `orjson.loads`, the transport's
   `send` of a prepared request, the same plus `decode_page`, `client.send` of a prepared
   request (the pipeline: retry, limiter, auth, the backstop deadline), `client.request` (+
   building the request, the status check) and `projects.list_page` (+ decoding). Each row's
   CPU microseconds per request beside the step from the row above: printed, not bounded.

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


_LAYER_PAGE_SIZE = 10
_NGINX_PAGE = """
        location = /api/v1/projects {
            default_type application/json;
            add_header X-Request-Id bench-1 always;
            try_files /page.json =404;
        }
"""


def layer_page() -> bytes:
    """A page of projects with only the model's fields (as benchmarks/decode.py serves them)."""
    items = [
        {
            "id": i,
            "name": f"project {i}",
            "description": f"generated for the overhead benchmark, number {i}",
            "created_at": f"2026-01-{i:02d}T{i:02d}:00:00Z",
            "updated_at": f"2026-02-{i:02d}T{i:02d}:30:00.{i:03d}Z",
        }
        for i in range(1, _LAYER_PAGE_SIZE + 1)
    ]
    meta = {"currentPage": 1, "totalPages": 10, "totalItems": 10 * _LAYER_PAGE_SIZE, "itemsPerPage": 10}
    return json.dumps({"data": items, "meta": meta}, separators=(",", ":")).encode()


async def layers(base: str, seconds: float) -> list[tuple[str, list[c.Result]]]:
    """For each transport: one Result per layer, in the order of the module docstring."""
    import importlib.util

    import aiohttp

    from asyncapi_client._decode import decode_page

    loads: Any = json.loads
    if importlib.util.find_spec("orjson") is not None:
        import orjson

        loads = orjson.loads
    path, size = "/api/v1/projects", _LAYER_PAGE_SIZE
    url = f"{base}{path}?page=1&limit={size}"
    headers = {"authorization": f"Bearer {c.TOKEN}", "accept": "application/json"}
    kinds: list[tuple[str, Any, Any, Any]] = []  # (name, raw call, its closer, SDK transport)
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=POOL))

    async def raw_aiohttp() -> Any:
        async with session.get(url, headers=headers) as response:
            response.raise_for_status()
            return loads(await response.read())

    kinds.append(
        ("aiohttp", raw_aiohttp, session.close, sdk.transports.AiohttpTransport(max_connections=POOL))
    )
    if importlib.util.find_spec("pyreqwest") is not None:
        from pyreqwest.client import ClientBuilder

        reqwest = ClientBuilder().max_connections(POOL).error_for_status(False).build()

        async def raw_pyreqwest() -> Any:
            response = await reqwest.get(url).headers(headers).build().send()
            if response.status >= 400:
                raise RuntimeError(response.status)
            return loads((await response.bytes()).to_bytes())

        kinds.append(
            (
                "pyreqwest",
                raw_pyreqwest,
                reqwest.close,
                sdk.transports.PyreqwestTransport(max_connections=POOL),
            )
        )
    out = []
    for kind, raw_call, close, transport in kinds:
        client = make_sdk_client(base, transport)
        # A prepared request as the pipeline would hand it to the transport, and one as
        # build_request makes it, without a deadline (it is sent for the whole run).
        built = client.build_request("GET", path, params={"page": 1, "limit": size}).with_extensions(
            deadline=None
        )
        wire = built.with_header("authorization", f"Bearer {c.TOKEN}")
        calls: list[tuple[str, Any]] = [
            (f"raw {kind} + {getattr(loads, '__module__', 'json')}.loads", raw_call),
            ("transport.send(request)", lambda t=transport, r=wire: t.send(r)),
        ]

        async def send_and_decode(t: Any = transport, r: Any = wire) -> Any:
            return decode_page(await t.send(r), sdk.Project)

        calls += [
            ("  + decode_page", send_and_decode),
            ("client.send(request): + pipeline", lambda cl=client, r=built: cl.send(r)),
            (
                "client.request(...): + build, status",
                lambda cl=client: cl.request("GET", path, params={"page": 1, "limit": size}),
            ),
            ("projects.list_page: + decode", lambda cl=client: cl.projects.list_page(1, size)),
        ]
        try:
            results = await c.measure_interleaved(calls, concurrency=32, seconds=seconds)
        finally:
            await client.aclose()
            await close()
        out.append((kind, [results[name] for name, _ in calls]))
    return out


def print_layers(base: str, seconds: float) -> None:
    print(
        f"== Where the CPU goes: a page of {_LAYER_PAGE_SIZE} projects from nginx, concurrency 32, one layer per row =="
    )
    for kind, results in asyncio.run(layers(base, seconds)):
        rows = []
        for i, result in enumerate(results):
            # "+ decode_page" adds to the transport row; client.send starts again from it.
            before = results[1] if i == 3 else results[i - 1] if i else None
            step = "" if before is None else f"{result.cpu_us - before.cpu_us:+,.1f}"
            rows.append(
                [result.name, f"{result.rps:,.0f}", f"{result.cpu_us:,.1f}", step, str(result.errors)]
            )
        print(f"over {kind}:")
        c.print_table(["layer", "req/s", "CPU us/req", "step us", "errors"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (noisier)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per measurement")
    parser.add_argument("--layers", action="store_true", help="also part 3: the CPU per layer")
    parser.add_argument("--layers-only", action="store_true", help="part 3 alone")
    args = parser.parse_args()
    seconds = args.seconds or (1.5 if args.quick else 4.5)
    n_mock = 5000 if args.quick else 20000

    print(f"machine: {c.machine_note()}; {c.pin_client()}; nginx pinned to CPU {c.SERVER_CPU}")
    if args.layers or args.layers_only:
        with c.running_nginx(files={"page.json": layer_page()}, extra=_NGINX_PAGE) as base:
            print_layers(base, seconds)
        if args.layers_only:
            return
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
