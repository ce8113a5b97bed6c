"""`AsyncClient`: configuration, views, sending, lifecycle, and the resource services.

`with_options()` returns a view: a new object holding only per-call settings (auth, timeout,
headers, retry policy) that points at the same `SharedState` (transport and its pool, pipeline,
limiter, retry budget, stats; see `_shared_state`, which also says in what order the pipeline's
layers run, and why). Auth travels with each request in `extensions["auth"]`, so views share one
pipeline and cost a few attribute copies.
"""

from __future__ import annotations

import json
import random as _random
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, Final

import anyio

from ._clock import SYSTEM_CLOCK, Clock
from ._config import DEFAULT_TIMEOUT, Timeout, check_headers, check_url, format_seconds
from ._decode import status_error
from ._env import auth_from_env, base_url_from_env, logging_from_env
from ._errors import APITimeoutError, ClientClosedError
from ._not_given import NOT_GIVEN, NotGiven
from ._pipeline import Middleware
from ._query import query_string
from ._ratelimit import RateLimit, RateLimitStatus
from ._raw_response import raw_sink
from ._retry import RetryPolicy
from ._shared_state import SharedState
from ._stats import StatsSnapshot
from ._types import Request, Response, new_request
from ._version import __version__
from .auth._base import Auth, BearerToken
from .services.projects import ProjectsService
from .services.users import UsersService
from .services.webhooks import WebhooksService
from .transports._base import Transport
from .transports._deadline import fail_after

if TYPE_CHECKING:
    from .transports._tls import CertTypes, VerifyTypes

DEFAULT_RATE_LIMIT: Final = RateLimit()
"""What `AsyncClient(...)` paces itself with unless told otherwise: learn the limit from the
server's headers and 429s. `rate_limit=None` turns pacing off."""
_USER_AGENT: Final = f"asyncapi-client/{__version__}"


