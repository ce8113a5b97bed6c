"""The token endpoint (RFC 6749) and bearer authentication of /api/v1."""

from __future__ import annotations

import httpx
import pytest

from asyncapi_sandbox import Sandbox
from tests.support.sandbox_time import SandboxTime
from tests.support.sandbox_token import auth_headers, token_reply

# On asyncio and on trio (the anyio_backend fixture in conftest.py).
pytestmark = pytest.mark.anyio


async def test_client_credentials_by_basic_auth(sb: Sandbox, http: httpx.AsyncClient) -> None:
    reply = await http.post(
        sb.token_url, data={"grant_type": "client_credentials"}, auth=(sb.client_id, sb.client_secret)
    )
    assert reply.status_code == 200
    body = reply.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["access_token"] and body["refresh_token"]
    assert reply.headers["cache-control"] == "no-store"
    assert reply.headers["x-request-id"]


async def test_client_credentials_by_form_fields_and_scope(sb: Sandbox, http: httpx.AsyncClient) -> None:
    reply = await http.post(
        sb.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": sb.client_id,
            "client_secret": sb.client_secret,
            "scope": "users projects",
        },
    )
    assert reply.status_code == 200
    assert reply.json()["scope"] == "users projects"


async def test_token_errors_follow_rfc6749(sb: Sandbox, http: httpx.AsyncClient) -> None:
    creds = (sb.client_id, sb.client_secret)
    wrong = await http.post(
        sb.token_url, data={"grant_type": "client_credentials"}, auth=(sb.client_id, "nope")
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    assert wrong.headers["www-authenticate"].startswith("Basic")
    anonymous = await http.post(sb.token_url, data={"grant_type": "client_credentials"})
    assert (anonymous.status_code, anonymous.json()["error"]) == (401, "invalid_client")
    both = await http.post(
        sb.token_url,
        data={
            "grant_type": "client_credentials",
            "client_id": sb.client_id,
            "client_secret": sb.client_secret,
        },
        auth=creds,
    )
    assert (both.status_code, both.json()["error"]) == (400, "invalid_request")
    missing = await http.post(sb.token_url, data={}, auth=creds)
    assert (missing.status_code, missing.json()["error"]) == (400, "invalid_request")
    unsupported = await http.post(sb.token_url, data={"grant_type": "password"}, auth=creds)
    assert (unsupported.status_code, unsupported.json()["error"]) == (400, "unsupported_grant_type")
    as_json = await http.post(sb.token_url, json={"grant_type": "client_credentials"}, auth=creds)
    assert (as_json.status_code, as_json.json()["error"]) == (400, "invalid_request")
    bad_refresh = await http.post(
        sb.token_url, data={"grant_type": "refresh_token", "refresh_token": "x"}, auth=creds
    )
    assert (bad_refresh.status_code, bad_refresh.json()["error"]) == (400, "invalid_grant")
    no_refresh = await http.post(sb.token_url, data={"grant_type": "refresh_token"}, auth=creds)
    assert (no_refresh.status_code, no_refresh.json()["error"]) == (400, "invalid_request")
    get = await http.get(sb.token_url)
    assert get.status_code == 405
    for reply in (wrong, anonymous, both, missing, unsupported, as_json, bad_refresh, no_refresh):
        assert "error_description" in reply.json()
        assert reply.headers["cache-control"] == "no-store"
    stats = (await http.get(sb.base_url + "/_sandbox/stats")).json()
    assert stats["token_errors"] == 9
    assert stats["token_requests"] == {"client_credentials": 3, "refresh_token": 2, "authorization_code": 0}


async def test_refresh_tokens_rotate(sb: Sandbox, http: httpx.AsyncClient) -> None:
    creds = (sb.client_id, sb.client_secret)
    first = await token_reply(sb, http)
    reply = await http.post(
        sb.token_url,
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        auth=creds,
    )
    assert reply.status_code == 200
    second = reply.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    reused = await http.post(
        sb.token_url,
        data={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]},
        auth=creds,
    )
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
    again = await http.post(
        sb.token_url,
        data={"grant_type": "refresh_token", "refresh_token": second["refresh_token"]},
        auth=creds,
    )
    assert again.status_code == 200
    me = await http.get(
        sb.base_url + "/api/v1/users/me", headers={"Authorization": "Bearer " + again.json()["access_token"]}
    )
    assert me.status_code == 200
    stats = (await http.get(sb.base_url + "/_sandbox/stats")).json()
    assert stats["token_requests"] == {"client_credentials": 1, "refresh_token": 3, "authorization_code": 0}


async def test_api_requires_a_valid_bearer_token(sb: Sandbox, http: httpx.AsyncClient) -> None:
    url = sb.base_url + "/api/v1/projects"
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        reply = await http.get(url, headers=headers)
        assert reply.status_code == 401
        assert reply.json()["error"]["code"] == "UNAUTHENTICATED"
        assert set(reply.json()["error"]) == {"code", "message", "details"}
        assert reply.headers["www-authenticate"].startswith("Bearer")
        assert reply.headers["x-request-id"]
        assert "x-ratelimit-limit" not in reply.headers


async def test_expire_tokens_helper_invalidates_access_tokens_only(
    sb: Sandbox, http: httpx.AsyncClient
) -> None:
    token = await token_reply(sb, http)
    headers = {"Authorization": "Bearer " + token["access_token"]}
    assert (await http.get(sb.base_url + "/api/v1/users/me", headers=headers)).status_code == 200
    assert await sb.expire_tokens() >= 1
    assert (await http.get(sb.base_url + "/api/v1/users/me", headers=headers)).status_code == 401
    refreshed = await http.post(
        sb.token_url,
        data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
        auth=(sb.client_id, sb.client_secret),
    )
    assert refreshed.status_code == 200


async def test_access_tokens_expire_after_token_ttl(
    http: httpx.AsyncClient, sandbox_time: SandboxTime
) -> None:
    async with Sandbox(token_ttl=0.4) as sb:
        token = await token_reply(sb, http)
        assert token["expires_in"] == 1  # a whole number of seconds, rounded up
        headers = {"Authorization": "Bearer " + token["access_token"]}
        assert (await http.get(sb.base_url + "/api/v1/users/me", headers=headers)).status_code == 200
        sandbox_time.advance(0.5)
        expired = await http.get(sb.base_url + "/api/v1/users/me", headers=headers)
        assert expired.status_code == 401
        assert expired.json()["error"]["code"] == "UNAUTHENTICATED"
        # The refresh token outlives the access token.
        fresh = await http.post(
            sb.token_url,
            data={"grant_type": "refresh_token", "refresh_token": token["refresh_token"]},
            auth=(sb.client_id, sb.client_secret),
        )
        assert fresh.status_code == 200
        ok = await http.get(
            sb.base_url + "/api/v1/users/me",
            headers={"Authorization": "Bearer " + fresh.json()["access_token"]},
        )
        assert ok.status_code == 200


async def test_custom_client_credentials(http: httpx.AsyncClient) -> None:
    async with Sandbox(client_id="acme", client_secret="s3cret", users=0, projects=0) as sb:
        assert (sb.client_id, sb.client_secret) == ("acme", "s3cret")
        headers = await auth_headers(sb, http)
        me = (await http.get(sb.base_url + "/api/v1/users/me", headers=headers)).json()
        assert me["email"] == "acme@example.com"
        page = (await http.get(sb.base_url + "/api/v1/projects", headers=headers)).json()
        assert page == {
            "data": [],
            "meta": {"currentPage": 1, "totalPages": 0, "totalItems": 0, "itemsPerPage": 20},
        }
