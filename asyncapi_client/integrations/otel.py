"""OpenTelemetry tracing for `AsyncClient`: a span per call and a child span per attempt.

Needs the `otel` extra (`pip install 'asyncapi-client[otel]'`); this is the only module of the SDK
that imports `opentelemetry`.

    from asyncapi_client.integrations.otel import OpenTelemetryInstrumentation

    instrumentation = OpenTelemetryInstrumentation()          # the global tracer provider
    client = AsyncClient(base_url, auth=..., **instrumentation.client_kwargs())

What you get, per call (one service method, retries included):

    GET /api/v1/projects/{id}            kind CLIENT   the call, from the first byte to the result
      GET /api/v1/projects/{id} attempt  kind INTERNAL attempt 1: 503
      GET /api/v1/projects/{id} attempt  kind INTERNAL attempt 2: 200

Call span attributes: `http.request.method`, `url.template` (the path with ids replaced by
`{id}`), `url.full` (no query string), `server.address`, `server.port`,
`http.response.status_code`, `error.type` (the status for a 4xx/5xx, the exception class for a
failure), `asyncapi_client.attempts` and `asyncapi_client.retries`, `asyncapi_client.request_id`.
Attempt span attributes: the same request attributes, `asyncapi_client.attempt` (1, 2, ...),
`http.request.resend_count` (from the second attempt), `http.response.status_code`, `error.type`,
`asyncapi_client.limiter.wait_seconds` and `asyncapi_client.auth.token_refreshes` (reported by the
limiter and auth layers of that very attempt through `asyncapi_client._attempt_info`).

Decisions:
- The call span is the CLIENT span (what a dashboard of outbound calls should count once per
  call); attempt spans are INTERNAL children, since nested CLIENT spans are frowned upon by the
  HTTP semantic conventions and by backends that derive service maps from them.
- The W3C `traceparent` is injected into each attempt's headers from the attempt span
  (`propagate=False` turns it off), so a server span hangs under the attempt that carried it.
- 4xx and 5xx set the span status to ERROR (the convention for client spans).
- No header, body or query string ever becomes an attribute; exception events carry the
  exception's message and traceback through `redact`, so no token or secret reaches a span.
"""

from __future__ import annotations

import functools
import re
import traceback
from collections.abc import Mapping
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any, Final, TypedDict
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, TracerProvider

from .._attempt_info import begin_attempt_info, end_attempt_info
from .._pipeline import CallNext, Middleware
from .._redact import redact
from .._types import Request, Response
from .._version import __version__

__all__ = [
    "AttemptTracingMiddleware",
    "CallTracingMiddleware",
    "ClientKwargs",
    "OpenTelemetryInstrumentation",
    "url_template",
]

_ID_SEGMENT: Final = re.compile(
    r"""^(?:
        \d+                                                            # 42
      | [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}    # a UUID
      | [0-9a-f]{16,}                                                  # a long hex id
      | (?=[A-Za-z_\-]*\d)[A-Za-z0-9_\-]{20,}                          # a long opaque token
    )$""",
    re.IGNORECASE | re.VERBOSE,
)


def url_template(path: str) -> str:
    """`/api/v1/projects/42/members` -> `/api/v1/projects/{id}/members`: a low-cardinality route
    for span names and metrics. Numeric ids, UUIDs and long opaque ids become `{id}`."""
    if not path:
        return "/"
    return "/".join(
        "{id}" if segment and _ID_SEGMENT.match(segment) else segment for segment in path.split("/")
    )


class _CallState:
    __slots__ = ("attempts",)

    def __init__(self) -> None:
        self.attempts = 0


_call_state: Final[ContextVar[_CallState | None]] = ContextVar("asyncapi_client_otel_call", default=None)


@functools.lru_cache(maxsize=1024)
def _route(method: str, url: str) -> tuple[str, Mapping[str, Any]]:
    """Span name and request attributes for a URL without its query; cached, since a client
    calls the same few URLs over and over. Treat the mapping as read-only."""
    parts = urlsplit(url)
    template = url_template(parts.path)
    attributes: dict[str, Any] = {
        "http.request.method": method,
        "url.template": template,
        "url.full": f"{parts.scheme}://{parts.netloc}{parts.path}",
        "url.scheme": parts.scheme,
    }
    if parts.hostname:
        attributes["server.address"] = parts.hostname
    attributes["server.port"] = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{method} {template}", MappingProxyType(attributes)


def _error_type(exc: BaseException) -> str:
    cls = type(exc)
    module = cls.__module__
    if module == "builtins":
        return cls.__qualname__
    if module.startswith("asyncapi_client"):
        # The public path: the SDK's errors are all exported from the package.
        return f"asyncapi_client.{cls.__qualname__}"
    return f"{module}.{cls.__qualname__}"


