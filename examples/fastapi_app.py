"""A small FastAPI app on the SDK: one shared client, the app's own credentials, per-user calls.

- `GET /projects?page=1&limit=20` lists projects with the app's service credentials (OAuth client
  credentials, one token cached and refreshed for the whole process).
- `GET /me` answers who the *caller* is: it forwards the caller's `Authorization: Bearer` token to
  `users.me` through `client.with_options(auth=...)`, a view sharing the pool and the limiter.
- `GET /stats` shows the shared client's counters.

Run it against the sandbox (from the repository root):

    asyncapi-sandbox serve --port 8000 &
    export ASYNCAPI_BASE_URL=http://127.0.0.1:8000 ASYNCAPI_CLIENT_ID=demo-client \
           ASYNCAPI_CLIENT_SECRET=demo-secret
    uvicorn examples.fastapi_app:app --port 8080
    curl -s localhost:8080/projects
    TOKEN=$(curl -s -u demo-client:demo-secret -d grant_type=client_credentials \
            localhost:8000/oauth/token | python -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
    curl -s -H "Authorization: Bearer $TOKEN" localhost:8080/me

Upstream failures become answers a browser or a calling service can act on: the caller's own
token refused -> 401; the API rate-limiting us -> 503 with `Retry-After`; any other API error
-> 502 naming the upstream status, code and request id; the API unreachable -> 504.
"""

import logging
import os
from datetime import datetime
from typing import Any

import attrs
from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from asyncapi_client import (
    APIConnectionError,
    APIStatusError,
    AsyncClient,
    AuthenticationError,
    ClientCredentials,
    LoggingMiddleware,
    RateLimit,
    RateLimitError,
)
from asyncapi_client.integrations.fastapi import (
    ClientDep,
    ClientFactory,
    UserClientDep,
    client_lifespan,
)

logger = logging.getLogger("fastapi_app")


class ProjectOut(BaseModel):
    id: int
    name: str
    description: str | None
    created_at: datetime
    updated_at: datetime


class ProjectsPage(BaseModel):
    projects: list[ProjectOut]
    page: int
    total_pages: int
    total_items: int


class UserOut(BaseModel):
    id: int
    name: str
    email: str


def client_from_env() -> AsyncClient:
    """The shared client, configured by `ASYNCAPI_BASE_URL`, `ASYNCAPI_CLIENT_ID` and
    `ASYNCAPI_CLIENT_SECRET` (and `ASYNCAPI_TOKEN_URL`, by default `BASE/oauth/token`), the
    variables the CLI reads too. Called at startup (not at import), so a missing variable stops the
    server with a message instead of failing the first request."""
    missing = [
        name
        for name in ("ASYNCAPI_BASE_URL", "ASYNCAPI_CLIENT_ID", "ASYNCAPI_CLIENT_SECRET")
        if not os.environ.get(name)
    ]
    if missing:
        raise RuntimeError(f"set {', '.join(missing)} (see the docstring of examples/fastapi_app.py)")
    base_url = os.environ["ASYNCAPI_BASE_URL"].rstrip("/")
    # Plain http is fine for a sandbox on this machine; the SDK refuses it for other hosts.
    return AsyncClient(
        base_url,
        auth=ClientCredentials(
            os.environ.get("ASYNCAPI_TOKEN_URL") or base_url + "/oauth/token",
            os.environ["ASYNCAPI_CLIENT_ID"],
            os.environ["ASYNCAPI_CLIENT_SECRET"],
        ),
        # The API limits each access token separately: one limiter partition per token, so one
        # busy caller does not slow the others (or the app's own calls) down.
        rate_limit=RateLimit(partition="token"),
        middleware=[LoggingMiddleware()],
    )


def create_app(client_factory: ClientFactory = client_from_env) -> FastAPI:
    app = FastAPI(title="asyncapi_client FastAPI example", lifespan=client_lifespan(client_factory))

    @app.get("/projects")
    async def list_projects(
        client: ClientDep,
        page: int = Query(1, ge=1),
        limit: int = Query(20, ge=1, le=100),
    ) -> ProjectsPage:
        result = await client.projects.list_page(page, limit)
        return ProjectsPage(
            projects=[
                ProjectOut(
                    id=p.id,
                    name=p.name,
                    description=p.description,
                    created_at=p.created_at,
                    updated_at=p.updated_at,
                )
                for p in result.data
            ],
            page=result.meta.current_page,
            total_pages=result.meta.total_pages,
            total_items=result.meta.total_items,
        )

    @app.get("/me", response_model=UserOut)
    async def me(client: UserClientDep) -> UserOut | JSONResponse:
        try:
            user = await client.users.me()
        except AuthenticationError:
            # The caller's token, not ours, was refused: tell the caller.
            return _error(
                401, "UNAUTHENTICATED", "the API refused your token", {"WWW-Authenticate": "Bearer"}
            )
        return UserOut(id=user.id, name=user.name, email=user.email)

    # Operational counters of the shared client; keep such a route internal in a real app.
    @app.get("/stats")
    async def stats(client: ClientDep) -> dict[str, Any]:
        return attrs.asdict(client.stats())

    @app.exception_handler(RateLimitError)
    async def rate_limited(request: Request, exc: RateLimitError) -> JSONResponse:
        headers = {"Retry-After": str(max(1, round(exc.retry_after)))} if exc.retry_after else None
        return _error(503, "UPSTREAM_RATE_LIMITED", "the API is rate-limiting us; retry later", headers)

    @app.exception_handler(APIStatusError)
    async def upstream_error(request: Request, exc: APIStatusError) -> JSONResponse:
        logger.warning("upstream error on %s: %s", request.url.path, exc)
        return _error(
            502,
            "UPSTREAM_ERROR",
            f"the API answered {exc.status_code}",
            details={
                "upstream_status": exc.status_code,
                "upstream_code": exc.code,
                "request_id": exc.request_id,
            },
        )

    @app.exception_handler(APIConnectionError)
    async def upstream_unreachable(request: Request, exc: APIConnectionError) -> JSONResponse:
        logger.warning("API unreachable on %s: %s", request.url.path, exc)
        return _error(504, "UPSTREAM_UNAVAILABLE", "the API could not be reached")

    return app


def _error(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    details: dict[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"error": {"code": code, "message": message}}
    if details is not None:
        body["error"]["details"] = details
    return JSONResponse(body, status_code=status, headers=headers)


app = create_app()
