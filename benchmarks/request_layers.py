"""Where a request's CPU goes: the SDK's `projects.list_page` built up one layer at a time.

    python benchmarks/request_layers.py            # about a minute; needs nginx (apt-get install -y nginx)
    python benchmarks/request_layers.py --quick    # shorter runs, noisier figures
    python benchmarks/request_layers.py --page 100 --concurrency 256   # decode.py's hardest case

Against nginx (pinned to CPU 1; this process on CPU 0) serving a page of 10 projects (`--page`:
10 or 100, as `benchmarks/decode.py` serves them), at concurrency 32 (`--concurrency`), over AiohttpTransport and PyreqwestTransport, interleaved in one run, one row per
layer: the raw client + `orjson.loads`; the transport's `send` of a prepared request; the same
plus `decode_page`; `client.send` of a prepared request (the pipeline: retry, rate limiter,
auth, the call's backstop deadline, which a request given to `send` always gets);
`client.request` (+ building the request, the status check; less the backstop, which a call the
client builds over the SDK's own layers does without: see `_shared_state.pipeline_bounded`);
`projects.list_page` (+ decoding). Each row's CPU microseconds per request beside the
step from the row above (the pipeline row's from the transport row): printed, not bounded.
Beside them, the Python calls per request (cProfile's count, a coroutine's every resumption
counted as a call, over 2,000 requests at the same concurrency): a figure the load of a shared
machine does not move, where the CPU figures can move by a fifth between runs.
The bounds on the whole are `benchmarks/decode.py`'s part 2.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import importlib.util
import json
import pstats
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c
from decode import page_body
from overhead import POOL, make_sdk_client

import asyncapi_client as sdk

_NGINX_PAGE = """
        location = /api/v1/projects {
            default_type application/json;
            add_header X-Request-Id bench-1 always;
            try_files /page.json =404;
        }
"""


async def layers(
    base: str, seconds: float, size: int, concurrency: int
) -> list[tuple[str, list[tuple[c.Result, float]]]]:
    """For each transport: one (Result, Python calls per request) per layer, in the order of the
    module docstring."""
    import aiohttp

    from asyncapi_client._decode import decode_page

    loads: Any = json.loads
    if importlib.util.find_spec("orjson") is not None:
        import orjson

        loads = orjson.loads
    path = "/api/v1/projects"
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
    counts: dict[str, float] = {}
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
            results = await c.measure_interleaved(calls, concurrency=concurrency, seconds=seconds)
            for name, call in calls:
                counts[name] = await python_calls(call, concurrency)
        finally:
            await client.aclose()
            await close()
        out.append((kind, [(results[name], counts[name]) for name, _ in calls]))
    return out


async def python_calls(call: Any, concurrency: int, requests: int = 2000) -> float:
    """Python function calls (and coroutine resumptions) per completed `call`, by cProfile."""
    per_worker = max(1, requests // concurrency)

    async def worker() -> None:
        for _ in range(per_worker):
            await call()

    profile = cProfile.Profile()
    profile.enable()
    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        profile.disable()
    return float(pstats.Stats(profile).total_calls) / (per_worker * concurrency)


def print_layers(base: str, seconds: float, size: int, concurrency: int) -> None:
    print(
        f"== Where the CPU goes: a page of {size} projects from nginx, concurrency {concurrency}, one layer per row =="
    )
    for kind, results in asyncio.run(layers(base, seconds, size, concurrency)):
        rows = []
        for i, (result, calls) in enumerate(results):
            # "+ decode_page" adds to the transport row; client.send starts again from it.
            before = results[1][0] if i == 3 else results[i - 1][0] if i else None
            step = "" if before is None else f"{result.cpu_us - before.cpu_us:+,.1f}"
            rows.append(
                [
                    result.name,
                    f"{result.rps:,.0f}",
                    f"{result.cpu_us:,.1f}",
                    step,
                    f"{calls:,.1f}",
                    str(result.errors),
                ]
            )
        print(f"over {kind}:")
        c.print_table(["layer", "req/s", "CPU us/req", "step us", "Python calls/req", "errors"], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (noisier)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per layer (3 interleaved runs)")
    parser.add_argument("--page", type=int, choices=(10, 100), default=10, help="projects per page")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight")
    args = parser.parse_args()
    seconds = args.seconds or (1.5 if args.quick else 4.5)
    print(f"machine: {c.machine_note()}; {c.pin_client()}; nginx pinned to CPU {c.SERVER_CPU}")
    page = page_body(1, args.page, 10 * args.page)
    with c.running_nginx(files={"page.json": page}, extra=_NGINX_PAGE) as base:
        print_layers(base, seconds, args.page, args.concurrency)


if __name__ == "__main__":
    main()
