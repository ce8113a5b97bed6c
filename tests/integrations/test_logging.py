"""The `asyncapi_client` logger scrubs secrets from every record; `LoggingMiddleware` logs calls."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

import asyncapi_client as sdk
from asyncapi_client import LoggingMiddleware, RedactingFilter, Request, Response
from tests.support.mock_client import mock_client
from tests.support.resources import USER

SECRET = "sk-live-3f9a1c77e0"


@pytest.fixture
def sdk_debug(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG, logger="asyncapi_client")
    yield caplog


def test_filter_scrubs_message_args_and_keeps_clean_records_intact() -> None:
    redacting = RedactingFilter()
    record = logging.LogRecord(
        "asyncapi_client.auth",
        logging.INFO,
        __file__,
        1,
        "sending %s to %s",
        (f"Bearer {SECRET}", "/x"),
        None,
    )
    assert redacting.filter(record) is True
    assert SECRET not in record.getMessage()
    assert record.getMessage() == "sending Bearer *** to /x"

    clean = logging.LogRecord("asyncapi_client", logging.INFO, __file__, 1, "page %d of %d", (2, 5), None)
    assert redacting.filter(clean) is True
    assert clean.msg == "page %d of %d"  # template kept for aggregators
    assert clean.args == (2, 5)


def test_filter_scrubs_traceback_text_and_bad_arguments() -> None:
    redacting = RedactingFilter()
    try:
        raise ValueError(f'token endpoint said {{"access_token": "{SECRET}"}}')
    except ValueError:
        import sys

        exc_info = sys.exc_info()
    record = logging.LogRecord("asyncapi_client", logging.ERROR, __file__, 1, "failed", (), exc_info)
    redacting.filter(record)
    assert SECRET not in logging.Formatter().format(record)

    broken = logging.LogRecord(
        "asyncapi_client", logging.INFO, __file__, 1, "%d items", (f"secret={SECRET}",), None
    )
    redacting.filter(broken)
    assert SECRET not in broken.getMessage()


def test_records_from_child_loggers_reach_root_handlers_scrubbed(sdk_debug: pytest.LogCaptureFixture) -> None:
    # caplog's handler sits on the root logger, like logging.basicConfig's would.
    child = logging.getLogger("asyncapi_client.some.new_area")  # made after the SDK was imported
    child.debug("refreshing with client_secret=%s", SECRET)
    child.warning("payload %r", {"refresh_token": SECRET})
    try:
        raise RuntimeError(f"Authorization: Bearer {SECRET}")
    except RuntimeError:
        child.exception("call failed")
    assert len(sdk_debug.records) == 3
    assert SECRET not in sdk_debug.text
    assert "client_secret=***" in sdk_debug.text
    assert "Bearer ***" in sdk_debug.text


def test_other_loggers_are_left_alone(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    logging.getLogger("someone.else").info("password=%s", "hunter2")
    assert "password=hunter2" in caplog.text


async def test_logging_middleware_logs_each_call_without_headers_or_query(
    sdk_debug: pytest.LogCaptureFixture,
) -> None:
    ticks = iter([0.0, 0.25, 1.0, 1.5])

    def handler(request: Request) -> Response:
        if request.url.endswith("/users/me"):
            return Response.json_response(200, USER, headers={"x-request-id": "rid-7"})
        return Response.json_response(404, {"error": {"code": "NOT_FOUND", "message": "nope"}})

    client, _ = mock_client(
        handler,
        auth=sdk.BearerToken(SECRET),
        middleware=[LoggingMiddleware(clock=lambda: next(ticks))],
    )
    async with client:
        await client.users.me()
        with pytest.raises(sdk.NotFoundError):
            await client.request("GET", "/api/v1/projects", params={"page": 3, "access_token": SECRET})
    lines = [r.getMessage() for r in sdk_debug.records if r.name == "asyncapi_client.http"]
    assert lines == [
        "GET /api/v1/users/me -> 200 in 250.0 ms (request id rid-7)",
        "GET /api/v1/projects -> 404 in 500.0 ms",
    ]
    assert all(r.levelno == logging.DEBUG for r in sdk_debug.records if r.name == "asyncapi_client.http")
    assert SECRET not in sdk_debug.text
    assert "page=" not in sdk_debug.text


async def test_logging_middleware_masks_headers_and_logs_failures_and_attempts(
    sdk_debug: pytest.LogCaptureFixture,
) -> None:
    def handler(request: Request) -> Response:
        raise sdk.APIConnectionError("connection refused", request=request, request_sent=False)

    client, _ = mock_client(
        handler,
        auth=sdk.BearerToken(SECRET),
        attempt_middleware=[LoggingMiddleware(include_headers=True)],
        retry=sdk.RetryPolicy(max_attempts=2, backoff_base=0.0, backoff_max=0.0),
    )
    async with client:
        with pytest.raises(sdk.APIConnectionError):
            await client.users.me()
    lines = [r.getMessage() for r in sdk_debug.records if r.name == "asyncapi_client.http"]
    failures = [line for line in lines if "failed" in line]
    assert [line.split(" failed")[0] for line in failures] == [
        "GET /api/v1/users/me attempt 1",
        "GET /api/v1/users/me attempt 2",
    ]
    assert all("APIConnectionError: connection refused" in line for line in failures)
    header_lines = [line for line in lines if "request headers" in line]
    assert len(header_lines) == 2
    # In the attempt slot the middleware runs before auth, so it never even sees the token;
    # it would be masked anyway:
    assert SECRET not in sdk_debug.text


async def test_logging_middleware_masks_authorization_when_it_sees_one(
    sdk_debug: pytest.LogCaptureFixture,
) -> None:
    client, transport = mock_client(
        lambda request: Response.json_response(200, USER),
        middleware=[LoggingMiddleware(include_headers=True)],
        headers={"Authorization": f"Bearer {SECRET}", "X-Tenant": "t1"},
    )
    async with client:
        await client.users.me()
    assert transport.requests[0].headers["authorization"] == f"Bearer {SECRET}"
    assert "'authorization': '***'" in sdk_debug.text
    assert "'x-tenant': 't1'" in sdk_debug.text
    assert SECRET not in sdk_debug.text


async def test_logging_middleware_is_silent_when_the_logger_is_off(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="asyncapi_client")
    calls = 0

    def clock() -> float:
        nonlocal calls
        calls += 1
        return 0.0

    client, _ = mock_client(
        lambda request: Response.json_response(200, USER), middleware=[LoggingMiddleware(clock=clock)]
    )
    async with client:
        await client.users.me()
    assert not [r for r in caplog.records if r.name == "asyncapi_client.http"]
    assert calls == 0  # not even timed


async def test_logging_middleware_scrubs_failures_on_a_logger_outside_the_tree(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="myapp.sdk")

    def handler(request: Request) -> Response:
        raise sdk.APIConnectionError(f"proxy said: Authorization: Bearer {SECRET}", request_sent=False)

    client, _ = mock_client(
        handler,
        middleware=[LoggingMiddleware(logger=logging.getLogger("myapp.sdk"), level=logging.INFO)],
        retry=sdk.RetryPolicy(max_attempts=1),
    )
    async with client:
        with pytest.raises(sdk.APIConnectionError):
            await client.users.me()
    (record,) = [r for r in caplog.records if r.name == "myapp.sdk"]
    assert record.levelno == logging.INFO
    assert "GET /api/v1/users/me failed after" in record.getMessage()
    assert "Bearer ***" in record.getMessage()
    assert SECRET not in caplog.text
