"""The default client against a real third-party limiter: Debian's nginx `limit_req` (50 r/s,
burst 10, nodelay, no rate-limit headers at all) in front of the sandbox, whose tokens live 4 s.
nginx answers 429 with its own HTML page, or with `Retry-After: 1` and the JSON error envelope.

Counts only (a loaded machine moves the rate; the rate is benchmarks/ratelimit.py's figure):
every call succeeds, at most 10% of the requests sent are answered 429, no 401 reaches a
caller and a token is fetched about once per lifetime."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest

from asyncapi_client import AsyncClient, ClientCredentials
from asyncapi_sandbox import Sandbox
from tests.support.counting_transport import CountingTransport
from tests.support.nginx_limit_req import LIMIT_ZONE, limit_req_server
from tests.support.services import running_nginx

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(token_ttl=4, isolated=True) as sb:
        yield sb


@pytest.mark.parametrize("style", ["html", "json"])
async def test_default_client_behind_nginx_limit_req(sandbox: Sandbox, style: str) -> None:
    upstream = int(sandbox.base_url.rsplit(":", 1)[1])
    with running_nginx(limit_req_server(upstream, style), http_block=LIMIT_ZONE) as port:
        base = f"http://127.0.0.1:{port}"
        transport = CountingTransport()
        auth = ClientCredentials(base + "/oauth/token", sandbox.client_id, sandbox.client_secret)
        n = 400
        ok = 0
        async with AsyncClient(base, auth=auth, transport=transport, allow_insecure_http=True) as client:
            calls = iter(range(n))

            async def worker() -> None:
                nonlocal ok
                for _ in calls:
                    await client.users.me()  # any error fails the test
                    ok += 1

            started = anyio.current_time()
            async with anyio.create_task_group() as tg:
                for _ in range(64):
                    tg.start_soon(worker)
            duration = anyio.current_time() - started
    sent = sum(transport.api.values())
    assert ok == n
    assert transport.api[429] <= 0.1 * sent, transport.api
    assert transport.api[401] == 0
    # One token per 4 s lifetime (the refresh starts a little ahead of expiry), plus the first.
    assert transport.token_requests <= duration / (4 * 0.9) + 1
