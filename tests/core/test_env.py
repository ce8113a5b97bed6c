"""Configuration from the environment: `AsyncClient()` reads ASYNCAPI_*; arguments win."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

import asyncapi_client as sdk
from asyncapi_client import MockTransport, Request, Response, _env
from asyncapi_client._logging import logger as sdk_logger
from asyncapi_sandbox import Sandbox

pytestmark = pytest.mark.anyio

USER = {"id": 1, "name": "Ada", "email": "ada@example.com", "created_at": "2024-01-01T00:00:00Z"}


class Recorder:
    """A MockTransport handler that answers a user and keeps each request's headers."""

    def __init__(self) -> None:
        self.requests: list[Request] = []

    def __call__(self, request: Request) -> Response:
        self.requests.append(request)
        return Response.json_response(200, USER)


@pytest.fixture
def restore_logging() -> Iterator[None]:
    level = sdk_logger.level
    handlers = list(sdk_logger.handlers)
    yield
    sdk_logger.setLevel(level)
    sdk_logger.handlers[:] = handlers


async def test_client_from_the_environment_calls_the_sandbox(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(_env.BASE_URL, sandbox.base_url)
    monkeypatch.setenv(_env.CLIENT_ID, sandbox.client_id)
    monkeypatch.setenv(_env.CLIENT_SECRET, sandbox.client_secret)
    async with sdk.AsyncClient() as client:
        assert client.base_url == sandbox.base_url
        assert isinstance(client._auth, sdk.ClientCredentials)
        me = await client.users.me()
    assert me.email == "demo-client@example.com"
    stats = await sandbox.stats()
    assert stats["token_requests"]["client_credentials"] == 1  # from BASE/oauth/token, the default


async def test_token_url_and_access_token_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_env.BASE_URL, "http://127.0.0.1:1")
    monkeypatch.setenv(_env.ACCESS_TOKEN, "env-token")
    recorder = Recorder()
    async with sdk.AsyncClient(transport=MockTransport(recorder)) as client:
        await client.users.me()
    assert recorder.requests[0].headers["authorization"] == "Bearer env-token"
    assert recorder.requests[0].url == "http://127.0.0.1:1/api/v1/users/me"

    monkeypatch.setenv(_env.CLIENT_ID, "id")
    monkeypatch.setenv(_env.CLIENT_SECRET, "s3cret")
    monkeypatch.setenv(_env.TOKEN_URL, "http://127.0.0.1:2/token")
    client = sdk.AsyncClient(transport=MockTransport(recorder))
    auth = client._auth
    assert isinstance(auth, sdk.ClientCredentials)  # client credentials win over a fixed token
    assert "token_url='http://127.0.0.1:2/token'" in repr(auth)
    assert "s3cret" not in repr(auth)
    await client.aclose()


async def test_explicit_arguments_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_env.BASE_URL, "http://127.0.0.1:1")
    monkeypatch.setenv(_env.ACCESS_TOKEN, "env-token")
    recorder = Recorder()
    async with sdk.AsyncClient(
        "http://127.0.0.1:3", auth=None, transport=MockTransport(recorder)
    ) as client:
        await client.users.me()
    async with sdk.AsyncClient(auth=sdk.BearerToken("arg-token"), transport=MockTransport(recorder)) as client:
        await client.users.me()
    first, second = recorder.requests
    assert first.url.startswith("http://127.0.0.1:3/") and "authorization" not in first.headers
    assert second.url.startswith("http://127.0.0.1:1/")
    assert second.headers["authorization"] == "Bearer arg-token"


def test_missing_or_half_configuration_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="ASYNCAPI_BASE_URL"):
        sdk.AsyncClient()
    monkeypatch.setenv(_env.BASE_URL, "   ")  # exported but blank: not set
    with pytest.raises(ValueError, match="ASYNCAPI_BASE_URL"):
        sdk.AsyncClient()
    monkeypatch.setenv(_env.BASE_URL, "http://127.0.0.1:1")
    monkeypatch.setenv(_env.CLIENT_ID, "id")
    with pytest.raises(ValueError, match="ASYNCAPI_CLIENT_SECRET is not"):
        sdk.AsyncClient()
    monkeypatch.delenv(_env.CLIENT_ID)
    monkeypatch.setenv(_env.CLIENT_SECRET, "s3cret")
    with pytest.raises(ValueError, match="ASYNCAPI_CLIENT_ID is not") as info:
        sdk.AsyncClient()
    assert "s3cret" not in str(info.value)
    monkeypatch.delenv(_env.CLIENT_SECRET)
    monkeypatch.setenv(_env.BASE_URL, "http://api.example.com")  # plain http to a remote host
    with pytest.raises(ValueError, match="plain http"):
        sdk.AsyncClient()


@pytest.mark.usefixtures("restore_logging")
async def test_asyncapi_log_turns_on_redacted_stderr_logging(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(_env.LOG, "debug")
    attempts = 0

    def flaky(request: Request) -> Response:
        nonlocal attempts
        attempts += 1
        if attempts == 1:
            return Response.json_response(503, {"error": {"code": "X", "message": "token=abc123 down"}})
        return Response.json_response(200, USER)

    policy = sdk.RetryPolicy(backoff_base=0.0, backoff_max=0.0)
    async with sdk.AsyncClient(
        "http://127.0.0.1:1",
        auth=sdk.BearerToken("tok-very-secret"),
        transport=MockTransport(flaky),
        middleware=[sdk.LoggingMiddleware()],
        retry=policy,
    ) as client:
        await client.users.me()
    err = capsys.readouterr().err
    assert "DEBUG asyncapi_client.retry: retrying GET" in err
    assert "DEBUG asyncapi_client.http: GET /api/v1/users/me -> 200" in err
    assert "tok-very-secret" not in err
    # A second client does not add a second handler: each line once.
    sdk.AsyncClient("http://127.0.0.1:1", transport=MockTransport(flaky))
    assert sum(type(h).__name__ == "_StderrHandler" for h in sdk_logger.handlers) == 1


@pytest.mark.usefixtures("restore_logging")
def test_asyncapi_log_levels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(_env.LOG, "INFO")
    sdk.AsyncClient("http://127.0.0.1:1", transport=MockTransport(Recorder()))
    assert sdk_logger.isEnabledFor(logging.INFO) and not sdk_logger.isEnabledFor(logging.DEBUG)
    monkeypatch.setenv(_env.LOG, "loud")
    with pytest.raises(ValueError, match="ASYNCAPI_LOG must be one of info, debug, got 'loud'"):
        sdk.AsyncClient("http://127.0.0.1:1")
