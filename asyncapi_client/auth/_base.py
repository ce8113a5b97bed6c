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
from .._pipeline import CallNext, ViaLayer
from .._secret import Secret, as_secret
from .._types import Request, Response, new_request
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


class AuthMiddleware(ViaLayer):
    """Runs the calling view's auth strategy (`request.extensions["auth"]`) for each attempt.

    `owns_headers`: each request that comes down has headers of its own, which no one else
    holds (the retry layer copies them for each attempt, and no attempt middleware runs between
    it and this layer), so a `BearerToken`'s `Authorization` is set in them in place rather than
    in a copy of the request. Without it (attempt middleware may hand down a request whose
    headers it keeps), the request is copied, as every other middleware must do.
    """

    __slots__ = ("_transport", "_owns_headers")

    def __init__(self, transport: Transport, *, owns_headers: bool = False) -> None:
        self._transport = transport
        self._owns_headers = owns_headers

    def _via(self, call_next: CallNext, request: Request) -> Awaitable[Response]:
        # The strategy's coroutine itself, not awaited in a frame of ours: every suspension of
        # the request (waiting for a connection, for the reply) passes one frame less.
        auth: Auth | None = request.extensions.get("auth")
        if auth is None:
            return call_next(request)
        if type(auth) is BearerToken:
            # What its `authenticate` does, without that call: the most common strategy's
            # header costs one dict store (or a dict copy and a Request), not three Python
            # calls more. (`_value` is what `Secret.get()` returns, read without the call.)
            if self._owns_headers:
                request.headers["authorization"] = auth._header._value
                return call_next(request)
            return call_next(_with_authorization(request, auth._header._value))
        return auth.authenticate(request, call_next, self._transport)


def _with_authorization(request: Request, value: str) -> Request:
    """`request.with_header("authorization", value)` for a name already lower-case."""
    headers = request.headers.copy()
    headers["authorization"] = value
    return new_request(
        request.method, request.url, headers, request.content, request.timeout, request.extensions
    )


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
