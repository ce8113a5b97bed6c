"""Configuration that must be refused at construction, a token endpoint that grants a lifetime of
a millisecond, and webhook receivers under a hostile sender.

Peers: a token endpoint (bare ASGI app, uvicorn) that answers `expires_in: 0.001`; two
`WebhookReceiver`s served by uvicorn behind a bare ASGI dispatcher, sent deliveries with raw
httpx (the same delivery to both, a signature header with 33 entries).
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable
from typing import Any

import httpx
import pytest

import asyncapi_client as sdk
from asyncapi_client.testing import FakeClock
from asyncapi_client.webhooks import InMemoryDedupeStore, WebhookReceiver, sign, signed_headers
from tests.support.hostile_servers import Receive, Scope, Send, reply, serving

SECRET = "whsec_" + base64.b64encode(b"hostile-config-key-of-32-bytes!!").decode()
OK_URL = "https://api.example.com"

REFUSED: list[tuple[str, Callable[[], Any], str]] = [
    ("Timeout(total=nan)", lambda: sdk.Timeout(total=math.nan), "finite"),
    ("Timeout(total=1e308)", lambda: sdk.Timeout(total=1e308), "at most"),
    ("timeout=inf", lambda: sdk.AsyncClient(OK_URL, timeout=math.inf), "finite"),
    ("RetryPolicy(backoff_max=1e308)", lambda: sdk.RetryPolicy(backoff_max=1e308), "at most"),
    (
        "token timeout=1e308",
        lambda: sdk.ClientCredentials(OK_URL + "/t", "id", "secret-1", timeout=1e308),
        "at most",
    ),
    ("port 99999", lambda: sdk.AsyncClient("http://127.0.0.1:99999"), "port"),
    ("port abc", lambda: sdk.AsyncClient("http://127.0.0.1:abc"), "port"),
    ("port 0", lambda: sdk.AsyncClient("http://127.0.0.1:0"), "port"),
    ("query in base_url", lambda: sdk.AsyncClient(OK_URL + "/?tenant=1"), "query"),
    ("fragment in base_url", lambda: sdk.AsyncClient(OK_URL + "/#top"), "fragment"),
    ("fragment in token_url", lambda: sdk.ClientCredentials(OK_URL + "/t#x", "id", "secret-1"), "fragment"),
    ("space in base_url", lambda: sdk.AsyncClient("https://api example.com"), "spaces"),
    ("line break in a bearer token", lambda: sdk.BearerToken("tok\nen"), "line breaks"),
    ("NUL in a bearer token", lambda: sdk.BearerToken("tok\x00en"), "control character"),
    (
        "line break in a default header",
        lambda: sdk.AsyncClient(OK_URL, headers={"x-a": "1\r\nx-b: 2"}),
        "control",
    ),
    ("bad header name", lambda: sdk.AsyncClient(OK_URL, headers={"x a": "1"}), "header name"),
    ("receiver tolerance nan", lambda: WebhookReceiver(SECRET, tolerance=math.nan), "finite"),
    ("receiver tolerance inf", lambda: WebhookReceiver(SECRET, tolerance=math.inf), "finite"),
    ("receiver max_body_size inf", lambda: WebhookReceiver(SECRET, max_body_size=math.inf), "whole number"),  # type: ignore[arg-type]
    ("receiver max_body_size 2.5", lambda: WebhookReceiver(SECRET, max_body_size=2.5), "whole number"),  # type: ignore[arg-type]
    ("receiver handler_timeout nan", lambda: WebhookReceiver(SECRET, handler_timeout=math.nan), "finite"),
    ("receiver handler_timeout 0", lambda: WebhookReceiver(SECRET, handler_timeout=0), "positive"),
    ("dedupe ttl nan", lambda: InMemoryDedupeStore(ttl=math.nan), "finite"),
    ("dedupe ttl inf", lambda: InMemoryDedupeStore(ttl=math.inf), "finite"),
    ("dedupe max_entries nan", lambda: InMemoryDedupeStore(max_entries=math.nan), "whole number"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize(("what", "make", "fragment"), REFUSED, ids=[r[0] for r in REFUSED])
def test_bad_configuration_is_refused_at_construction_saying_what_to_fix(
    what: str, make: Callable[[], Any], fragment: str
) -> None:
    with pytest.raises(ValueError) as info:
        make()
    assert fragment in str(info.value), str(info.value)
    assert "tok\nen" not in str(info.value) and "tok\x00en" not in str(info.value)  # never the credential


def test_a_per_call_header_with_a_line_break_is_refused_before_sending() -> None:
    client = sdk.AsyncClient(OK_URL)
    with pytest.raises(ValueError, match="control character"):
        client.build_request("GET", "/api/v1/users/me", headers={"x-trace": "1\r\nx-injected: 2"})
    with pytest.raises(ValueError, match="control character"):
        client.with_options(headers={"x-trace": "1\n"})


def test_a_token_url_may_carry_a_query() -> None:
    sdk.ClientCredentials(OK_URL + "/oauth/token?tenant=acme", "id", "secret-1")


async def test_a_token_that_claims_to_live_a_millisecond_is_used_for_a_second() -> None:
    token_requests: list[int] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/oauth/token":
            token_requests.append(1)
            body = {
                "access_token": f"short-lived-{len(token_requests)}",
                "token_type": "Bearer",
                "expires_in": 0.001,
            }
            await reply(send, 200, body)
            return
        me = {"id": 1, "name": "n", "email": "n@example.com", "created_at": "2026-01-01T00:00:00Z"}
        await reply(send, 200, me)

    clock = FakeClock()
    with serving(app) as url:
        auth = sdk.ClientCredentials(url + "/oauth/token", "id", "secret-1", clock=clock)
        async with sdk.AsyncClient(url, auth=auth, clock=clock) as client:
            for _ in range(20):
                await client.users.me()
                clock.advance(0.04)  # 0.8 s in all: inside the 1 s floor (less its margin)
            assert len(token_requests) == 1  # without the floor: one per call, 20
            clock.advance(0.2)
            await client.users.me()
    assert len(token_requests) == 2


class _Receivers:
    """Two receivers sharing one (empty, so falsy) dedupe store, behind one ASGI app."""

    def __init__(self) -> None:
        self.store = InMemoryDedupeStore()
        self.handled: list[str] = []
        self.first = WebhookReceiver(SECRET, dedupe_store=self.store)
        self.second = WebhookReceiver(SECRET, dedupe_store=self.store)
        for receiver in (self.first, self.second):
            receiver.on("*")(self._handle)

    async def _handle(self, event: Any) -> None:
        self.handled.append(event.id)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        target = self.first if scope["path"].startswith("/first") else self.second
        await target(scope, receive, send)


def _delivery(msg_id: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {"id": msg_id, "type": "ping", "created_at": "2026-01-01T00:00:00Z", "data": {"hello": "world"}}
    ).encode()
    return body, signed_headers(SECRET, body, msg_id=msg_id)


async def test_two_receivers_sharing_an_empty_store_run_a_delivery_once() -> None:
    receivers = _Receivers()
    assert receivers.first.dedupe_store is receivers.store  # not a fresh store of its own
    body, headers = _delivery("msg_shared_1")
    with serving(receivers) as url:
        async with httpx.AsyncClient() as http:
            first = await http.post(url + "/first", content=body, headers=headers)
            second = await http.post(url + "/second", content=body, headers=headers)
    assert (first.status_code, first.json()) == (200, {"status": "processed"})
    assert (second.status_code, second.json()) == (200, {"status": "duplicate"})
    assert receivers.handled == ["msg_shared_1"]


@pytest.mark.parametrize(("junk", "status"), [(31, 200), (32, 400)])
async def test_a_signature_header_past_the_documented_cap_is_refused_whatever_the_position(
    junk: int, status: int
) -> None:
    receivers = _Receivers()
    body, headers = _delivery(f"msg_cap_{junk}")
    valid = sign(SECRET, headers["webhook-id"], int(headers["webhook-timestamp"]), body)
    fake = "v1," + base64.b64encode(b"\x00" * 32).decode()
    headers["webhook-signature"] = " ".join([fake] * junk + [valid])
    with serving(receivers) as url:
        async with httpx.AsyncClient() as http:
            answer = await http.post(url + "/first", content=body, headers=headers)
    assert answer.status_code == status
    if status == 400:
        assert answer.json()["error"] == "invalid_header"
        assert "at most 32" in answer.json()["message"]
        assert receivers.handled == []
    else:
        assert receivers.handled == [f"msg_cap_{junk}"]
