"""The SDK over each transport beside the raw clients, against one nginx, in one run.

    python benchmarks/transports.py            # about 2 minutes; needs nginx (apt-get install -y nginx)
    python benchmarks/transports.py --quick    # about 1 minute, noisier
    python benchmarks/transports.py --no-plot  # skip docs/transports.png (needs matplotlib)

For concurrency 1, 32 and 256: requests per second and process CPU microseconds per request for
the SDK's `projects.get(1)` (BearerToken auth, retry and limiter present, not binding) over
HttpcoreTransport, Httpcore2Transport, AiohttpTransport and PyreqwestTransport, and for the raw
clients (httpx, httpx2, aiohttp, pyreqwest) doing the same GET and JSON decode, and the stack users
assemble today (authlib's AsyncOAuth2Client + aiolimiter + tenacity). Each SDK figure is printed
beside its raw client's from the same run, with the ratio. Every pool is 100 connections, all
kept alive (httpx's default keeps 20 alive and churns connections above that). The SDK runs as
shipped: Accept-Encoding sent, bodies through the decoder and the size limit, proxy routing (none
set), so the figures include what those cost.

Then, at concurrency 32: a page of 10 projects (`projects.list_page(1, 10)`), plain beside the
same page gzip-encoded by nginx, for each SDK transport and for raw httpx and aiohttp (which
decode gzip themselves); then the cost of `client.with_options(...)` in microseconds (target
< 20) and a check that views share one transport and one pool. The plot of the first table goes
to docs/transports.png.

The script stays whole (past 400 lines): the raw clients and the SDK must be measured by the
same loop, in turns, in one process, for their figures to be comparable.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import _common as c  # noqa: E402
from overhead import make_sdk_client  # noqa: E402

import asyncapi_client as sdk  # noqa: E402

POOL = 100
CONCURRENCY = (1, 32, 256)
PAGE = {
    "data": [dict(c.PROJECT, id=i, name=f"Project {i}") for i in range(1, 11)],
    "meta": {"currentPage": 1, "totalPages": 1, "totalItems": 10, "itemsPerPage": 10},
}
PAGE_PATH = "/api/v1/projects"  # list_page(1, 10); nginx ignores the query
GZIP_PREFIX = "/gz"  # the same page, gzip-encoded: a client with base URL {base}/gz asks for it
_NGINX_PAGE = f"""
        location = {PAGE_PATH} {{
            default_type application/json;
            add_header X-Request-Id bench-1 always;
            try_files /page.json =404;
        }}
        location = {GZIP_PREFIX}{PAGE_PATH} {{
            default_type application/json;
            add_header X-Request-Id bench-1 always;
            gzip on;
            gzip_types application/json;
            gzip_min_length 1;
            try_files /page.json =404;
        }}
