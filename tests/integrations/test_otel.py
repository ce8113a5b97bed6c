"""OpenTelemetry: a CLIENT span per call, an INTERNAL child span per attempt, no secrets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio
import anyio.lowlevel
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import asyncapi_client as sdk
from asyncapi_client import CallNext, Request, Response
from asyncapi_client._attempt_info import record_limiter_wait, record_token_refresh
from asyncapi_client.integrations.otel import OpenTelemetryInstrumentation, url_template
from tests.support.mock_client import mock_client
from tests.support.resources import PROJECT, USER

SECRET = "tok-9d8c7b6a5f4e3d2c1b0a"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def instrumentation(exporter: InMemorySpanExporter) -> Iterator[OpenTelemetryInstrumentation]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield OpenTelemetryInstrumentation(provider)
    provider.shutdown()


def attrs_of(span: ReadableSpan) -> dict[str, Any]:
    return dict(span.attributes or {})


def split(spans: tuple[ReadableSpan, ...]) -> tuple[list[ReadableSpan], list[ReadableSpan]]:
    calls = [s for s in spans if s.kind is SpanKind.CLIENT]
    attempts = sorted(
        (s for s in spans if s.kind is SpanKind.INTERNAL),
        key=lambda s: int(attrs_of(s)["asyncapi_client.attempt"]),
    )
    return calls, attempts


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/api/v1/projects/42", "/api/v1/projects/{id}"),
        ("/api/v1/webhooks/7/test", "/api/v1/webhooks/{id}/test"),
        ("/api/v1/users/me", "/api/v1/users/me"),
        ("/api/v1/items/3f2b1c4e-9a8b-4c7d-8e6f-5a4b3c2d1e0f", "/api/v1/items/{id}"),
        ("/api/v1/objects/5f2b1c4e9a8b4c7d8e6f", "/api/v1/objects/{id}"),
        ("/api/v1/orders/ord_2Nf8xQk3LmP9vR7tY1wZ", "/api/v1/orders/{id}"),
        ("/api/v2/users", "/api/v2/users"),
        ("", "/"),
    ],
)
def test_url_template_replaces_ids(path: str, template: str) -> None:
    assert url_template(path) == template


async def test_span_per_call_and_attempt_with_parent_child_and_attributes(
    instrumentation: OpenTelemetryInstrumentation, exporter: InMemorySpanExporter
) -> None:
    client, transport = mock_client(
        lambda r: Response.json_response(200, PROJECT, headers={"x-request-id": "rid-1"}),
        auth=sdk.BearerToken(SECRET),
        **instrumentation.client_kwargs(),
    )
    async with client:
        await client.projects.get(42)
    calls, attempts = split(exporter.get_finished_spans())
    assert len(calls) == 1 and len(attempts) == 1
    call, attempt = calls[0], attempts[0]
    assert call.name == "GET /api/v1/projects/{id}"
    assert attempt.name == "GET /api/v1/projects/{id} attempt"
    assert attempt.parent is not None and attempt.parent.span_id == call.context.span_id
    assert attempt.context.trace_id == call.context.trace_id
    assert dict(call.attributes or {}) == {
        "http.request.method": "GET",
        "url.template": "/api/v1/projects/{id}",
        "url.full": "https://api.example.test/api/v1/projects/42",
        "url.scheme": "https",
        "server.address": "api.example.test",
        "server.port": 443,
        "http.response.status_code": 200,
        "asyncapi_client.attempts": 1,
        "asyncapi_client.retries": 0,
        "asyncapi_client.request_id": "rid-1",
    }
    assert call.status.status_code is StatusCode.UNSET
    assert attempt.attributes is not None
    assert attempt.attributes["asyncapi_client.attempt"] == 1
    assert attempt.attributes["http.response.status_code"] == 200
    assert attempt.attributes["asyncapi_client.limiter.wait_seconds"] == 0.0
    assert attempt.attributes["asyncapi_client.auth.token_refreshes"] == 0
    assert "http.request.resend_count" not in attempt.attributes
    # The trace context travels to the server from the attempt span.
    traceparent = transport.requests[0].headers["traceparent"]
    assert traceparent.startswith(f"00-{attempt.context.trace_id:032x}-{attempt.context.span_id:016x}-")


async def test_retries_make_one_span_per_attempt_and_errors_set_status(
    instrumentation: OpenTelemetryInstrumentation, exporter: InMemorySpanExporter
) -> None:
    statuses = [503, 502, 404]

    def handler(request: Request) -> Response:
        status = statuses.pop(0)
        return Response.json_response(status, {"error": {"code": "X", "message": "no"}})

    client, _ = mock_client(handler, **instrumentation.client_kwargs())
    async with client:
        with pytest.raises(sdk.NotFoundError):
            await client.projects.get(7)
    calls, attempts = split(exporter.get_finished_spans())
    assert len(calls) == 1
    call = calls[0]
    assert [a.attributes["http.response.status_code"] for a in attempts] == [503, 502, 404]  # type: ignore[index]
    assert [a.attributes.get("http.request.resend_count") for a in attempts] == [None, 1, 2]  # type: ignore[union-attr]
    assert all(a.status.status_code is StatusCode.ERROR for a in attempts)
    assert all(a.parent is not None and a.parent.span_id == call.context.span_id for a in attempts)
    assert call.attributes is not None
    assert call.attributes["asyncapi_client.attempts"] == 3
    assert call.attributes["asyncapi_client.retries"] == 2
    assert call.attributes["http.response.status_code"] == 404
    assert call.attributes["error.type"] == "404"
    assert call.status.status_code is StatusCode.ERROR


async def test_exceptions_are_recorded_redacted_and_no_secret_reaches_any_span(
    instrumentation: OpenTelemetryInstrumentation, exporter: InMemorySpanExporter
) -> None:
    def handler(request: Request) -> Response:
        # A transport error that (badly) quotes the request's credentials.
        raise sdk.APIConnectionError(
            f"proxy refused {request.headers['authorization']} with access_token={SECRET}",
            request=request,
            request_sent=False,
        )

    client, transport = mock_client(
        handler,
        auth=sdk.BearerToken(SECRET),
        retry=sdk.RetryPolicy(max_attempts=2, backoff_base=0.0, backoff_max=0.0),
        **instrumentation.client_kwargs(),
    )
    async with client:
        with pytest.raises(sdk.APIConnectionError):
            await client.request("GET", "/api/v1/users/me", params={"access_token": SECRET})
    assert transport.requests[0].headers["authorization"] == f"Bearer {SECRET}"  # it was sent...
    spans = exporter.get_finished_spans()
    calls, attempts = split(spans)
    assert len(calls) == 1 and len(attempts) == 2
    for span in spans:
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes is not None
        assert span.attributes["error.type"] == "asyncapi_client.APIConnectionError"
        assert "http.response.status_code" not in span.attributes
        events = [e for e in span.events if e.name == "exception"]
        assert len(events) == 1
        assert events[0].attributes is not None
        assert events[0].attributes["exception.type"] == "asyncapi_client.APIConnectionError"
        assert "Bearer ***" in str(events[0].attributes["exception.message"])
    # ...but appears in no span name, attribute, event or status.
    dumped = repr(
        [(s.name, s.attributes, [(e.name, e.attributes) for e in s.events], s.status) for s in spans]
    )
    assert SECRET not in dumped
    assert "access_token" not in str(calls[0].attributes)


class FakeLayers:
    """Stands in for the limiter and auth layers: reports a wait and a refresh per attempt."""

    def __init__(self, waits: dict[str, float]) -> None:
        self.waits = waits

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        path = request.url.rsplit("/", 1)[1]
        # Interleave the two concurrent calls, so a counter diff would mix them up.
        await anyio.lowlevel.checkpoint()
        record_limiter_wait(self.waits[path])
        await anyio.lowlevel.checkpoint()
        if path == "me":
            record_token_refresh()
        return await call_next(request)


async def test_limiter_wait_and_token_refresh_are_per_attempt_under_concurrency(
    instrumentation: OpenTelemetryInstrumentation, exporter: InMemorySpanExporter
) -> None:
    kwargs = instrumentation.client_kwargs()
    kwargs["attempt_middleware"] = [*kwargs["attempt_middleware"], FakeLayers({"me": 0.25, "42": 1.5})]

    def handler(request: Request) -> Response:
        return Response.json_response(200, USER if request.url.endswith("/me") else PROJECT)

    client, _ = mock_client(handler, **kwargs)
    async with client, anyio.create_task_group() as tg:
        tg.start_soon(client.users.me)
        tg.start_soon(client.projects.get, 42)
    _, attempts = split(exporter.get_finished_spans())
    by_route = {attrs_of(a)["url.template"]: attrs_of(a) for a in attempts}
    assert by_route["/api/v1/users/me"]["asyncapi_client.limiter.wait_seconds"] == 0.25
    assert by_route["/api/v1/users/me"]["asyncapi_client.auth.token_refreshes"] == 1
    assert by_route["/api/v1/projects/{id}"]["asyncapi_client.limiter.wait_seconds"] == 1.5
    assert by_route["/api/v1/projects/{id}"]["asyncapi_client.auth.token_refreshes"] == 0


async def test_views_share_the_instrumentation_and_propagation_can_be_off(
    exporter: InMemorySpanExporter,
) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentation = OpenTelemetryInstrumentation(provider, propagate=False)
    client, transport = mock_client(
        lambda r: Response.json_response(200, USER), **instrumentation.client_kwargs()
    )
    async with client:
        await client.with_options(auth=sdk.BearerToken("user-token")).users.me()
    assert len(exporter.get_finished_spans()) == 2
    assert "traceparent" not in transport.requests[0].headers
    provider.shutdown()


async def test_call_span_alone_still_records_the_call(exporter: InMemorySpanExporter) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentation = OpenTelemetryInstrumentation(provider)
    client, transport = mock_client(
        lambda r: Response.json_response(200, USER), middleware=[instrumentation.call_middleware]
    )
    async with client:
        await client.users.me()
    (span,) = exporter.get_finished_spans()
    assert span.kind is SpanKind.CLIENT
    assert span.attributes is not None
    assert span.attributes["http.response.status_code"] == 200
    assert "asyncapi_client.attempts" not in span.attributes  # unknown without the attempt spans
    assert transport.requests[0].headers["traceparent"].split("-")[2] == f"{span.context.span_id:016x}"
    provider.shutdown()


def test_spans_and_attempt_info_on_trio(
    instrumentation: OpenTelemetryInstrumentation, exporter: InMemorySpanExporter
) -> None:
    """Context variables are per task on trio too: concurrent calls keep their own numbers."""
    import trio

    kwargs = instrumentation.client_kwargs()
    kwargs["attempt_middleware"] = [*kwargs["attempt_middleware"], FakeLayers({"me": 0.5, "42": 2.0})]

    async def main() -> None:
        client, _ = mock_client(
            lambda r: Response.json_response(200, USER if r.url.endswith("/me") else PROJECT), **kwargs
        )
        async with client, trio.open_nursery() as nursery:
            nursery.start_soon(client.users.me)
            nursery.start_soon(client.projects.get, 42)

    trio.run(main)
    calls, attempts = split(exporter.get_finished_spans())
    assert len(calls) == 2 and len(attempts) == 2
    waits = {
        attrs_of(a)["url.template"]: attrs_of(a)["asyncapi_client.limiter.wait_seconds"] for a in attempts
    }
    assert waits == {"/api/v1/users/me": 0.5, "/api/v1/projects/{id}": 2.0}
    parents = {a.parent.span_id for a in attempts if a.parent is not None}
    assert parents == {c.context.span_id for c in calls}


async def test_without_a_tracer_provider_the_middleware_steps_aside_but_passes_context_on() -> None:
    from opentelemetry import context as otel_context
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, NoOpTracerProvider, SpanContext, TraceFlags

    instrumentation = OpenTelemetryInstrumentation(NoOpTracerProvider())
    client, transport = mock_client(
        lambda r: Response.json_response(200, USER), **instrumentation.client_kwargs()
    )
    async with client:
        await client.users.me()
        assert "traceparent" not in transport.requests[-1].headers
        # An incoming request's context (extracted by a server framework) still flows on.
        parent = SpanContext(
            trace_id=0x0AF7651916CD43DD8448EB211C80319C,
            span_id=0xB7AD6B7169203331,
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
        token = otel_context.attach(trace.set_span_in_context(NonRecordingSpan(parent)))
        try:
            await client.users.me()
        finally:
            otel_context.detach(token)
    assert transport.requests[-1].headers["traceparent"] == (
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    )
