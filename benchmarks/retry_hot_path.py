"""What the retry layer costs when the first attempt succeeds (the hot path).

    python benchmarks/retry_hot_path.py

Times `RetryMiddleware.__call__` around a `call_next` that returns a ready 200 at once, against
calling that `call_next` directly, for a GET and for a POST (which gets an Idempotency-Key);
then a whole `client.send()` through the pipeline with a `MockTransport`, for scale. Best of 7
runs of 20,000 calls each, on the system clock.
"""

from __future__ import annotations

import time

import anyio

from asyncapi_client import AsyncClient, MockTransport, Request, Response, RetryPolicy
from asyncapi_client._clock import SYSTEM_CLOCK
from asyncapi_client._retry import RetryMiddleware
from asyncapi_client._stats import ClientStats

N = 20_000
RUNS = 7


async def main() -> None:
    ok = Response(200, {"content-type": "application/json"}, b"{}")

    async def call_next(request: Request) -> Response:
        return ok

    middleware = RetryMiddleware(RetryPolicy(), clock=SYSTEM_CLOCK, stats=ClientStats())
    client = AsyncClient("https://api.example.com", transport=MockTransport(lambda r: ok, record=False))

    def build(method: str) -> Request:
        return client.build_request(method, "/api/v1/users", json_body={} if method == "POST" else None)

    async def bare(request: Request) -> None:
        for _ in range(N):
            await call_next(request)

    async def wrapped(request: Request) -> None:
        for _ in range(N):
            await middleware(request, call_next)

    async def whole(request: Request) -> None:
        for _ in range(N):
            await client.send(request)

    async def best(fn: object, request: Request) -> float:
        times = []
        for _ in range(RUNS):
            start = time.perf_counter()
            await fn(request)  # type: ignore[operator]
            times.append((time.perf_counter() - start) / N * 1e6)
        return min(times)

    for method in ("GET", "POST"):
        request = build(method)
        base = await best(bare, request)
        layer = await best(wrapped, request)
        full = await best(whole, request)
        print(
            f"{method:4}: retry layer {layer - base:5.2f} us per call "
            f"(call_next alone {base:.2f} us); whole client.send via MockTransport {full:.2f} us"
        )
    await client.aclose()


if __name__ == "__main__":
    anyio.run(main)
