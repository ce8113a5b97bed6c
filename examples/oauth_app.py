"""A web app whose users connect their asyncapi accounts: authorization code + PKCE, per user.

- `GET /signin?user=NAME`: a stand-in for the app's own login (a signed `app_user` cookie).
  Your app has its own; the SDK only needs a dependency that returns the signed-in user's id.
- `GET /oauth/login`, `GET /oauth/callback`, `POST /oauth/disconnect`: the SDK's login routes
  (`OAuthLogin`). The login sends the browser to the API's authorization page; the callback
  redeems the code and stores the user's tokens under their app user id.
- `GET /me`, `GET /projects`: calls to the API *as the signed-in user*, through a view of the
  one shared client (`client.with_options(auth=flow.for_user(...))`, given by the dependency).
  A user who has not connected (or whose grant was revoked) gets 401 with the `login_url`.

Run it against the sandbox (from the repository root), then open http://127.0.0.1:8080/signin?user=ada
and follow the links; the sandbox shows a consent page where you pick the API user:

    asyncapi-sandbox serve --port 8000 &
    export ASYNCAPI_BASE_URL=http://127.0.0.1:8000 ASYNCAPI_CLIENT_ID=demo-client \
           ASYNCAPI_CLIENT_SECRET=demo-secret APP_URL=http://127.0.0.1:8080 \
           APP_SECRET=$(python -c 'import secrets; print(secrets.token_urlsafe(32))')
    uvicorn --factory examples.oauth_app:create_app --port 8080

Set `REDIS_URL` to keep the users' tokens in Redis: then several workers (`uvicorn --workers 4`)
share them, and refresh each user's token once between them. (`--factory`: the app is built at
startup from the environment, so a missing variable stops the server with a message.)
"""

import hashlib
import hmac
import logging
import os
from typing import Any

import attrs
from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import RedirectResponse

from asyncapi_client import AsyncClient, AuthorizationCodeFlow, RedisTokenStore, TokenSet, TokenStore
from asyncapi_client.integrations.fastapi import client_lifespan
from asyncapi_client.integrations.fastapi_oauth import OAuthLogin

logger = logging.getLogger("oauth_app")


@attrs.frozen
class Settings:
    api_url: str
    client_id: str
    client_secret: str
    app_url: str
    app_secret: str
    redis_url: str | None = None

    @classmethod
    def from_env(cls) -> "Settings":
        names = ("ASYNCAPI_BASE_URL", "ASYNCAPI_CLIENT_ID", "ASYNCAPI_CLIENT_SECRET", "APP_URL", "APP_SECRET")
        missing = [name for name in names if not os.environ.get(name)]
        if missing:
            raise RuntimeError(f"set {', '.join(missing)} (see the docstring of examples/oauth_app.py)")
        return cls(
            api_url=os.environ["ASYNCAPI_BASE_URL"].rstrip("/"),
            client_id=os.environ["ASYNCAPI_CLIENT_ID"],
            client_secret=os.environ["ASYNCAPI_CLIENT_SECRET"],
            app_url=os.environ["APP_URL"].rstrip("/"),
            app_secret=os.environ["APP_SECRET"],
            redis_url=os.environ.get("REDIS_URL") or None,
        )


def _sign(secret: str, user: str) -> str:
    return hmac.new(secret.encode(), user.encode(), hashlib.sha256).hexdigest()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    store: TokenStore | None = RedisTokenStore(settings.redis_url) if settings.redis_url else None

    async def rotated(user_id: str, token_set: TokenSet) -> None:
        # Called for every login and every refresh. A store already keeps the new tokens; this
        # is where an app would also record them (an audit log, its own database).
        logger.info("new tokens for app user %s (expires in %s s)", user_id, token_set.expires_in)

    flow = AuthorizationCodeFlow(
        settings.api_url + "/oauth/authorize",
        settings.api_url + "/oauth/token",
        settings.client_id,
        settings.client_secret,
        redirect_uri=settings.app_url + "/oauth/callback",
        revocation_url=settings.api_url + "/oauth/revoke",
        scope="users:read projects:read",
        store=store,
        on_token=rotated,
    )

    def current_user(request: Request) -> str | None:
        """The app's signed-in user: `name.signature` in the `app_user` cookie."""
        name, _, signature = request.cookies.get("app_user", "").rpartition(".")
        if name and hmac.compare_digest(signature, _sign(settings.app_secret, name)):
            return name
        return None

    login = OAuthLogin(
        flow,
        user_id=current_user,
        cookie_secret=settings.app_secret,
        after_login="/me",
        secure_cookie=settings.app_url.startswith("https://"),
    )
    app = FastAPI(
        title="asyncapi_client OAuth example",
        lifespan=client_lifespan(base_url=settings.api_url),
    )
    login.install(app)

    @app.get("/signin")
    async def signin(
        user: str = Query(min_length=1, max_length=40, pattern=r"^[a-z0-9_-]+$"),
    ) -> RedirectResponse:
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(
            "app_user",
            f"{user}.{_sign(settings.app_secret, user)}",
            httponly=True,
            samesite="lax",
            secure=settings.app_url.startswith("https://"),
        )
        return response

    @app.get("/")
    async def home(user: str | None = Depends(current_user)) -> dict[str, Any]:
        connected = user is not None and await flow.tokens(user) is not None
        return {"user": user, "connected": connected, "login_url": login.login_url("/me")}

    @app.get("/me")
    async def me(client: AsyncClient = Depends(login.user_client)) -> dict[str, Any]:
        account = await client.users.me()
        return {"id": account.id, "name": account.name, "email": account.email}

    @app.get("/projects")
    async def projects(
        client: AsyncClient = Depends(login.user_client), page: int = Query(1, ge=1)
    ) -> dict[str, Any]:
        result = await client.projects.list_page(page, 10)
        return {"page": page, "names": [p.name for p in result.data]}

    return app
