"""`AsyncClient`: configuration, lifecycle, the pipeline, and the resource services.

The pipeline is assembled in one place, `_build_pipeline`, outermost first:

    user middleware...            once per call (logging, tracing, custom headers)
    RetryMiddleware               loops over attempts, owns backoff, budget and deadline
      attempt middleware...       once per attempt (per-attempt spans, attempt logging)
      AuthMiddleware              per attempt: attaches the token valid *now*; 401 -> one refresh + one replay
        RateLimitMiddleware       per attempt: takes a bucket token; learns from every response
          transport.send          HTTP

Because auth and the limiter sit inside the retry loop, every attempt (retries and the 401
replay included) takes a limiter token and carries the current token, and every response feeds
the limiter (DESIGN.md's four rules).

`with_options()` returns a view: a new object holding only per-call settings (auth, timeout,
headers) that points at the same `_Shared` state (transport and its pool, pipeline, limiter,
retry budget, stats). Auth travels with each request in `extensions["auth"]`, so views share one
pipeline and cost a few attribute copies.
"""

from __future__ import annotations

import contextvars
import importlib
import json
import random as _random
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar, overload
from urllib.parse import urlencode

import anyio

from ._clock import SYSTEM_CLOCK, Clock
from ._config import DEFAULT_TIMEOUT, Timeout, check_headers, check_url
from ._decode import status_error
from ._errors import APITimeoutError, ClientClosedError
from ._pipeline import CallNext, Middleware, build_chain
from ._ratelimit import RateLimit, RateLimitMiddleware
from ._retry import RetryMiddleware, RetryPolicy
from ._stats import ClientStats, StatsSnapshot
from ._types import Request, Response
from ._version import __version__
from .auth._base import Auth, AuthMiddleware
from .transports._base import Transport
from .transports._deadline import fail_after

if TYPE_CHECKING:
    from .services.projects import ProjectsService
    from .services.users import UsersService
    from .services.webhooks import WebhooksService


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()
_USER_AGENT: Final = f"asyncapi-client/{__version__}"

# Where `service.with_raw_response` collects the responses of the call it wraps (see
# services/_base.py); None outside such a call.
_raw_sink: contextvars.ContextVar[list[Response] | None] = contextvars.ContextVar(
    "asyncapi_client_raw_sink", default=None
)

S = TypeVar("S")


class _ServiceAttr(Generic[S]):
    """`client.users`, `client.projects`, `client.webhooks`: the service's module is imported
    and the service made on first use, then kept in the view's `__dict__` (this descriptor
    defines no `__set__`), so every later read is a plain attribute lookup."""

    __slots__ = ("_module", "_class", "_name")

    def __init__(self, module: str, class_name: str) -> None:
        self._module = module
        self._class = class_name
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, client: None, owner: type | None = None) -> _ServiceAttr[S]: ...

    @overload
    def __get__(self, client: AsyncClient, owner: type | None = None) -> S: ...

    def __get__(self, client: AsyncClient | None, owner: type | None = None) -> S | _ServiceAttr[S]:
        if client is None:
            return self
        cls = getattr(importlib.import_module(self._module, __package__), self._class)
        service: S = cls(client)
        client.__dict__[self._name] = service
        return service


class _Shared:
    """State that every view of one client shares."""

    __slots__ = (
        "transport",
        "owns_transport",
        "chain",
        "stats",
        "clock",
        "limiter",
        "retry",
        "closed",
        "base_url",
    )

    def __init__(
        self,
        *,
        base_url: str,
        transport: Transport,
        owns_transport: bool,
        chain: CallNext,
        stats: ClientStats,
        clock: Clock,
        limiter: RateLimitMiddleware,
        retry: RetryMiddleware,
    ) -> None:
        self.base_url = base_url
        self.transport = transport
        self.owns_transport = owns_transport
        self.chain = chain
        self.stats = stats
        self.clock = clock
        self.limiter = limiter
        self.retry = retry
        self.closed = False


