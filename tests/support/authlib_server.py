"""An authorization server built from authlib's own server parts, for the flow's tests.

`AuthorizationServer`, `AuthorizationCodeGrant` with `CodeChallenge(required=True)` (PKCE),
`RefreshTokenGrant` (rotating), `RevocationEndpoint` (RFC 7009) and `IntrospectionEndpoint`
(RFC 7662) do the deciding; this module only gives them in-memory models and a Starlette app
to speak HTTP through. Authorization is auto-approved for `server.user` (a test sets who is
"logged in" at the authorization server), or denied when `server.deny` is set. An API route,
`GET /api/v1/users/me`, answers for a valid access token.
"""

from __future__ import annotations

import secrets
import time
from collections import defaultdict
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749 import (
    AuthorizationServer,
    ClientMixin,
    JsonRequest,
    OAuth2Payload,
    OAuth2Request,
    grants,
)
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

CLIENT_ID = "web-app"
CLIENT_SECRET = "authlib-client-secret-value"
REDIRECT_URI = "http://127.0.0.1/app/callback"  # never fetched: the test reads the redirect


class Client(ClientMixin):
    def __init__(self, client_id: str, secret: str | None, redirect_uris: list[str]) -> None:
        self.client_id, self.secret, self.redirect_uris = client_id, secret, redirect_uris

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uris[0]

    def get_allowed_scope(self, scope: str | None) -> str:
        return scope or ""

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return self.secret is not None and secrets.compare_digest(client_secret, self.secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return (
            method == "none"
            if self.secret is None
            else method in ("client_secret_basic", "client_secret_post")
        )

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


class Code:
    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)

    def get_redirect_uri(self) -> str:
        return self.redirect_uri  # type: ignore[no-any-return]

    def get_scope(self) -> str:
        return self.scope  # type: ignore[no-any-return]

    def is_expired(self) -> bool:
        return False


class Token:
    def __init__(self, client_id: str, user: str, **fields: Any) -> None:
        self.client_id, self.user, self.revoked, self.scope = client_id, user, False, ""
        self.issued_at = time.time()
        self.__dict__.update(fields)

    def check_client(self, client: Client) -> bool:
        return self.client_id == client.client_id

    def get_scope(self) -> str:
        return self.scope  # type: ignore[no-any-return]

    def get_expires_in(self) -> int:
        return self.expires_in  # type: ignore[no-any-return]

    def is_expired(self) -> bool:
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.revoked

    def get_user(self) -> str:
        return self.user


class _Payload(OAuth2Payload):
    def __init__(self, values: dict[str, str], multi: dict[str, list[str]]) -> None:
        self._data, self._multi = values, multi

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._multi


class _Request(OAuth2Request):
    """authlib's request model over what Starlette read (query and form, merged as Flask's
    `request.values` would be)."""

    def __init__(
        self, method: str, url: str, headers: Any, query: list[tuple[str, str]], form: list[tuple[str, str]]
    ):
        super().__init__(method, url, headers=headers)
        multi: dict[str, list[str]] = defaultdict(list)
        for k, v in [*query, *form]:
            multi[k].append(v)
        self._args, self._form = dict(query), dict(form)
        self.payload = _Payload({**self._args, **self._form}, multi)

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


