"""The auth protocol, the middleware that runs it, and the static `BearerToken`.

An auth strategy decides, per attempt, which credentials a request carries, and what a 401 means
(an OAuth strategy drops the token, refreshes once and replays once). It receives the
transport so that its token requests share the client's connection pool without passing through
the rate limiter or the retry layer of API calls.

The method is `authenticate`, not httpx's `auth_flow`: httpx's is a generator that yields
requests for the client to send; ours is a step of the pipeline that sends the attempt itself
(`call_next`) and returns its response, so an httpx `Auth` cannot be passed here by mistake.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import ClassVar, Protocol, runtime_checkable

from .._config import check_header
from .._pipeline import CallNext
from .._secret import Secret, as_secret
from .._types import Request, Response
from ..transports._base import Transport


@runtime_checkable
class Auth(Protocol):
    """An auth strategy: `await auth.authenticate(request, call_next, transport)` sends one
    attempt with this strategy's credentials (through `call_next`) and returns the response;
    `transport` is for the strategy's own token requests."""

    def authenticate(
        self, request: Request, call_next: CallNext, transport: Transport
    ) -> Awaitable[Response]:
        """Send `request` through `call_next` with credentials attached, and return the response
        (after at most one refresh and replay on a 401). Write it as an `async def`; it is typed
        as a call returning an awaitable so that a strategy with nothing to do after the send
        (`BearerToken`) may return `call_next(...)` itself, one frame less per request."""


class BearerToken:
    """A fixed access token: `Authorization: Bearer <token>` on every request."""

    __slots__ = ("_header",)

    replays_on_401: ClassVar[bool] = False
    """A 401 is final: there is no other token to try (so the limiter takes no token for a replay)."""

    def __init__(self, token: str | Secret) -> None:
        secret = as_secret(token)
        if not secret.get() or any(c.isspace() for c in secret.get()):
            raise ValueError("BearerToken needs a non-empty token without spaces or line breaks")
        check_header("authorization", "Bearer " + secret.get())
        self._header = Secret("Bearer " + secret.get())

    def authenticate(
        self, request: Request, call_next: CallNext, transport: Transport
    ) -> Awaitable[Response]:
        """Attach `Authorization: Bearer <token>` and send."""
        return call_next(_with_authorization(request, self._header.get()))

    def __repr__(self) -> str:
        return "BearerToken('***')"


class AuthMiddleware:
    """Runs the calling view's auth strategy (`request.extensions["auth"]`) for each attempt."""

    __slots__ = ("_transport",)

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def __call__(self, request: Request, call_next: CallNext) -> Awaitable[Response]:
        # The strategy's coroutine itself, not awaited in a frame of ours: every suspension of
        # the request (waiting for a connection, for the reply) passes one frame less.
        auth: Auth | None = request.extensions.get("auth")
        if auth is None:
            return call_next(request)
        if type(auth) is BearerToken:
            # What its `authenticate` does, without that call: the most common strategy's
            # header costs a dict copy and a Request, not three Python calls more.
            return call_next(_with_authorization(request, auth._header.get()))
        return auth.authenticate(request, call_next, self._transport)


def _with_authorization(request: Request, value: str) -> Request:
    """`request.with_header("authorization", value)` for a name already lower-case."""
    headers = request.headers.copy()
    headers["authorization"] = value
    return Request._trusted(request.method, request.url, headers, request.content, request.timeout, request.extensions)


def authorization_hint(auth: object) -> str | None:
    """The Authorization header `auth` would attach now, when it can tell without I/O: a
    `BearerToken`'s, or an OAuth strategy's current token. The rate limiter hashes it to pick a
    per-token partition, which it must do before the strategy runs (the limiter waits first,
    so that the token chosen after the wait is the one valid when the request leaves)."""
    if isinstance(auth, BearerToken):
        return auth._header.get()
    access = getattr(getattr(auth, "token", None), "access_token", None)
    if isinstance(access, Secret):
        return "Bearer " + access.get()
    return None
