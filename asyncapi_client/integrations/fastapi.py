"""FastAPI (and Starlette) integration: one shared client per app, handed to routes.

Needs the `fastapi` extra (`pip install 'asyncapi-client[fastapi]'`).

    from asyncapi_client import AsyncClient
    from asyncapi_client.integrations.fastapi import ClientDep, UserClientDep, client_lifespan

    app = FastAPI(lifespan=client_lifespan(lambda: AsyncClient(BASE_URL, auth=service_auth)))

    @app.get("/projects")
    async def projects(client: ClientDep) -> list[dict[str, Any]]:
        page = await client.projects.list_page(1, 20)  # the app's own credentials
        ...

    @app.get("/me")
    async def me(client: UserClientDep) -> dict[str, Any]:
        user = await client.users.me()                # the caller's bearer token, forwarded
        ...

Why this shape:
- One `AsyncClient` per process: it owns the connection pool, the rate limiter's view of the
  server, the retry budget and the token cache. The lifespan opens it at startup and closes it
  at shutdown, so no request ever pays for a new pool and no socket outlives the app.
- The client is built by a factory (or from `AsyncClient` keyword arguments) *inside* the
  lifespan, on the server's event loop, and a fresh one each time the lifespan runs (tests that
  start the app twice get two clients, not a closed one).
- The lifespan yields the client as lifespan state (`request.state.asyncapi_client`, the ASGI
  way, also seen by mounted sub-apps) and sets `app.state.asyncapi_client` (for code that only
  has the app, and servers without lifespan state). The app's own lifespan composes inside it
  (`client_lifespan(..., lifespan=app_lifespan)`): it starts after the client is open, can use
  `app.state.asyncapi_client`, and ends before the client closes.
- Per-user calls use `client.with_options(auth=...)`: a view that costs a few attribute copies
  and shares the pool, limiter, retry budget, token state and stats of the shared client.
- A route that asks for the client on an app without the lifespan gets
  `ClientNotConfiguredError`, which says what to add, instead of an AttributeError.
- An SDK error a route does not catch becomes an HTTP answer, not a 500: the dependencies map
  it with `default_error_mapper` (the caller's own token refused: 401; the API rate-limiting
  us: 503 with `Retry-After`; a timeout: 504; anything else: 502), so the app's callers see what happened
  upstream. An exception handler of the app's own for an error's class
  (`@app.exception_handler(RateLimitError)`) takes precedence; `client_lifespan(...,
  error_mapper=yours)` changes the mapping, `error_mapper=None` turns it off.
"""

import math
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from inspect import isawaitable, signature
from typing import Annotated, Any, Final, Union

from fastapi import Depends, HTTPException, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from .._client import AsyncClient
from .._errors import APIError, APIStatusError, APITimeoutError, AuthenticationError, RateLimitError
from .._secret import Secret
from ..auth import Auth, BearerToken

__all__ = [
    "STATE_KEY",
    "ClientDep",
    "ClientFactory",
    "ClientNotConfiguredError",
    "ErrorMapper",
    "UserClientDep",
    "client_dependency",
    "client_lifespan",
    "default_error_mapper",
    "for_user",
    "forwarded_bearer_token",
    "get_client",
    "user_client",
]

STATE_KEY: Final = "asyncapi_client"

ClientFactory = Callable[[], Union[AsyncClient, Awaitable[AsyncClient]]]
Lifespan = Callable[[Any], AbstractAsyncContextManager[Union[Mapping[str, Any], None]]]


class ClientNotConfiguredError(RuntimeError):
    """A route asked for the shared client, but the app has none: the lifespan is missing, or
    not running (a test that calls the app without starting its lifespan)."""


ErrorMapper = Callable[[APIError, bool], Union[HTTPException, None]]
"""`mapper(error, from_caller)`: the `HTTPException` to answer an SDK error a route did not
catch with, or None to let the error propagate (to your exception handlers, or a 500).
`from_caller` is True when the failed call carried the request's own credentials (a
`UserClientDep` view), False for the app's own client."""


