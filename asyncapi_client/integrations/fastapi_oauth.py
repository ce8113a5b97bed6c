"""FastAPI routes for the authorization code flow, and the client acting for the signed-in user.

Needs the `fastapi` extra. With a shared client opened by `client_lifespan` and an
`AuthorizationCodeFlow`:

    login = OAuthLogin(flow, user_id=current_user_id, cookie_secret=os.environ["LOGIN_SECRET"])
    login.install(app)          # GET /oauth/login, GET /oauth/callback, POST /oauth/disconnect

    @app.get("/me")
    async def me(client: Annotated[AsyncClient, Depends(login.user_client)]):
        return (await client.users.me()).name         # as the signed-in user's API account

Who is signed in is the app's business: `user_id` is a dependency returning the app's id for
the caller (None when nobody is signed in: 401). Tokens are stored under that id.

Why this shape:
- Between the login and its callback the state and the PKCE verifier live in one cookie,
  encrypted and authenticated (Fernet from `cryptography`, keyed by `cookie_secret` through
  HKDF) and stamped, so it expires after `login_ttl` seconds: no server-side session, so any
  worker can take the callback. It is `HttpOnly`, `SameSite=Lax` (sent on the top-level
  redirect back from the authorization server, not on cross-site subrequests), `Secure`
  unless `secure_cookie=False` (plain-http development), scoped to the callback's path, and
  deleted by the callback whatever its outcome. A second login started before the first
  returns replaces it; the first callback then fails its state check: start again.
- The cookie records which app user started the login; the callback refuses another one, so
  a login cannot be finished in someone else's session.
- `next` (the page to return to) must be a path on this site: no open redirect.
- The callback answers a failed login (`AuthorizationError`) with 400 (`access_denied`: 403)
  and `{"error": {"code": "LOGIN_FAILED", "oauth_error": ...}}`; any other `OAuthError` (an
  unknown client, the server down) with 502 `LOGIN_UNAVAILABLE`.
- `install(app)` also maps `ReconnectRequiredError`, raised by any route acting for a user
  whose grant is gone, to 401 `RECONNECT_REQUIRED` with the `login_url`.
"""

import base64
import json
from collections.abc import Callable
from typing import Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from .._client import AsyncClient
from .._clock import SYSTEM_CLOCK, Clock
from .._errors import AuthorizationError, OAuthError, ReconnectRequiredError
from .._secret import Secret, as_secret
from ..auth import AuthorizationCodeFlow, PendingAuthorization
from .fastapi import get_client

__all__ = ["LOGIN_COOKIE", "OAuthLogin"]

LOGIN_COOKIE: Final = "asyncapi_oauth_login"
_MIN_SECRET_CHARS: Final = 32