def _record_exception(span: Span, exc: BaseException) -> None:
    error_type = _error_type(exc)
    span.set_attribute("error.type", error_type)
    message = redact(str(exc))
    span.add_event(
        "exception",
        {
            "exception.type": error_type,
            "exception.message": message,
            "exception.stacktrace": redact(
                "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            ),
        },
    )
    span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {message}"[:200]))


def _record_response(span: Span, response: Response) -> None:
    status = response.status_code
    span.set_attribute("http.response.status_code", status)
    if status >= 400:
        span.set_attribute("error.type", str(status))
        span.set_status(Status(StatusCode.ERROR))


def _inject_context(request: Request, span: Span) -> Request:
    if not span.get_span_context().is_valid:
        return request
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if not carrier:
        return request
    headers = dict(request.headers)
    headers.update(carrier)
    return request.replace(headers=headers)


# Spans are started and made current by hand rather than with `start_as_current_span`: its two
# generator-based context managers cost more than the rest of this middleware together.


class CallTracingMiddleware:
    """A CLIENT span per call. Put it in `AsyncClient(middleware=[...])`.

    With `propagate=True` it injects the trace context itself; `client_kwargs()` turns that off,
    since the attempt middleware injects the context of each attempt span instead.
    """

    __slots__ = ("_propagate", "_tracer")

    def __init__(self, tracer: trace.Tracer, *, propagate: bool = True) -> None:
        self._tracer = tracer
        self._propagate = propagate

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        name, attributes = _route(request.method, request.url.partition("?")[0])
        span = self._tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
        if not span.get_span_context().is_valid:
            # No tracer provider configured: nothing to record or propagate.
            return await call_next(request)
        context_token = otel_context.attach(trace.set_span_in_context(span))
        state = _CallState()
        state_token = _call_state.set(state)
        try:
            if self._propagate:
                request = _inject_context(request, span)
            try:
                response = await call_next(request)
            except BaseException as exc:
                if span.is_recording():
                    _set_attempts(span, state)
                    _record_exception(span, exc)
                raise
            if span.is_recording():
                _set_attempts(span, state)
                _record_response(span, response)
                request_id = response.headers.get("x-request-id")
                if request_id:
                    span.set_attribute("asyncapi_client.request_id", request_id)
            return response
        finally:
            _call_state.reset(state_token)
            otel_context.detach(context_token)
            span.end()


def _set_attempts(span: Span, state: _CallState) -> None:
    # Known only when the attempt middleware is installed too.
    if state.attempts:
        span.set_attribute("asyncapi_client.attempts", state.attempts)
        span.set_attribute("asyncapi_client.retries", state.attempts - 1)


class AttemptTracingMiddleware:
    """An INTERNAL child span per attempt. Put it in `AsyncClient(attempt_middleware=[...])`."""

    __slots__ = ("_propagate", "_tracer")

    def __init__(self, tracer: trace.Tracer, *, propagate: bool = True) -> None:
        self._tracer = tracer
        self._propagate = propagate

    async def __call__(self, request: Request, call_next: CallNext) -> Response:
        state = _call_state.get()
        if state is not None:
            state.attempts += 1
        attempt = request.extensions.get("attempt")
        if not isinstance(attempt, int) or isinstance(attempt, bool):
            attempt = state.attempts if state is not None else 1
        name, route_attributes = _route(request.method, request.url.partition("?")[0])
        attributes = dict(route_attributes)
        attributes["asyncapi_client.attempt"] = attempt
        if attempt > 1:
            attributes["http.request.resend_count"] = attempt - 1
        span = self._tracer.start_span(name + " attempt", kind=SpanKind.INTERNAL, attributes=attributes)
        if not span.get_span_context().is_valid:
            return await call_next(request)
        context_token = otel_context.attach(trace.set_span_in_context(span))
        info, info_token = begin_attempt_info()
        try:
            if self._propagate:
                request = _inject_context(request, span)
            try:
                response = await call_next(request)
            except BaseException as exc:
                if span.is_recording():
                    _record_exception(span, exc)
                raise
            if span.is_recording():
                _record_response(span, response)
            return response
        finally:
            end_attempt_info(info_token)
            otel_context.detach(context_token)
            if span.is_recording():
                span.set_attribute("asyncapi_client.limiter.wait_seconds", info.limiter_wait_seconds)
                span.set_attribute("asyncapi_client.auth.token_refreshes", info.token_refreshes)
            span.end()


class ClientKwargs(TypedDict):
    """What `client_kwargs()` returns; a TypedDict so that `AsyncClient(..., **kwargs)`
    type-checks beside other keyword arguments."""

    middleware: list[Middleware]
    attempt_middleware: list[Middleware]


class OpenTelemetryInstrumentation:
    """Tracing for one or more clients: `AsyncClient(..., **instrumentation.client_kwargs())`.

    `tracer_provider` defaults to the global one (`opentelemetry.trace.set_tracer_provider`,
    looked up when a span starts, so setting it after this object is made works).
    `propagate` injects the W3C trace context (`traceparent`) into each attempt's headers.
    `call_middleware` alone (without the attempt spans) injects the call span's context.
    """

    def __init__(self, tracer_provider: TracerProvider | None = None, *, propagate: bool = True) -> None:
        self.tracer = trace.get_tracer("asyncapi_client", __version__, tracer_provider=tracer_provider)
        self.call_middleware = CallTracingMiddleware(self.tracer, propagate=propagate)
        self.attempt_middleware = AttemptTracingMiddleware(self.tracer, propagate=propagate)
        self._paired_call_middleware = CallTracingMiddleware(self.tracer, propagate=False)

    def client_kwargs(self) -> ClientKwargs:
        """`{"middleware": [...], "attempt_middleware": [...]}` for `AsyncClient(...)`. To combine
        with middleware of your own, put these outermost in each list."""
        return ClientKwargs(
            middleware=[self._paired_call_middleware],
            attempt_middleware=[self.attempt_middleware],
        )

    def __repr__(self) -> str:
        return "OpenTelemetryInstrumentation()"