"""
Call = Callable[[], Awaitable[Any]]


def available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


async def build(base: str) -> tuple[list[tuple[str, str | None, Call]], list[Callable[[], Awaitable[None]]]]:
    """[(label, raw counterpart label or None, call)], [closers]."""
    url = base + c.PROJECT_PATH
    headers = {"authorization": f"Bearer {c.TOKEN}", "accept": "application/json"}
    configs: list[tuple[str, str | None, Call]] = []
    closers: list[Callable[[], Awaitable[None]]] = []

    def add_sdk(label: str, transport: Any, raw_label: str) -> None:
        client = make_sdk_client(base, transport)
        configs.append((label, raw_label, lambda: client.projects.get(1)))
        closers.append(client.aclose)

    import httpx

    raw_httpx = httpx.AsyncClient(limits=httpx.Limits(max_connections=POOL, max_keepalive_connections=POOL))
    closers.append(raw_httpx.aclose)

    async def raw_httpx_call() -> Any:
        response = await raw_httpx.get(url, headers=headers)
        response.raise_for_status()
        return response.json()

    configs.append(("raw httpx", None, raw_httpx_call))
    add_sdk("SDK / HttpcoreTransport", sdk.HttpcoreTransport(max_connections=POOL), "raw httpx")

    if available("httpx2"):
        import httpx2

        raw_httpx2 = httpx2.AsyncClient(
            limits=httpx2.Limits(max_connections=POOL, max_keepalive_connections=POOL)
        )
        closers.append(raw_httpx2.aclose)

        async def raw_httpx2_call() -> Any:
            response = await raw_httpx2.get(url, headers=headers)
            response.raise_for_status()
            return response.json()

        configs.append(("raw httpx2", None, raw_httpx2_call))
        add_sdk(
            "SDK / Httpcore2Transport", sdk.transports.Httpcore2Transport(max_connections=POOL), "raw httpx2"
        )

    import aiohttp

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=POOL))
    closers.append(session.close)

    async def raw_aiohttp_call() -> Any:
        async with session.get(url, headers=headers) as response:
            response.raise_for_status()
            return json.loads(await response.read())

    configs.append(("raw aiohttp", None, raw_aiohttp_call))
    add_sdk("SDK / AiohttpTransport", sdk.transports.AiohttpTransport(max_connections=POOL), "raw aiohttp")

    if available("pyreqwest"):
        from pyreqwest.client import ClientBuilder

        reqwest = ClientBuilder().max_connections(POOL).error_for_status(False).build()
        closers.append(reqwest.close)

        async def raw_pyreqwest_call() -> Any:
            response = await reqwest.get(url).headers(headers).build().send()
            if response.status >= 400:
                raise RuntimeError(response.status)
            return json.loads((await response.bytes()).to_bytes())

        configs.append(("raw pyreqwest", None, raw_pyreqwest_call))
        add_sdk(
            "SDK / PyreqwestTransport",
            sdk.transports.PyreqwestTransport(max_connections=POOL),
            "raw pyreqwest",
        )

    stack = todays_stack(base)
    if stack is not None:
        call, closer = stack
        configs.append(("today: authlib+aiolimiter+tenacity", None, call))
        closers.append(closer)
    return configs, closers


def todays_stack(base: str) -> tuple[Call, Callable[[], Awaitable[None]]] | None:
    """authlib's AsyncOAuth2Client (on httpx2 when installed, else httpx) + aiolimiter + tenacity."""
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
        print(f"today's stack not measured: {exc.name} is not installed (pip install aiolimiter tenacity)")
        return None
    httpx: Any
    try:
        from authlib.integrations.httpx_client._compat import httpx2 as httpx
    except ImportError:
        import httpx

    client = AsyncOAuth2Client(
        token={"access_token": c.TOKEN, "token_type": "Bearer"},
        base_url=base,
        limits=httpx.Limits(max_connections=POOL, max_keepalive_connections=POOL),
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
        return response.json()

    return call, client.aclose


async def run_all(base: str, seconds: float) -> dict[tuple[str, int], c.Result]:
    configs, closers = await build(base)
    results: dict[tuple[str, int], c.Result] = {}
    try:
        for concurrency in CONCURRENCY:
            measured = await c.measure_interleaved(
                [(label, call) for label, _raw, call in configs], concurrency=concurrency, seconds=seconds
            )
            for label, result in measured.items():
                results[(label, concurrency)] = result
                print(
                    f"  c={concurrency:<3} {label:36s} {result.rps:9,.0f} req/s {result.cpu_us:7,.0f} us",
                    flush=True,
                )
    finally:
        for closer in closers:
            await closer()
    order = [label for label, _, _ in configs]
    raw_of = {label: raw for label, raw, _ in configs}
    print_tables(results, order, raw_of)
    return results


PAGE_CONCURRENCY = 32


async def page_configs(base: str) -> tuple[list[tuple[str, Call]], list[Callable[[], Awaitable[None]]]]:
    """(label, call) for the 10-project page, plain and gzip, per client; and the closers."""
    import aiohttp
    import httpx

    configs: list[tuple[str, Call]] = []
    closers: list[Callable[[], Awaitable[None]]] = []
    transports: list[tuple[str, Callable[[], Any]]] = [
        ("HttpcoreTransport", lambda: sdk.HttpcoreTransport(max_connections=POOL)),
        ("AiohttpTransport", lambda: sdk.transports.AiohttpTransport(max_connections=POOL)),
    ]
    if available("httpx2"):
        transports.insert(
            1, ("Httpcore2Transport", lambda: sdk.transports.Httpcore2Transport(max_connections=POOL))
        )
    if available("pyreqwest"):
        transports.append(
            ("PyreqwestTransport", lambda: sdk.transports.PyreqwestTransport(max_connections=POOL))
        )
    for label, make in transports:
        for variant, prefix in (("plain", ""), ("gzip", GZIP_PREFIX)):
            client = make_sdk_client(base + prefix, make())
            configs.append(
                (f"SDK / {label} [{variant}]", lambda client=client: client.projects.list_page(1, 10))
            )
            closers.append(client.aclose)
    headers = {"authorization": f"Bearer {c.TOKEN}", "accept": "application/json"}
    raw_httpx = httpx.AsyncClient(limits=httpx.Limits(max_connections=POOL, max_keepalive_connections=POOL))
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=POOL))
    closers += [raw_httpx.aclose, session.close]
    for variant, prefix in (("plain", ""), ("gzip", GZIP_PREFIX)):
        url = f"{base}{prefix}{PAGE_PATH}?page=1&limit=10"

        async def httpx_page(url: str = url) -> Any:
            response = await raw_httpx.get(url, headers=headers)
            response.raise_for_status()
            return response.json()

        async def aiohttp_page(url: str = url) -> Any:
            async with session.get(url, headers=headers) as response:
                response.raise_for_status()
                return json.loads(await response.read())

        configs += [(f"raw httpx [{variant}]", httpx_page), (f"raw aiohttp [{variant}]", aiohttp_page)]
    return configs, closers