class AsyncClient:
    """The client. Use it as `async with AsyncClient(...) as client:` or close it with `aclose()`.

    One client per process (or per ingestion job) is the intended use: it holds the connection
    pool, the rate limiter's view of the server and the retry budget. Per web request, or for a
    call that needs other settings, make a view with `with_options(...)`.

    `AsyncClient()` with no arguments is configured from the environment (`ASYNCAPI_BASE_URL`,
    `ASYNCAPI_CLIENT_ID` + `ASYNCAPI_CLIENT_SECRET` [+ `ASYNCAPI_TOKEN_URL`] or
    `ASYNCAPI_ACCESS_TOKEN`, `ASYNCAPI_LOG`); an argument given always wins over its variable.

    Parameters (all but `base_url` keyword-only):

    - `base_url`: the API's root, such as `"https://api.example.com"`; default
      `ASYNCAPI_BASE_URL`. Plain `http://` is accepted only for loopback hosts (see
      `allow_insecure_http`).
    - `auth`: the auth strategy (`ClientCredentials(...)`, `BearerToken(...)`,
      `RefreshToken(...)`, `TokenProvider(...)`, or your own `Auth`); `None` for no auth. When
      not given, the credentials in the environment (if any) are used.
    - `timeout`: a `Timeout(total=, attempt=, connect=)` or seconds for all three; `None` for no
      limit. `total` bounds the whole call, retries and waits included. Default
      `Timeout(total=60, attempt=30, connect=10)`.
    - `transport`: how requests are sent (`HttpcoreTransport()` by default; `AiohttpTransport`,
      `Httpcore2Transport`, `PyreqwestTransport`, `ASGITransport(app)`, `MockTransport(handler)`).
      The client closes it when it closes. With `transport=`, give the network options below to
      that transport instead.
    - `headers`: headers sent on every call (names are case-insensitive).
    - `middleware`: callables `(request, call_next)` run once per call, outside the retry loop
      (logging, tracing, custom headers).
    - `attempt_middleware`: the same, run once per attempt, inside the retry loop.
    - `rate_limit`: how requests are paced. Default `RateLimit()`: the limit is learned from
      the server's rate-limit headers, or from its 429s when it sends none. `RateLimit(rate=50,
      burst=10)` for a known limit; `None` turns pacing off (429s are still counted).
    - `retry`: a `RetryPolicy(...)`: attempts, backoff, `Retry-After` cap, retry budget. Default
      `RetryPolicy()` (3 attempts). `with_options(retry=...)` changes it for one view.
    - `clock`: the time source (`Clock` protocol: `monotonic()`, `time()`, `sleep()`), for
      tests (`asyncapi_client.testing.FakeClock`).
    - `random`: the jitter source, a callable returning floats in [0, 1), for tests.
    - `allow_insecure_http`: allow a plain `http://` base URL to a non-loopback host (credentials
      would travel in clear text).
    - `proxy`: a proxy URL for every request (`http://user:pass@proxy:3128`); default: the
      `HTTP_PROXY` / `HTTPS_PROXY` / `ALL_PROXY` / `NO_PROXY` environment when `trust_env`.
      `None` goes direct.
    - `verify`: TLS verification: `True` (certifi, or `SSL_CERT_FILE` / `SSL_CERT_DIR` under
      `trust_env`), `False`, a CA bundle path, or an `ssl.SSLContext`.
    - `cert`: a client certificate for mutual TLS: a path to a PEM file, or (cert, key) or
      (cert, key, password).
    - `trust_env`: read proxies and CA locations from the environment (default `True`).
    - `max_response_bytes`: the largest response body accepted, after decoding (default
      32 MiB); past it the call fails with `ResponseTooLargeError`. `None` for no limit.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        auth: Auth | NotGiven | None = NOT_GIVEN,
        timeout: Timeout | float | None = DEFAULT_TIMEOUT,
        transport: Transport | None = None,
        headers: Mapping[str, str] | None = None,
        middleware: Sequence[Middleware] = (),
        attempt_middleware: Sequence[Middleware] = (),
        rate_limit: RateLimit | None = DEFAULT_RATE_LIMIT,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        random: Callable[[], float] | None = None,
        allow_insecure_http: bool = False,
        proxy: str | NotGiven | None = NOT_GIVEN,
        verify: VerifyTypes | NotGiven = NOT_GIVEN,
        cert: CertTypes | NotGiven | None = NOT_GIVEN,
        trust_env: bool | NotGiven = NOT_GIVEN,
        max_response_bytes: int | NotGiven | None = NOT_GIVEN,
    ) -> None:
        logging_from_env()
        if base_url is None:
            base_url = base_url_from_env()
        base_url = check_url(base_url, what="base_url", allow_insecure_http=allow_insecure_http)
        if isinstance(auth, NotGiven):
            auth = auth_from_env(base_url, allow_insecure_http=allow_insecure_http)
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
        # Network options go to the default transport; a transport you pass takes its own.
        network: dict[str, Any] = {
            name: value
            for name, value in (
                ("proxy", proxy),
                ("verify", verify),
                ("cert", cert),
                ("trust_env", trust_env),
                ("max_response_bytes", max_response_bytes),
            )
            if not isinstance(value, NotGiven)
        }
        self._shared = SharedState.build(
            base_url=base_url,
            transport=transport,
            network=network,
            middleware=middleware,
            attempt_middleware=attempt_middleware,
            rate_limit=rate_limit,
            retry=retry or RetryPolicy(),
            clock=clock or SYSTEM_CLOCK,
            random=random or _random.random,
        )
        self._auth = auth
        self._retry: RetryPolicy | None = None  # None: the client's policy (the pipeline's own)
        self._set_timeout(Timeout.coerce(timeout))
        self._headers: dict[str, str] = {
            "accept": "application/json",
            "user-agent": _USER_AGENT,
        }
        if headers:
            self._headers.update(check_headers(headers))

    def _set_timeout(self, timeout: Timeout) -> None:
        # Read once here rather than on every call: Timeout is frozen. (Called after `_auth`
        # is set: the backstop depends on it.)
        self._timeout = timeout
        total = self._total = timeout.total
        self._attempt_timeout = timeout.attempt_timeout()
        self._connect_timeout = timeout.connect
        # A backstop on the real clock: the retry layer enforces the deadline exactly; this
        # guarantees that nothing (a stuck user middleware, a hung transport) outlives it.
        self._backstop = None if total is None else total + 1.0
        # For a call this view builds (its own deadline and auth), it cannot fire first when
        # every layer holds the deadline itself (`pipeline_bounded`) and the auth strategy does
        # no I/O: then it is left out, a timer-wheel entry less per call.
        static_auth = self._auth is None or type(self._auth) is BearerToken
        self._built_backstop = None if self._shared.bounded and static_auth else self._backstop

    # -- views ---------------------------------------------------------------------------

    def with_options(
        self,
        *,
        auth: Auth | NotGiven | None = NOT_GIVEN,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | NotGiven = NOT_GIVEN,
    ) -> AsyncClient:
        """A view with other per-call settings that shares this client's pool, limiter,
        retry budget, token state and stats. Cheap (a few attribute copies): make one per web
        request, or per call that needs it.

        - `auth`: another auth strategy (a user's `BearerToken`), or `None` for none.
        - `timeout`: another `Timeout` (or seconds, or `None` for no limit).
        - `headers`: headers added to (or replacing) this view's headers.
        - `retry`: another `RetryPolicy` for this view's calls, such as
          `RetryPolicy(max_attempts=1)` for a call that must not be retried. The retry budget
          stays the client's: views draw from the same quota.

        A setting not given keeps this view's value. Pagers and bulk jobs made from a view use
        its settings for every page or chunk (`client.with_options(retry=...).projects.list()`;
        `list()` and `bulk_create()` also take `retry=` directly).
        """
        view = object.__new__(AsyncClient)
        view._shared = self._shared
        if isinstance(auth, NotGiven):
            view._auth = self._auth
        else:
            if auth is not None and not isinstance(auth, Auth):
                raise TypeError(f"auth must be an auth strategy, got {type(auth).__name__}")
            view._auth = auth
        if isinstance(retry, NotGiven):
            view._retry = self._retry
        else:
            if not isinstance(retry, RetryPolicy):
                raise TypeError(f"retry must be a RetryPolicy(...), got {type(retry).__name__}")
            view._retry = retry
        view._set_timeout(self._timeout if isinstance(timeout, NotGiven) else Timeout.coerce(timeout))
        if headers:
            merged = dict(self._headers)
            merged.update(check_headers(headers))
            view._headers = merged
        else:
            view._headers = self._headers
        return view

    # -- services ------------------------------------------------------------------------

    # Made on first use and kept in the view's __dict__ (cached_property): a view that never
    # touches a service pays nothing for it, and later reads are a plain attribute lookup.

    @cached_property
    def users(self) -> UsersService:
        """`UsersService`: `me()`, `get()`, `create()`, `list()`, `bulk_create()`, ..."""
        return UsersService(self)

    @cached_property
    def projects(self) -> ProjectsService:
        """`ProjectsService`: `get()`, `create()`, `update()`, `delete()`, `list()`, ..."""
        return ProjectsService(self)

    @cached_property
    def webhooks(self) -> WebhooksService:
        """`WebhooksService`: `create()`, `list()`, `get()`, `delete()`, `test()`, ..."""
        return WebhooksService(self)

    # -- sending -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The API root every path is joined to, without a trailing slash."""
        return self._shared.base_url

    @property
    def clock(self) -> Clock:
        """The time source the client (limiter, backoff, deadlines) reads."""
        return self._shared.clock

    @property
    def transport(self) -> Transport:
        """The transport requests go through (shared by every view)."""
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
            url += query_string(params)
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
        extensions = {
            "auth": self._auth,
            "deadline": deadline,
            "connect_timeout": self._connect_timeout,
            "retry": self._retry,
        }
        return new_request(method, url, merged, content, self._attempt_timeout, extensions)

    def _bare_request(self, method: str, path: str) -> Request:
        """`build_request(method, path)` for a call with no query parameters, body or headers of
        its own (most of the services' calls: a `GET`, a `DELETE`, a page whose query is already
        in `path`): the same Request, without walking the options."""
        shared = self._shared
        total = self._total
        return new_request(
            method,
            shared.base_url + path,
            self._headers.copy(),  # the request's own, as in build_request
            None,
            self._attempt_timeout,
            {
                "auth": self._auth,
                "deadline": None if total is None else shared.clock.monotonic() + total,
                "connect_timeout": self._connect_timeout,
                "retry": self._retry,
            },
        )

    async def send(self, request: Request) -> Response:
        """Send a Request through the whole pipeline and return the raw Response (any status)."""
        return await self._sent(request, False)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Send one call: `response = await client.request("GET", "/api/v1/users/me")`; raise
        the typed error for a non-2xx reply. The escape hatch for endpoints the services do not
        cover; the services send through the same `_sent`."""
        return await self._sent(
            self.build_request(method, path, params=params, json_body=json_body, headers=headers), True
        )

    async def _sent(self, request: Request, checked: bool) -> Response:
        # The services await this coroutine directly (`Service._call`), not through `request`:
        # every suspension of a request (for a connection, for the reply) passes each frame of
        # its await chain, measurable CPU at hundreds in flight. `send` and `request` stay
        # `async def` so that `inspect.iscoroutinefunction` and `create_autospec` see them as
        # coroutine functions (a user's mocks in tests depend on it).
        shared = self._shared
        if shared.closed:
            raise ClientClosedError(
                "this AsyncClient is closed; create a new one (or use it inside 'async with')"
            )
        shared.stats.requests += 1
        # `checked` calls are the ones this view built (`request`, the services): see
        # `_set_timeout` for when they need no backstop. A request given to `send` may carry
        # any deadline and auth, so it always gets one.
        backstop = self._built_backstop if checked else self._backstop
        try:
            if backstop is None:
                response = await shared.chain(request)
            else:
                with fail_after(backstop):  # anyio.fail_after's meaning, cheaper on asyncio
                    response = await shared.chain(request)
        except TimeoutError:
            shared.stats.errors += 1
            raise APITimeoutError(
                f"{request.method} {request.url} did not finish within its "
                f"{format_seconds(self._total)} deadline",
                request=request,
            ) from None
        except BaseException:
            shared.stats.errors += 1
            raise
        if not checked:
            return response
        sink = raw_sink.get()
        if sink is not None:  # inside `with_raw_response`: hand the response over
            sink.append(response)
        if not 200 <= response.status_code < 300:
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

    def rate_limit_status(self) -> RateLimitStatus:
        """The limiter's view: the server's last known limit, remaining and reset, the local
        bucket, 429s seen and time spent waiting (see `RateLimitStatus`)."""
        return self._shared.limiter.status()

    @property
    def is_closed(self) -> bool:
        """True once `aclose()` ran (on this client or any of its views)."""
        return self._shared.closed

    async def aclose(self) -> None:
        """Close the client and its transport, whether the client made it or was given it (as
        httpx does); every view of the client is closed with it. Idempotent."""
        shared = self._shared
        if shared.closed:
            return
        shared.closed = True
        closer = getattr(shared.limiter, "aclose", None)
        with anyio.CancelScope(shield=True):
            if closer is not None:
                await closer()
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