def default_error_mapper(error: APIError, from_caller: bool) -> HTTPException:
    """The default mapping of SDK errors to HTTP answers:

    - 401 from the API on a call made with the caller's own token: 401 with
      `WWW-Authenticate: Bearer` (their token is the problem, they can fix it);
    - 429 from the API (after the client's own retries): 503 with `Retry-After` (the API's
      wait, rounded up to whole seconds; 1 when it gave none): we are throttled, try later;
    - a timeout (`APITimeoutError`): 504, as a gateway answers an upstream that did not reply
      in time;
    - anything else (another status, the app's own credentials refused, the API unreachable, a
      malformed reply): 502, the upstream failed.

    The body is `{"detail": {"code", "message", "upstream_status", "request_id"}}`; the message
    says what happened without quoting the API's own text.
    """
    status = error.status_code if isinstance(error, APIStatusError) else None
    request_id = error.request_id if isinstance(error, APIStatusError) else None
    detail: dict[str, Any] = {"upstream_status": status, "request_id": request_id}
    if isinstance(error, AuthenticationError) and from_caller:
        detail.update(code="UNAUTHENTICATED", message="the API refused your access token")
        return HTTPException(401, detail=detail, headers={"WWW-Authenticate": "Bearer"})
    if isinstance(error, RateLimitError):
        wait = error.retry_after
        seconds = max(1, math.ceil(wait)) if wait is not None and math.isfinite(wait) else 1
        detail.update(code="UPSTREAM_RATE_LIMITED", message="the API is rate-limiting us; retry later")
        return HTTPException(503, detail=detail, headers={"Retry-After": str(seconds)})
    if isinstance(error, APITimeoutError):
        detail.update(code="UPSTREAM_TIMEOUT", message="the API did not answer in time")
        return HTTPException(504, detail=detail)
    what = f"answered {status}" if status is not None else f"failed ({type(error).__name__})"
    detail.update(code="UPSTREAM_ERROR", message=f"the API {what}")
    return HTTPException(502, detail=detail)


def _mapper_key(state_key: str) -> str:
    return f"{state_key}_error_mapper"


def _answer(
    connection: HTTPConnection, state_key: str, error: APIError, from_caller: bool
) -> HTTPException | None:
    """What the dependency raises for `error`: None (let it through) when the app has its own
    exception handler for its class, or the mapping is off; else the mapper's answer."""
    handlers = getattr(connection.app, "exception_handlers", None) or {}
    if any(cls in handlers for cls in type(error).__mro__ if issubclass(cls, APIError)):
        return None  # `@app.exception_handler(RateLimitError)` and the like win
    mapper = _error_mapper(connection, state_key)
    return mapper(error, from_caller) if mapper is not None else None


def _error_mapper(connection: HTTPConnection, state_key: str) -> ErrorMapper | None:
    key = _mapper_key(state_key)
    if hasattr(connection.state, key):
        mapper: ErrorMapper | None = getattr(connection.state, key)
        return mapper
    return getattr(connection.app.state, key, default_error_mapper)


def _from_caller(error: APIError, view: AsyncClient) -> bool:
    """Whether the failed call went out with `view`'s credentials (each request carries its
    view's auth strategy, and a response its request)."""
    response = getattr(error, "response", None)
    request = getattr(response, "request", None)
    return request is not None and request.extensions.get("auth") is view._auth