async def run_pages(base: str, seconds: float) -> dict[str, c.Result]:
    configs, closers = await page_configs(base)
    try:
        results = await c.measure_interleaved(configs, concurrency=PAGE_CONCURRENCY, seconds=seconds)
    finally:
        for closer in closers:
            await closer()
    print(
        f"\n== a page of 10 projects at concurrency {PAGE_CONCURRENCY}: plain, and gzip-encoded by nginx =="
    )
    rows = []
    for label in dict.fromkeys(name.rsplit(" [", 1)[0] for name, _ in configs):
        plain, gz = results[f"{label} [plain]"], results[f"{label} [gzip]"]
        rows.append(
            [
                label,
                f"{plain.rps:,.0f}",
                f"{plain.cpu_us:,.0f}",
                f"{gz.rps:,.0f}",
                f"{gz.cpu_us:,.0f}",
                c.fmt_ratio(gz.cpu_us, plain.cpu_us),
                str(plain.errors + gz.errors),
            ]
        )
    c.print_table(
        ["client", "plain req/s", "plain CPU us", "gzip req/s", "gzip CPU us", "gzip/plain CPU", "errors"],
        rows,
    )
    return results


def print_tables(
    results: dict[tuple[str, int], c.Result], order: list[str], raw_of: dict[str, str | None]
) -> None:
    for concurrency in CONCURRENCY:
        print(f"\n== concurrency {concurrency} ==")
        rows = []
        for label in order:
            r = results[(label, concurrency)]
            raw_label = raw_of[label]
            raw = results.get((raw_label, concurrency)) if raw_label else None
            rows.append(
                [
                    label,
                    f"{r.rps:,.0f}",
                    f"{r.cpu_us:,.0f}",
                    raw_label or "",
                    f"{raw.rps:,.0f}" if raw else "",
                    c.fmt_ratio(r.rps, raw.rps) if raw else "",
                    f"{raw.cpu_us:,.0f}" if raw else "",
                    c.fmt_ratio(r.cpu_us, raw.cpu_us) if raw else "",
                    str(r.errors),
                ]
            )
        c.print_table(
            [
                "client",
                "req/s",
                "CPU us/req",
                "vs raw",
                "raw req/s",
                "req/s ratio",
                "raw CPU us",
                "CPU ratio",
                "errors",
            ],
            rows,
        )
    for concurrency in CONCURRENCY:
        ours = results.get(("SDK / HttpcoreTransport", concurrency))
        raw = results.get(("raw httpx", concurrency))
        if ours and raw:
            print(
                f"HttpcoreTransport (the default) at {concurrency}: {ours.cpu_us:,.0f} us CPU per request, raw httpx "
                f"{raw.cpu_us:,.0f} -> {'MET' if ours.cpu_us <= raw.cpu_us else 'NOT MET'} (target: no more than raw httpx)"
            )
    for concurrency in (32, 256):
        ours = results.get(("SDK / AiohttpTransport", concurrency))
        raw = results.get(("raw aiohttp", concurrency))
        if ours and raw and raw.rps:
            share = ours.rps / raw.rps
            print(
                f"SDK over aiohttp at {concurrency}: {share:.0%} of raw aiohttp's req/s "
                f"-> {'MET' if share >= 0.75 else 'NOT MET'} (target >= 75%)"
            )
        stack = results.get(("today: authlib+aiolimiter+tenacity", concurrency))
        if ours and stack and stack.rps:
            print(f"  ... and {ours.rps / stack.rps:.1f}x the req/s of today's stack at {concurrency}")


