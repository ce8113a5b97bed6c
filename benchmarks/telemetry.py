"""What telemetry costs per call, over MockTransport (no network): `python benchmarks/telemetry.py`.

Prints microseconds per `client.users.me()` call, the median of 5 runs of 10,000 calls, for the
plain client, `LoggingMiddleware` with its logger off and on (to a handler that drops records),
and the OpenTelemetry middleware with no tracer provider and with the SDK's (spans dropped).
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace import NoOpTracerProvider

import asyncapi_client as sdk
from asyncapi_client import LoggingMiddleware, MockTransport, Response
from asyncapi_client.integrations.otel import OpenTelemetryInstrumentation

USER = {"id": 1, "name": "Ada", "email": "ada@example.com", "created_at": "2024-01-01T00:00:00Z"}
CALLS = 10_000
RUNS = 5


class DropSpans(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class DropRecords(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        self.format(record)


async def per_call_us(**kwargs: Any) -> float:
    reply = Response.json_response(200, USER)
    client = sdk.AsyncClient(
        "https://api.example.test",
        transport=MockTransport(lambda request: reply, record=False),
        timeout=None,
        **kwargs,
    )
    results = []
    async with client:
        for _ in range(1_000):
            await client.users.me()
        for _ in range(RUNS):
            start = time.perf_counter()
            for _ in range(CALLS):
                await client.users.me()
            results.append((time.perf_counter() - start) / CALLS * 1e6)
    return statistics.median(results)


async def main() -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(DropSpans()))
    http_logger = logging.getLogger("asyncapi_client.http")
    rows: list[tuple[str, float]] = [
        ("plain client", await per_call_us()),
        ("LoggingMiddleware, logger off", await per_call_us(middleware=[LoggingMiddleware()])),
    ]
    handler = DropRecords()
    http_logger.addHandler(handler)
    http_logger.setLevel(logging.DEBUG)
    rows.append(("LoggingMiddleware, logger on (DEBUG)", await per_call_us(middleware=[LoggingMiddleware()])))
    http_logger.removeHandler(handler)
    http_logger.setLevel(logging.NOTSET)
    rows.append(
        (
            "OpenTelemetry, no provider (no-op)",
            await per_call_us(**OpenTelemetryInstrumentation(NoOpTracerProvider()).client_kwargs()),
        )
    )
    rows.append(
        (
            "OpenTelemetry, SDK provider, 2 spans/call",
            await per_call_us(**OpenTelemetryInstrumentation(provider).client_kwargs()),
        )
    )
    base = rows[0][1]
    print(f"{'configuration':44s} {'us/call':>8s} {'added':>7s}")
    for name, value in rows:
        print(f"{name:44s} {value:8.1f} {value - base:+7.1f}")


if __name__ == "__main__":
    asyncio.run(main())