def client_lifespan(
    factory: ClientFactory | None = None,
    /,
    *,
    lifespan: Lifespan | None = None,
    state_key: str = STATE_KEY,
    error_mapper: ErrorMapper | None = default_error_mapper,
    **client_kwargs: Any,
) -> Callable[[Any], AbstractAsyncContextManager[dict[str, Any]]]:
    """A lifespan for `FastAPI(lifespan=...)` that opens one shared `AsyncClient` at startup and
    closes it at shutdown.

    Give either `factory` (a callable, sync or async, returning a new client) or the keyword
    arguments of `AsyncClient` (`base_url=..., auth=...`); with neither, the client is
    `AsyncClient()`, configured by the environment (`ASYNCAPI_BASE_URL`, the credentials) when
    the app starts. `lifespan` is the app's own lifespan,
    run inside this one. `state_key` names the client in the lifespan state and `app.state`
    (use another key, and `client_dependency(key)`, for a second client). `error_mapper`
    turns SDK errors that routes do not catch into HTTP answers (`default_error_mapper`: 401
    for the caller's refused token, 503 for a rate limit, 502 otherwise); None turns it off.
    """
    if factory is not None and client_kwargs:
        raise TypeError("client_lifespan takes a factory or AsyncClient keyword arguments, not both")
    if factory is not None and not callable(factory):
        raise TypeError(
            f"factory must be a callable returning an AsyncClient, got {type(factory).__name__}; "
            "pass a function so that each app start gets a fresh client"
        )
    if client_kwargs:
        try:  # a misspelt argument fails here, where the app is defined, not at startup
            signature(AsyncClient).bind(**client_kwargs)
        except TypeError as exc:
            raise TypeError(f"client_lifespan: these are not AsyncClient arguments: {exc}") from None
    if not state_key.isidentifier():
        raise ValueError(f"state_key must be a Python identifier, got {state_key!r}")
    if error_mapper is not None and not callable(error_mapper):
        raise TypeError(f"error_mapper must be a callable (error, from_caller) or None, got {error_mapper!r}")
    mapper_key = _mapper_key(state_key)

    async def make_client() -> AsyncClient:
        if factory is None:
            return AsyncClient(**client_kwargs)
        made = factory()
        client = await made if isawaitable(made) else made
        if not isinstance(client, AsyncClient):
            raise TypeError(f"the client factory returned {type(client).__name__}, not an AsyncClient")
        return client

    @asynccontextmanager
    async def run(app: Any) -> AsyncIterator[dict[str, Any]]:
        client = await make_client()
        async with client:
            app_state = getattr(app, "state", None)
            if app_state is not None:
                setattr(app_state, state_key, client)
                setattr(app_state, mapper_key, error_mapper)
            try:
                if lifespan is None:
                    yield {state_key: client, mapper_key: error_mapper}
                else:
                    async with lifespan(app) as inner_state:
                        state = dict(inner_state or {})
                        if state_key in state and state[state_key] is not client:
                            raise RuntimeError(
                                f"the app's lifespan state already has {state_key!r}; "
                                "pass client_lifespan(..., state_key='another_name')"
                            )
                        state[state_key] = client
                        state[mapper_key] = error_mapper
                        yield state
            finally:
                if app_state is not None and getattr(app_state, state_key, None) is client:
                    delattr(app_state, state_key)
                    delattr(app_state, mapper_key)

    return run


def client_dependency(state_key: str = STATE_KEY) -> Callable[[HTTPConnection], AsyncIterator[AsyncClient]]:
    """A dependency giving the client that `client_lifespan(state_key=...)` opened; an SDK
    error the route does not catch is answered by the lifespan's `error_mapper`."""

    async def get_client(connection: HTTPConnection) -> AsyncIterator[AsyncClient]:
        """The shared client, for the route; SDK errors the route raises are mapped on the way out."""
        client = _shared_client(connection, state_key)
        try:
            yield client
        except APIError as error:
            answer = _answer(connection, state_key, error, False)
            if answer is None:
                raise
            raise answer from error

    get_client.__name__ = "get_client" if state_key == STATE_KEY else f"get_client_{state_key}"
    get_client.__qualname__ = get_client.__name__
    return get_client