class OAuthLogin:
    """The login, callback and disconnect routes of one `AuthorizationCodeFlow` (see the
    module docstring). `router` is the `APIRouter` (under `prefix`); `user_client` is the
    dependency giving the shared client (`client`, by default `get_client`) acting for the
    signed-in user."""

    def __init__(
        self,
        flow: AuthorizationCodeFlow,
        *,
        user_id: Callable[..., Any],
        cookie_secret: str | Secret,
        after_login: str = "/",
        prefix: str = "/oauth",
        client: Callable[..., Any] = get_client,
        secure_cookie: bool = True,
        login_ttl: float = 600.0,
        clock: Clock | None = None,
    ) -> None:
        if not isinstance(flow, AuthorizationCodeFlow):
            raise TypeError(f"flow must be an AuthorizationCodeFlow, got {type(flow).__name__}")
        if not callable(user_id):
            raise TypeError("user_id must be a dependency (a callable) returning the signed-in user's id")
        secret = as_secret(cookie_secret)
        if len(secret.get()) < _MIN_SECRET_CHARS:
            raise ValueError(
                f"cookie_secret must be at least {_MIN_SECRET_CHARS} characters "
                "(for example secrets.token_urlsafe(32), kept with your other secrets)"
            )
        if not _is_local_path(after_login):
            raise ValueError(f"after_login must be a path on this site such as '/', got {after_login!r}")
        if not prefix.startswith("/") or prefix.endswith("/"):
            raise ValueError(f"prefix must start with '/' and not end with one, got {prefix!r}")
        if (
            isinstance(login_ttl, bool)
            or not isinstance(login_ttl, (int, float))
            or not 0 < login_ttl <= 3600
        ):
            raise ValueError(f"login_ttl must be a number of seconds in (0, 3600], got {login_ttl!r}")
        self.flow = flow
        self.login_path = prefix + "/login"
        self.callback_path = prefix + "/callback"
        self.disconnect_path = prefix + "/disconnect"
        self._after_login = after_login
        self._secure = bool(secure_cookie)
        self._ttl = int(max(1, login_ttl))
        self._clock = clock or SYSTEM_CLOCK
        self._fernet = _fernet(secret)
        self.user_client = self._user_client_dependency(user_id, client)
        self.router = self._routes(user_id, client)

    def install(self, app: FastAPI) -> None:
        """Add the routes to `app`, and the 401 answer to `ReconnectRequiredError`."""
        app.include_router(self.router)
        app.add_exception_handler(ReconnectRequiredError, self.reconnect_handler)

    def login_url(self, next: str | None = None) -> str:
        """The login route's path, with the page to come back to afterwards."""
        return self.login_path if next is None else f"{self.login_path}?{urlencode({'next': next})}"

    async def reconnect_handler(self, request: Request, exc: Exception) -> Response:
        return JSONResponse(
            {
                "error": {
                    "code": "RECONNECT_REQUIRED",
                    "message": "connect your account again",
                    "login_url": self.login_url(request.url.path if request.method == "GET" else None),
                }
            },
            status_code=401,
        )

    # -- the routes ----------------------------------------------------------------------

    def _user_client_dependency(
        self, user_id: Callable[..., Any], client: Callable[..., Any]
    ) -> Callable[..., Any]:
        flow = self.flow

        async def user_client(
            shared: AsyncClient = Depends(client), user: Any = Depends(user_id)
        ) -> AsyncClient:
            return shared.with_options(auth=flow.for_user(_signed_in(user)))

        return user_client

    def _routes(self, user_id: Callable[..., Any], client: Callable[..., Any]) -> APIRouter:
        router = APIRouter()

        @router.get(self.login_path, include_in_schema=False)
        async def login(request: Request, user: Any = Depends(user_id), next: str | None = None) -> Response:
            pending = self.flow.start()
            response = RedirectResponse(pending.url, status_code=303)
            back = next if next is not None and _is_local_path(next) else self._after_login
            self._set_cookie(response, pending, _signed_in(user), back)
            return response

        @router.get(self.callback_path, include_in_schema=False)
        async def callback(
            request: Request, shared: AsyncClient = Depends(client), user: Any = Depends(user_id)
        ) -> Response:
            signed_in = _signed_in(user)
            response: Response
            try:
                pending, started_by, back = self._read_cookie(request)
                if started_by != signed_in:
                    raise AuthorizationError("invalid_callback", "this login was started by another user")
                await self.flow.complete(shared, signed_in, pending, request.query_params)
            except AuthorizationError as exc:
                response = _error(403 if exc.error == "access_denied" else 400, "LOGIN_FAILED", exc)
            except OAuthError as exc:
                response = _error(502, "LOGIN_UNAVAILABLE", exc)
            else:
                response = RedirectResponse(back, status_code=303)
            response.delete_cookie(LOGIN_COOKIE, path=self.callback_path, secure=self._secure, httponly=True)
            return response

        @router.post(self.disconnect_path, include_in_schema=False)
        async def disconnect(shared: AsyncClient = Depends(client), user: Any = Depends(user_id)) -> Response:
            try:
                await self.flow.disconnect(shared, _signed_in(user))
            except OAuthError as exc:
                return _error(502, "DISCONNECT_FAILED", exc)
            return Response(status_code=204)

        return router

    # -- the login cookie ----------------------------------------------------------------

    def _set_cookie(self, response: Response, pending: PendingAuthorization, user: str, back: str) -> None:
        payload = {
            "state": pending.state.get(),
            "verifier": pending.code_verifier.get(),
            "redirect_uri": pending.redirect_uri,
            "scope": pending.scope,
            "user": user,
            "next": back,
        }
        token = self._fernet.encrypt_at_time(json.dumps(payload).encode(), int(self._clock.time()))
        response.set_cookie(
            LOGIN_COOKIE,
            token.decode(),
            max_age=self._ttl,
            path=self.callback_path,
            secure=self._secure,
            httponly=True,
            samesite="lax",
        )

    def _read_cookie(self, request: Request) -> tuple[PendingAuthorization, str, str]:
        from cryptography.fernet import InvalidToken

        raw = request.cookies.get(LOGIN_COOKIE)
        if not raw:
            raise AuthorizationError("invalid_callback", f"no login in progress: start at {self.login_path}")
        try:
            data = json.loads(self._fernet.decrypt_at_time(raw.encode(), self._ttl, int(self._clock.time())))
            pending = PendingAuthorization(
                url="",
                state=Secret(data["state"]),
                code_verifier=Secret(data["verifier"]),
                redirect_uri=data["redirect_uri"],
                scope=data["scope"],
            )
            return pending, str(data["user"]), str(data["next"])
        except (InvalidToken, ValueError, TypeError, KeyError):
            # Forged, altered, from another secret, or older than login_ttl: all one answer.
            raise AuthorizationError(
                "invalid_callback",
                f"the login expired or is not this site's: start again at {self.login_path}",
            ) from None


def _signed_in(user: Any) -> str:
    if user is None:
        raise HTTPException(status_code=401, detail="sign in first")
    if isinstance(user, bool) or not isinstance(user, (str, int)):
        raise TypeError(
            f"the user_id dependency must return a str, an int or None, got {type(user).__name__}"
        )
    return str(user)


def _is_local_path(path: str) -> bool:
    return isinstance(path, str) and path.startswith("/") and not path.startswith(("//", "/\\"))


def _error(status: int, code: str, exc: OAuthError) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": exc.message, "oauth_error": exc.error}}, status_code=status
    )


def _fernet(secret: Secret) -> Any:
    from cryptography.fernet import Fernet
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"asyncapi_client oauth login cookie")
    return Fernet(base64.urlsafe_b64encode(key.derive(secret.get().encode())))
