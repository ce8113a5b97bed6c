"""Fakes for the auth tests: a scripted OAuth server behind MockTransport."""

from __future__ import annotations

import itertools
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import anyio
from anyio.abc import TaskGroup

from asyncapi_client import MockTransport, Request, Response
from asyncapi_client.testing import FakeClock

TOKEN_URL = "https://auth.example.com/oauth/token"
BASE = "https://api.example.com"
CLIENT_ID = "client-1"
CLIENT_SECRET = "s3cr3t-client-value"


def start_cancellable(tg: TaskGroup, call: Callable[[], Awaitable[None]]) -> anyio.CancelScope:
    """Start `call()` in `tg` inside a scope of its own, returned so that this one task (a
    refresh's leader, say) can be cancelled while the others go on."""
    scope = anyio.CancelScope()

    async def run() -> None:
        with scope:
            await call()

    tg.start_soon(run)
    return scope


def form(request: Request) -> dict[str, str]:
    return dict(parse_qsl((request.content or b"").decode()))


class FakeOAuthServer:
    """A token endpoint and an API in one MockTransport handler.

    Each token request issues `tok-N` (and `rt-N` as the rotated refresh token when `rotate`).
    `reply` overrides the token reply (a callable taking the request and returning a Response).
    `gate`, when set, makes the token endpoint wait on it (to hold a refresh in flight).
    `token_latency` seconds pass on `clock` during each token request (a slow endpoint).
    The API answers 200 to a currently valid token, 401 otherwise; `reject` is a set of tokens
    the API refuses even though they were issued.
    """

    def __init__(
        self,
        *,
        expires_in: Any = 3600,
        rotate: bool = False,
        clock: FakeClock | None = None,
        token_latency: float = 0.0,
    ) -> None:
        self.expires_in = expires_in
        self.clock = clock
        self.token_latency = token_latency
        self.rotate = rotate
        self.token_requests: list[Request] = []
        self.api_requests: list[Request] = []
        self.valid: set[str] = set()
        self.reject: set[str] = set()
        self.reply: Callable[[Request], Response] | None = None
        self.gate: anyio.Event | None = None
        self.entered = anyio.Event()
        self._ids = itertools.count(1)

    def transport(self) -> MockTransport:
        return MockTransport(self.handle, record=False)

    async def handle(self, request: Request) -> Response:
        if request.url == TOKEN_URL:
            self.token_requests.append(request)
            self.entered.set()
            if self.gate is not None:
                await self.gate.wait()
            if self.clock is not None:
                self.clock.advance(self.token_latency)
            if self.reply is not None:
                return self.reply(request)
            n = next(self._ids)
            body: dict[str, Any] = {"access_token": f"tok-{n}", "token_type": "Bearer"}
            if self.expires_in is not None:
                body["expires_in"] = self.expires_in
            if self.rotate:
                body["refresh_token"] = f"rt-{n}"
            self.valid.add(f"tok-{n}")
            return Response.json_response(200, body)
        self.api_requests.append(request)
        auth = request.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ")
        if token in self.valid and token not in self.reject:
            return Response.json_response(200, {"id": 1, "token": token})
        return Response.json_response(
            401, {"error": {"code": "UNAUTHENTICATED", "message": "bad token", "details": None}}
        )

    @property
    def forms(self) -> list[dict[str, str]]:
        return [form(r) for r in self.token_requests]


async def api_call(auth: Any, transport: MockTransport, path: str = "/api/v1/users/me") -> Response:
    """One API call through `auth` alone (no client): what AuthMiddleware does per attempt."""
    request = Request("GET", BASE + path)
    response: Response = await auth.authenticate(request, transport.send, transport)
    return response


def bearer(response: Response) -> str:
    assert response.request is not None
    return response.request.headers["authorization"].removeprefix("Bearer ")


def body(response: Response) -> Any:
    return json.loads(response.content)