def _shared_client(connection: HTTPConnection, state_key: str) -> AsyncClient:
    client = getattr(connection.state, state_key, None)
    if client is None:
        client = getattr(connection.app.state, state_key, None)
    if not isinstance(client, AsyncClient):
        raise ClientNotConfiguredError(
            f"no AsyncClient under {state_key!r} on this app: create the app with "
            "FastAPI(lifespan=client_lifespan(...)) (compose your own lifespan with "
            "client_lifespan(..., lifespan=yours)); in tests, start the lifespan "
            "('with TestClient(app)' or an ASGI lifespan manager)"
        )
    return client


get_client: Final = client_dependency()
"""The dependency: `client: AsyncClient = Depends(get_client)`, or annotate with `ClientDep`.
Outside a route, `_shared_client`'s lookup is `request.app.state.asyncapi_client`."""

ClientDep = Annotated[AsyncClient, Depends(get_client)]


def for_user(client: AsyncClient, credential: Auth | Secret | str) -> AsyncClient:
    """A view of `client` that calls as a user: an access token (str or `Secret`) becomes
    `BearerToken`, an auth strategy (`TokenProvider`, `ClientCredentials`, ...) is used as is.
    Shares the pool, limiter, retry budget and stats."""
    if isinstance(credential, (str, Secret)):
        return client.with_options(auth=BearerToken(credential))
    if isinstance(credential, Auth):
        return client.with_options(auth=credential)
    raise TypeError(
        f"a user credential must be an access token (str or Secret) or an auth strategy, "
        f"got {type(credential).__name__}"
    )


_bearer_scheme: Final = HTTPBearer(
    auto_error=False,
    scheme_name="BearerToken",
    description="An access token for the asyncapi API, forwarded to it on the caller's behalf.",
)


async def forwarded_bearer_token(
    credentials: HTTPAuthorizationCredentials | None = Security(_bearer_scheme),
) -> Secret:
    """A dependency: the caller's `Authorization: Bearer <token>`, as a `Secret`; 401 without it.

    Shows as a bearer security scheme in the OpenAPI docs."""
    token = credentials.credentials.strip() if credentials is not None else ""
    if not token or any(ch.isspace() for ch in token):
        raise HTTPException(
            status_code=401,
            detail="send 'Authorization: Bearer <access token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return Secret(token)


def user_client(
    token_getter: Callable[..., Any],
    *,
    client: Callable[..., Any] = get_client,
    state_key: str = STATE_KEY,
) -> Callable[..., AsyncIterator[AsyncClient]]:
    """A dependency factory: the shared client viewed as the calling user.

    `token_getter` is itself a dependency returning the user's credential: an access token (str
    or `Secret`), or an auth strategy such as a `TokenProvider` you keep per user or tenant
    (keep it, rather than make one per request, so its token cache lives on). Returning None
    answers 401. `client` is the dependency giving the shared client (another
    `client_dependency(key)` for a second client, with its `state_key`). An SDK error the route
    does not catch is answered by the lifespan's `error_mapper`, told whether the failed call
    carried the caller's credentials (a 401 then is theirs to fix).
    """

    async def dependency(
        connection: HTTPConnection,
        shared: AsyncClient = Depends(client),
        credential: Any = Depends(token_getter),
    ) -> AsyncIterator[AsyncClient]:
        if credential is None:
            raise HTTPException(
                status_code=401, detail="not authenticated", headers={"WWW-Authenticate": "Bearer"}
            )
        try:
            view = for_user(shared, credential)
        except ValueError:
            # BearerToken refuses an empty or padded token: the caller sent a malformed one.
            raise HTTPException(
                status_code=401, detail="malformed bearer token", headers={"WWW-Authenticate": "Bearer"}
            ) from None
        try:
            yield view
        except APIError as error:
            answer = _answer(connection, state_key, error, _from_caller(error, view))
            if answer is None:
                raise
            raise answer from error

    return dependency


UserClientDep = Annotated[AsyncClient, Depends(user_client(forwarded_bearer_token))]
"""The shared client calling with the request's own `Authorization: Bearer` token."""
