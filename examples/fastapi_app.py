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

Upstream failures become answers a browser or a calling service can act on, by the
integration's default mapping (`default_error_mapper`): the caller's own token refused -> 401;
the API rate-limiting us -> 503 with `Retry-After`; a timeout -> 504; any other API error or the
API unreachable -> 502 naming the upstream status and request id.
"""

import os
from datetime import datetime
from typing import Any

import attrs
from fastapi import FastAPI, Query
from pydantic import BaseModel

from asyncapi_client import AsyncClient, LoggingMiddleware, RateLimit
from asyncapi_client.integrations.fastapi import (
    ClientDep,
    ClientFactory,
    UserClientDep,
    client_lifespan,
)


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
    `ASYNCAPI_CLIENT_SECRET` (and `ASYNCAPI_TOKEN_URL`, by default `BASE/oauth/token`), which
    `AsyncClient()` reads, as the CLI does. Called at startup (not at import), so a missing
    variable stops the server with a message instead of failing the first request."""
    if not os.environ.get("ASYNCAPI_CLIENT_ID"):
        # Without credentials AsyncClient() would make an unauthenticated client; this app
        # needs its own. (A half-set pair, or no base URL, AsyncClient() refuses by itself.)
        raise RuntimeError("set ASYNCAPI_CLIENT_ID and ASYNCAPI_CLIENT_SECRET (see examples/fastapi_app.py)")
    # Plain http is fine for a sandbox on this machine; the SDK refuses it for other hosts.
    return AsyncClient(
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
    async def me(client: UserClientDep) -> UserOut:
        # The caller's own token: if the API refuses it, the caller gets a 401 (the default
        # error mapping), not a 500.
        user = await client.users.me()
        return UserOut(id=user.id, name=user.name, email=user.email)

    # Operational counters of the shared client; keep such a route internal in a real app.
    @app.get("/stats")
    async def stats(client: ClientDep) -> dict[str, Any]:
        return attrs.asdict(client.stats())

    return app


app = create_app()
