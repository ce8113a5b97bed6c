"""OpenTelemetry over real HTTP: the sandbox answers some attempts with 5xx; every attempt the
server saw has its span, under the right call span."""

from __future__ import annotations

from typing import Any

import anyio
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

import asyncapi_client as sdk
from asyncapi_client.integrations.otel import OpenTelemetryInstrumentation
from asyncapi_sandbox import Sandbox


def attrs_of(span: Any) -> dict[str, Any]:
    return dict(span.attributes or {})


async def test_spans_match_what_the_server_saw_under_faults() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentation = OpenTelemetryInstrumentation(provider)
    async with Sandbox(fail_rate=0.3, seed=7) as sb:
        async with (
            sdk.AsyncClient(
                sb.base_url,
                auth=sdk.ClientCredentials(sb.token_url, sb.client_id, sb.client_secret),
                retry=sdk.RetryPolicy(max_attempts=8, backoff_base=0.001, backoff_max=0.01, budget=None),
                **instrumentation.client_kwargs(),
            ) as client,
            anyio.create_task_group() as tg,
        ):
            for project_id in range(1, 21):
                tg.start_soon(client.projects.get, project_id)
        server = await sb.stats()
    provider.shutdown()

    spans = exporter.get_finished_spans()
    calls = [s for s in spans if s.kind is SpanKind.CLIENT]
    attempts = [s for s in spans if s.kind is SpanKind.INTERNAL]
    assert len(calls) == 20
    api_replies = {int(k): v for k, v in server["responses_by_status"].items()}
    # Every /api/v1 reply has its attempt span; the token request (counted by the server among
    # its replies) is no API call, and has none.
    token_replies = sum(server["token_requests"].values())
    assert token_replies == 1
    assert api_replies[200] == 20 + token_replies
    assert len(attempts) == sum(api_replies.values()) - token_replies, api_replies
    assert sum(v for k, v in api_replies.items() if k >= 500) > 0, "the sandbox injected no fault"
    by_call: dict[int, list[Any]] = {}
    for attempt in attempts:
        assert attempt.parent is not None
        by_call.setdefault(attempt.parent.span_id, []).append(attempt)
    for call in calls:
        children = sorted(by_call[call.context.span_id], key=lambda s: attrs_of(s)["asyncapi_client.attempt"])
        statuses = [attrs_of(s)["http.response.status_code"] for s in children]
        assert statuses[-1] == 200 and all(status >= 500 for status in statuses[:-1])
        assert [attrs_of(s)["asyncapi_client.attempt"] for s in children] == list(range(1, len(children) + 1))
        assert attrs_of(call)["asyncapi_client.attempts"] == len(children)
        assert attrs_of(call)["url.template"] == "/api/v1/projects/{id}"
        assert call.status.status_code is StatusCode.UNSET
        assert all(s.status.status_code is StatusCode.ERROR for s in children[:-1])