class AuthlibServer(AuthorizationServer):  # type: ignore[misc]
    def __init__(self, *, access_ttl: int = 3600) -> None:
        super().__init__()
        self.clients = {CLIENT_ID: Client(CLIENT_ID, CLIENT_SECRET, [REDIRECT_URI])}
        self.codes: dict[str, Code] = {}
        self.tokens: list[Token] = []
        self.token_requests: list[dict[str, str]] = []
        self.user = "alice"
        self.deny = False
        self.access_ttl = access_ttl
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                access_token_generator=lambda **_: "at-" + secrets.token_urlsafe(16),
                refresh_token_generator=lambda **_: "rt-" + secrets.token_urlsafe(16),
                expires_generator=lambda client, grant_type: self.access_ttl,
            ),
        )
        outer = self

        class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS: ClassVar = ["client_secret_basic", "client_secret_post", "none"]

            def save_authorization_code(self, code: str, request: Any) -> None:
                data = request.payload.data
                outer.codes[code] = Code(
                    code=code,
                    client_id=request.client.client_id,
                    redirect_uri=data.get("redirect_uri"),
                    scope=data.get("scope") or "",
                    user=request.user,
                    code_challenge=data.get("code_challenge"),
                    code_challenge_method=data.get("code_challenge_method"),
                )

            def query_authorization_code(self, code: str, client: Client) -> Code | None:
                found = outer.codes.get(code)
                return found if found is not None and found.client_id == client.client_id else None

            def delete_authorization_code(self, authorization_code: Code) -> None:
                outer.codes.pop(authorization_code.code, None)  # single use

            def authenticate_user(self, authorization_code: Code) -> str:
                return authorization_code.user  # type: ignore[no-any-return]

        class RotatingRefresh(grants.RefreshTokenGrant):  # type: ignore[misc]
            TOKEN_ENDPOINT_AUTH_METHODS: ClassVar = ["client_secret_basic", "client_secret_post", "none"]
            INCLUDE_NEW_REFRESH_TOKEN = True

            def authenticate_refresh_token(self, refresh_token: str) -> Token | None:
                return outer.find(refresh_token, "refresh_token")

            def authenticate_user(self, refresh_token: Token) -> str:
                return refresh_token.user

            def revoke_old_credential(self, refresh_token: Token) -> None:
                refresh_token.revoked = True

        class Revocation(RevocationEndpoint):  # type: ignore[misc]
            CLIENT_AUTH_METHODS: ClassVar = ["client_secret_basic", "client_secret_post", "none"]

            def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
                return outer.find(token_string, token_type_hint, include_inactive=True)

            def revoke_token(self, token: Token, request: Any) -> None:
                token.revoked = True

        class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
            CLIENT_AUTH_METHODS: ClassVar = ["client_secret_basic", "client_secret_post"]

            def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
                return outer.find(token_string, token_type_hint, include_inactive=True)

            def check_permission(self, token: Token, client: Client, request: Any) -> bool:
                return True

            def introspect_token(self, token: Token) -> dict[str, Any]:
                return {
                    "active": True,
                    "client_id": token.client_id,
                    "token_type": "Bearer",
                    "username": token.user,
                    "scope": token.get_scope(),
                    "sub": token.user,
                    "exp": int(token.issued_at + token.expires_in),
                }

        self.register_grant(CodeGrant, [CodeChallenge(required=True)])
        self.register_grant(RotatingRefresh)
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)

    def find(self, value: str, hint: str | None, *, include_inactive: bool = False) -> Token | None:
        for token in self.tokens:
            matches = (hint in (None, "access_token") and token.access_token == value) or (
                hint in (None, "refresh_token") and getattr(token, "refresh_token", None) == value
            )
            if matches and (
                include_inactive or not (token.revoked or (hint == "access_token" and token.is_expired()))
            ):
                return token
        return None

    # -- what authlib asks of a framework integration -----------------------------------

    def query_client(self, client_id: str) -> Client | None:
        return self.clients.get(client_id)

    def save_token(self, token: dict[str, Any], request: Any) -> None:
        self.tokens.append(Token(request.client.client_id, request.user, **token))

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass

    def create_oauth2_request(self, request: Any) -> OAuth2Request:
        return request  # already an _Request (see `app`)

    def create_json_request(self, request: Any) -> JsonRequest:
        raise NotImplementedError

    def handle_response(self, status: int, body: Any, headers: list[tuple[str, str]]) -> Response:
        if isinstance(body, dict):
            return JSONResponse(body, status_code=status, headers=dict(headers))
        return Response(body, status_code=status, headers=dict(headers))

    # -- the app -------------------------------------------------------------------------

    def app(self) -> Starlette:
        async def oauth_request(request: Request) -> _Request:
            form = parse_qsl((await request.body()).decode(), keep_blank_values=True)
            return _Request(
                request.method,
                str(request.url),
                request.headers,
                list(request.query_params.multi_items()),
                form,
            )

        async def authorize(request: Request) -> Response:
            req = await oauth_request(request)
            grant = self.get_consent_grant(req, end_user=self.user)
            return self.create_authorization_response(
                req, grant_user=None if self.deny else self.user, grant=grant
            )  # type: ignore[no-any-return]

        async def token(request: Request) -> Response:
            req = await oauth_request(request)
            self.token_requests.append(dict(req.form))
            return self.create_token_response(req)  # type: ignore[no-any-return]

        async def revoke(request: Request) -> Response:
            return self.create_endpoint_response("revocation", await oauth_request(request))  # type: ignore[no-any-return]

        async def introspect(request: Request) -> Response:
            return self.create_endpoint_response("introspection", await oauth_request(request))  # type: ignore[no-any-return]

        async def me(request: Request) -> Response:
            value = request.headers.get("authorization", "").removeprefix("Bearer ")
            found = self.find(value, "access_token")
            if found is None:
                return JSONResponse({"error": {"code": "UNAUTHENTICATED", "message": "bad token"}}, 401)
            return JSONResponse(
                {
                    "id": 1,
                    "name": found.user,
                    "email": f"{found.user}@example.com",
                    "created_at": "2024-01-01T00:00:00Z",
                }
            )

        return Starlette(
            routes=[
                Route("/oauth/authorize", authorize, methods=["GET"]),
                Route("/oauth/token", token, methods=["POST"]),
                Route("/oauth/revoke", revoke, methods=["POST"]),
                Route("/oauth/introspect", introspect, methods=["POST"]),
                Route("/api/v1/users/me", me, methods=["GET"]),
            ]
        )
