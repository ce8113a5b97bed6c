"""The authorization endpoint, the authorization-code grant with PKCE, per-user tokens,
revocation (RFC 7009) and introspection (RFC 7662), spoken in plain httpx."""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from asyncapi_sandbox import Sandbox

# On asyncio and on trio (the anyio_backend fixture in conftest.py).
pytestmark = pytest.mark.anyio

REDIRECT = "http://127.0.0.1:8123/oauth/callback"  # registered without a port: any port on loopback


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_params(sb: Sandbox, challenge: str, **overrides: Any) -> dict[str, Any]:
    params = {
        "response_type": "code",
        "client_id": sb.client_id,
        "redirect_uri": REDIRECT,
        "state": "st-123",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "scope": "users:read",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def redirected(reply: httpx.Response) -> dict[str, str]:
    assert reply.status_code == 302, reply.text
    location = reply.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def login(sb: Sandbox, http: httpx.AsyncClient, **overrides: Any) -> tuple[dict[str, str], str]:
    """Authorize (auto mode) and return the callback's parameters and the verifier."""
    verifier, challenge = pkce()
    reply = await http.get(sb.authorize_url, params=authorize_params(sb, challenge, **overrides))
    return redirected(reply), verifier


async def exchange(
    sb: Sandbox, http: httpx.AsyncClient, code: str, verifier: str, **form: str
) -> httpx.Response:
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    data.update(form)
    return await http.post(sb.token_url, data=data, auth=(sb.client_id, sb.client_secret))


async def test_auto_approval_code_exchange_and_a_token_that_acts_for_that_user(
    sb: Sandbox, http: httpx.AsyncClient
) -> None:
    await sb.configure(authorize_mode="auto")
    callback, verifier = await login(sb, http, login_hint="7")
    assert callback["state"] == "st-123" and callback["code"]
    reply = await exchange(sb, http, callback["code"], verifier)
    assert reply.status_code == 200, reply.text
    tokens = reply.json()
    assert tokens["scope"] == "users:read" and tokens["refresh_token"]
    me = await http.get(
        sb.base_url + "/api/v1/users/me", headers={"authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.json()["id"] == 7
    # A refresh keeps the user.
    refreshed = await http.post(
        sb.token_url,
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=(sb.client_id, sb.client_secret),
    )
    again = await http.get(
        sb.base_url + "/api/v1/users/me",
        headers={"authorization": f"Bearer {refreshed.json()['access_token']}"},
    )
    assert again.json()["id"] == 7
    stats = await sb.stats()
    assert stats["token_requests"]["authorization_code"] == 1 and stats["authorizations"]["approved"] == 1


async def test_the_consent_page_approves_or_denies(sb: Sandbox, http: httpx.AsyncClient) -> None:
    verifier, challenge = pkce()
    page = await http.get(sb.authorize_url, params=authorize_params(sb, challenge))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    consent = page.text.split('name="consent" value="')[1].split('"')[0]
    approved = await http.post(
        sb.authorize_url, data={"consent": consent, "decision": "approve", "user": "3"}
    )
    code = redirected(approved)["code"]
    tokens = (await exchange(sb, http, code, verifier)).json()
    me = await http.get(
        sb.base_url + "/api/v1/users/me", headers={"authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.json()["id"] == 3
    replay = await http.post(sb.authorize_url, data={"consent": consent, "decision": "approve", "user": "3"})
    assert replay.status_code == 400  # one answer per page

    page = await http.get(sb.authorize_url, params=authorize_params(sb, challenge))
    consent = page.text.split('name="consent" value="')[1].split('"')[0]
    denied = await http.post(sb.authorize_url, data={"consent": consent, "decision": "deny"})
    assert redirected(denied) == {
        "error": "access_denied",
        "error_description": "the user denied access",
        "state": "st-123",
    }


async def test_authorize_requests_that_cannot_redirect_get_a_page_the_others_an_error_redirect(
    sb: Sandbox, http: httpx.AsyncClient
) -> None:
    await sb.configure(authorize_mode="auto")
    _, challenge = pkce()
    for bad in (
        {"client_id": "someone"},
        {"redirect_uri": "https://evil.example/cb"},
        {"redirect_uri": None},
    ):
        reply = await http.get(sb.authorize_url, params=authorize_params(sb, challenge, **bad))
        assert reply.status_code == 400 and "location" not in reply.headers
    cases = [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "short"}, "invalid_request"),
    ]
    for overrides, error in cases:
        reply = await http.get(sb.authorize_url, params=authorize_params(sb, challenge, **overrides))
        answer = redirected(reply)
        assert answer["error"] == error and answer["state"] == "st-123"
    # The registered URI on another loopback port matches; another path does not.
    other_port = authorize_params(sb, challenge, redirect_uri="http://127.0.0.1:9/oauth/callback")
    assert (await http.get(sb.authorize_url, params=other_port)).status_code == 302
    other_path = authorize_params(sb, challenge, redirect_uri="http://127.0.0.1:8123/elsewhere")
    assert (await http.get(sb.authorize_url, params=other_path)).status_code == 400


async def test_a_code_is_refused_for_a_wrong_verifier_another_redirect_uri_or_a_second_use(
    sb: Sandbox, http: httpx.AsyncClient
) -> None:
    await sb.configure(authorize_mode="auto")
    callback, verifier = await login(sb, http)
    wrong = await exchange(sb, http, callback["code"], pkce()[0])
    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_grant")
    moved = await exchange(
        sb, http, callback["code"], verifier, redirect_uri="http://127.0.0.1:8124/oauth/callback"
    )
    assert (moved.status_code, moved.json()["error"]) == (400, "invalid_grant")
    no_verifier = await http.post(
        sb.token_url,
        data={"grant_type": "authorization_code", "code": callback["code"], "redirect_uri": REDIRECT},
        auth=(sb.client_id, sb.client_secret),
    )
    assert (no_verifier.status_code, no_verifier.json()["error"]) == (400, "invalid_request")
    first = await exchange(sb, http, callback["code"], verifier)
    assert first.status_code == 200
    token = first.json()["access_token"]
    reused = await exchange(sb, http, callback["code"], verifier)
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
    # RFC 6749 section 4.1.2: a code used twice revokes what its first use issued.
    me = await http.get(sb.base_url + "/api/v1/users/me", headers={"authorization": f"Bearer {token}"})
    assert me.status_code == 401


async def test_revoking_a_refresh_token_ends_its_grant_and_introspection_says_so(
    sb: Sandbox, http: httpx.AsyncClient
) -> None:
    await sb.configure(authorize_mode="auto")
    creds = (sb.client_id, sb.client_secret)
    callback, verifier = await login(sb, http, login_hint="5")
    tokens = (await exchange(sb, http, callback["code"], verifier)).json()
    info = await http.post(sb.introspection_url, data={"token": tokens["access_token"]}, auth=creds)
    body = info.json()
    assert body["active"] is True and body["sub"] == "5" and body["client_id"] == sb.client_id
    assert body["token_type"] == "Bearer" and body["scope"] == "users:read" and isinstance(body["exp"], int)

    revoked = await http.post(
        sb.revocation_url,
        data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
        auth=creds,
    )
    assert revoked.status_code == 200 and revoked.content == b""
    for token in (tokens["access_token"], tokens["refresh_token"]):
        after = await http.post(sb.introspection_url, data={"token": token}, auth=creds)
        assert after.json() == {"active": False}
    me = await http.get(
        sb.base_url + "/api/v1/users/me", headers={"authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.status_code == 401
    # An unknown token is "revoked" all the same (RFC 7009 section 2.2); errors are RFC 6749's.
    assert (await http.post(sb.revocation_url, data={"token": "nope"}, auth=creds)).status_code == 200
    hint = await http.post(sb.revocation_url, data={"token": "x", "token_type_hint": "id_token"}, auth=creds)
    assert (hint.status_code, hint.json()["error"]) == (400, "unsupported_token_type")
    anonymous = await http.post(sb.revocation_url, data={"token": "x"})
    assert (anonymous.status_code, anonymous.json()["error"]) == (401, "invalid_client")
    assert (await sb.stats())["revocations"] == 1