def with_options_cost(n: int = 100_000) -> tuple[float, float, bool]:
    """(us per with_options(auth=...), us per with_options(auth=..., headers=...), shares pool)."""

    async def main() -> tuple[float, float, bool]:
        transport = sdk.HttpcoreTransport()
        async with sdk.AsyncClient(
            "https://api.example.com", auth=sdk.BearerToken("a"), transport=transport
        ) as client:
            user_auth = sdk.BearerToken("user-token")
            extra = {"x-tenant": "t1"}
            for _ in range(1000):
                client.with_options(auth=user_auth)
            t0 = time.perf_counter()
            for _ in range(n):
                client.with_options(auth=user_auth)
            t1 = time.perf_counter()
            for _ in range(n):
                client.with_options(auth=user_auth, headers=extra)
            t2 = time.perf_counter()
            views = [client.with_options(auth=sdk.BearerToken(f"u{i}")) for i in range(50)]
            shared = all(v.transport is transport and v._shared is client._shared for v in views)
            return (t1 - t0) / n * 1e6, (t2 - t1) / n * 1e6, shared

    return asyncio.run(main())


async def views_share_one_pool(base: str) -> tuple[int, int]:
    """Connections open after 64 concurrent calls from 64 views: (through views, pool size)."""
    transport = sdk.HttpcoreTransport(max_connections=8)
    client = make_sdk_client(base, transport)
    async with client:
        views = [client.with_options(auth=sdk.BearerToken(f"user-{i}")) for i in range(64)]
        await asyncio.gather(*(v.projects.get(1) for v in views))
        open_conns, _ = transport.pool_status()
    return open_conns, 8


def plot(results: dict[tuple[str, int], c.Result], path: Path) -> str:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "plot skipped: matplotlib is not installed (pip install matplotlib)"
    labels = list(dict.fromkeys(label for label, _ in results))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 6))
    width = 0.8 / len(CONCURRENCY)
    for i, concurrency in enumerate(CONCURRENCY):
        xs = [j + i * width for j in range(len(labels))]
        ax1.barh(
            xs,
            [results[(label, concurrency)].rps for label in labels],
            height=width,
            label=f"concurrency {concurrency}",
        )
        ax2.barh(
            xs,
            [results[(label, concurrency)].cpu_us for label in labels],
            height=width,
            label=f"concurrency {concurrency}",
        )
    ticks = [j + width * (len(CONCURRENCY) - 1) / 2 for j in range(len(labels))]
    for ax in (ax1, ax2):
        ax.set_yticks(ticks)
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    ax1.set_yticklabels(labels, fontsize=9)
    ax2.set_yticklabels([])
    ax1.set_xlabel("requests per second (higher is better)")
    ax2.set_xlabel("process CPU microseconds per request (log scale, lower is better)")
    ax2.set_xscale("log")
    fig.suptitle(
        f"GET + JSON decode against nginx on loopback ({c.machine_note()}; client and nginx on separate cores)",
        fontsize=10,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return f"plot saved to {path.relative_to(ROOT)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs (noisier)")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per measurement")
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "transports.png")
    args = parser.parse_args()
    seconds = args.seconds or (0.9 if args.quick else 2.1)

    print(f"machine: {c.machine_note()}; {c.pin_client()}; nginx pinned to CPU {c.SERVER_CPU}")
    print(
        f"each figure: the median of 3 interleaved runs of {seconds / 3:.1f} s (each after a 0.3 s warm-up)\n"
    )
    page = json.dumps(PAGE, separators=(",", ":")).encode()
    with c.running_nginx(files={"page.json": page}, extra=_NGINX_PAGE) as base:
        results = asyncio.run(run_all(base, seconds))
        asyncio.run(run_pages(base, seconds))
        open_conns, pool = asyncio.run(views_share_one_pool(base))

    per_view, per_view_headers, shared = with_options_cost()
    print("\n== with_options ==")
    print(
        f"client.with_options(auth=...): {per_view:.2f} us; with headers too: {per_view_headers:.2f} us "
        f"-> {'MET' if max(per_view, per_view_headers) < 20 else 'NOT MET'} (target < 20 us)"
    )
    print(f"50 views share the client's transport and state: {shared}")
    print(f"64 concurrent calls from 64 views opened {open_conns} connections on a pool of {pool}: one pool")
    if not args.no_plot:
        print(plot(results, args.plot))


if __name__ == "__main__":
    main()
