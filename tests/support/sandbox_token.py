"""A sandbox access token fetched by hand, for tests about something other than auth.

A plain `client_credentials` POST to the token URL, then a fixed `BearerToken`: the client under
test runs no OAuth strategy of its own, so it never calls the token endpoint mid-test and the
sandbox's counters hold only the requests the test is about.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from asyncapi_client import AsyncClient, BearerToken, RetryPolicy

if TYPE_CHECKING:
    from asyncapi_sandbox import Sandbox


async def token_reply(sb: Sandbox, http: httpx.AsyncClient | None = None) -> dict[str, Any]:
    """The token endpoint's JSON reply for the sandbox's demo client (sent with `http` if given)."""
    if http is None:
        async with httpx.AsyncClient(trust_env=False, timeout=10) as own:
            return await token_reply(sb, own)
    reply = await http.post(
        sb.token_url, data={"grant_type": "client_credentials"}, auth=(sb.client_id, sb.client_secret)
    )
    assert reply.status_code == 200, reply.text
    data: dict[str, Any] = reply.json()
    return data


async def auth_headers(sb: Sandbox, http: httpx.AsyncClient | None = None) -> dict[str, str]:
    """`{"Authorization": "Bearer ..."}` with a fresh access token, for plain-HTTP tests."""
    return {"Authorization": "Bearer " + (await token_reply(sb, http))["access_token"]}


async def fetch_token(sb: Sandbox) -> str:
    """An access token for the sandbox's demo client."""
    token: str = (await token_reply(sb))["access_token"]
    return token


async def bearer(sb: Sandbox) -> BearerToken:
    """A fixed-token auth for the sandbox's demo client."""
    return BearerToken(await fetch_token(sb))


async def sandbox_client(sb: Sandbox, **kwargs: Any) -> AsyncClient:
    """An `AsyncClient` on `sb` with a `bearer()` token; one attempt per call unless `retry=`
    says otherwise, so a test sees the sandbox's replies as they were."""
    kwargs.setdefault("retry", RetryPolicy(max_attempts=1))
    return AsyncClient(sb.base_url, auth=await bearer(sb), allow_insecure_http=True, **kwargs)