class AsyncClient:
    """The client. Use it as `async with AsyncClient(...) as client:` or close it with `aclose()`.

    One client per process (or per ingestion job) is the intended use: it holds the connection
    pool, the rate limiter's view of the server and the retry budget. Per web request, make a
    view with `with_options(auth=...)`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: Auth | None = None,
        timeout: Timeout | float | None = DEFAULT_TIMEOUT,
        transport: Transport | None = None,
        headers: Mapping[str, str] | None = None,
        middleware: Sequence[Middleware] = (),
        attempt_middleware: Sequence[Middleware] = (),
        rate_limit: RateLimit | None = None,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        random: Callable[[], float] | None = None,
        allow_insecure_http: bool = False,
    ) -> None:
        base_url = check_url(base_url, what="base_url", allow_insecure_http=allow_insecure_http)
        if auth is not None and not isinstance(auth, Auth):
            raise TypeError(
                f"auth must be an auth strategy such as BearerToken(...) or ClientCredentials(...), "
                f"got {type(auth).__name__}"
            )
        if rate_limit is not None and not isinstance(rate_limit, RateLimit):
            raise TypeError(f"rate_limit must be a RateLimit(...), got {type(rate_limit).__name__}")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise TypeError(f"retry must be a RetryPolicy(...), got {type(retry).__name__}")
        for layer in (*middleware, *attempt_middleware):
            if not callable(layer):
                raise TypeError(
                    f"middleware must be callables (request, call_next), got {type(layer).__name__}"
                )
        # Like httpx, the client closes its transport, given or made: one owner, no leaked pool.
        owns_transport = True
        if transport is None:
            from .transports._httpx import HttpxTransport

            transport = HttpxTransport()
        elif not isinstance(transport, Transport):
            raise TypeError(f"transport must have send() and aclose(), got {type(transport).__name__}")
        clock = clock or SYSTEM_CLOCK
        stats = ClientStats()
        limiter = RateLimitMiddleware(rate_limit, clock=clock, stats=stats)
        retrier = RetryMiddleware(
            retry or RetryPolicy(), clock=clock, stats=stats, random=random or _random.random
        )
        chain = _build_pipeline(
            user_middleware=middleware,
            retry=retrier,
            attempt_middleware=attempt_middleware,
            auth=AuthMiddleware(transport),
            limiter=limiter,
            send=transport.send,
        )
        self._shared = _Shared(
            base_url=base_url,
            transport=transport,
            owns_transport=owns_transport,
            chain=chain,
            stats=stats,
            clock=clock,
            limiter=limiter,
            retry=retrier,
        )
        self._auth = auth
        self._set_timeout(Timeout.coerce(timeout))
        self._headers: dict[str, str] = {
            "accept": "application/json",
            "user-agent": _USER_AGENT,
        }
        if headers:
            self._headers.update(check_headers(headers))

    def _set_timeout(self, timeout: Timeout) -> None:
        # Read once here rather than on every call: Timeout is frozen.
        self._timeout = timeout
        self._total = timeout.total
        self._attempt_timeout = timeout.attempt_timeout()
        self._connect_timeout = timeout.connect

    # -- views ---------------------------------------------------------------------------

    def with_options(
        self,
        *,
        auth: Auth | _Unset | None = UNSET,
        timeout: Timeout | float | _Unset | None = UNSET,
        headers: Mapping[str, str] | None = None,
    ) -> AsyncClient:
        """A view with other per-call settings that shares this client's pool, limiter,
        retry budget, token state and stats. Cheap: make one per web request."""
        view = object.__new__(AsyncClient)
        view._shared = self._shared
        if isinstance(auth, _Unset):
            view._auth = self._auth
        else:
            if auth is not None and not isinstance(auth, Auth):
                raise TypeError(f"auth must be an auth strategy, got {type(auth).__name__}")
            view._auth = auth
        view._set_timeout(self._timeout if isinstance(timeout, _Unset) else Timeout.coerce(timeout))
        if headers:
            merged = dict(self._headers)
            merged.update(check_headers(headers))
            view._headers = merged
        else:
            view._headers = self._headers
        return view

    # -- services ------------------------------------------------------------------------

    users: _ServiceAttr[UsersService] = _ServiceAttr(".services.users", "UsersService")
    projects: _ServiceAttr[ProjectsService] = _ServiceAttr(".services.projects", "ProjectsService")
    webhooks: _ServiceAttr[WebhooksService] = _ServiceAttr(".services.webhooks", "WebhooksService")

    # -- sending -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self._shared.base_url

    @property
    def clock(self) -> Clock:
        return self._shared.clock

    @property
    def transport(self) -> Transport:
        return self._shared.transport

    def build_request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Request:
        """The Request a call would send (before the pipeline adds auth and retry headers)."""
        shared = self._shared
        url = shared.base_url + path
        if params:
            query = {k: v for k, v in params.items() if v is not None}
            if query:
                url += "?" + urlencode(query)
        # A copy: the request's headers are its own, never the view's defaults.
        merged = self._headers.copy()
        content: bytes | None = None
        if json_body is not None:
            content = json.dumps(json_body, separators=(",", ":"), ensure_ascii=False).encode()
            merged["content-type"] = "application/json"
        if headers:
            merged.update(check_headers(headers))
        total = self._total
        deadline = None if total is None else shared.clock.monotonic() + total
        extensions = {"auth": self._auth, "deadline": deadline, "connect_timeout": self._connect_timeout}
        return Request._trusted(method, url, merged, content, self._attempt_timeout, extensions)

    async def send(self, request: Request) -> Response:
        """Send a Request through the whole pipeline and return the raw Response (any status)."""
        shared = self._shared
        if shared.closed:
            raise ClientClosedError(
                "this AsyncClient is closed; create a new one (or use it inside 'async with')"
            )
        shared.stats.requests += 1
        total = self._total
        try:
            if total is None:
                return await shared.chain(request)
            # A backstop on the real clock: the retry layer enforces the deadline exactly, this
            # guarantees nothing (a stuck user middleware, a hung transport) outlives it.
            with fail_after(total + 1.0):  # anyio.fail_after's meaning, cheaper on asyncio
                return await shared.chain(request)
        except TimeoutError:
            shared.stats.errors += 1
            raise APITimeoutError(
                f"{request.method} {request.url} did not finish within its {total}s deadline",
                request=request,
            ) from None
        except BaseException:
            shared.stats.errors += 1
            raise

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Send one call; raise the typed error for a non-2xx reply. Every service method calls
        through here (`Service._call`); it is also the escape hatch for endpoints the services
        do not cover."""
        response = await self.send(
            self.build_request(method, path, params=params, json_body=json_body, headers=headers)
        )
        sink = _raw_sink.get()
        if sink is not None:  # inside `with_raw_response`: hand the response over
            sink.append(response)
        if not 200 <= response.status_code < 300:
            shared = self._shared
            shared.stats.errors += 1
            raise status_error(response, shared.clock.time())
        return response

    # -- status and lifecycle -------------------------------------------------------------

    def stats(self) -> StatsSnapshot:
        """Counters since the client was made: calls, attempts, retries, 429s, limiter waits,
        token refreshes, errors."""
        snapshot = self._shared.stats.snapshot()
        refreshes = getattr(self._auth, "refresh_count", None)
        if isinstance(refreshes, int):
            snapshot = _with_refreshes(snapshot, refreshes)
        return snapshot

    def rate_limit_status(self) -> Any:
        """The limiter's view: the server's last known limit, remaining and reset, the local
        bucket, 429s seen and time spent waiting."""
        return self._shared.limiter.status()

    @property
    def is_closed(self) -> bool:
        return self._shared.closed

    async def aclose(self) -> None:
        """Close the client (and the transport, if the client made it). Idempotent."""
        shared = self._shared
        if shared.closed:
            return
        shared.closed = True
        closer = getattr(shared.limiter, "aclose", None)
        with anyio.CancelScope(shield=True):
            if closer is not None:
                await closer()
            if shared.owns_transport:
                await shared.transport.aclose()

    async def __aenter__(self) -> AsyncClient:
        if self._shared.closed:
            raise ClientClosedError("this AsyncClient is closed; create a new one")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        state = "closed" if self._shared.closed else "open"
        return f"<AsyncClient {self._shared.base_url} ({state})>"


def _with_refreshes(snapshot: StatsSnapshot, refreshes: int) -> StatsSnapshot:
    import attrs

    return attrs.evolve(snapshot, token_refreshes=snapshot.token_refreshes + refreshes)


def _build_pipeline(
    *,
    user_middleware: Sequence[Middleware],
    retry: Middleware,
    attempt_middleware: Sequence[Middleware],
    auth: Middleware,
    limiter: Middleware,
    send: CallNext,
) -> CallNext:
    """The whole pipeline, in order. See the module docstring for why this order."""
    return build_chain([*user_middleware, retry, *attempt_middleware, auth, limiter], send)
