"""Auth strategies: a fixed `BearerToken`, and OAuth 2.0 (`ClientCredentials`, `RefreshToken`,
`TokenProvider`) with single-flight refresh, shared across objects and processes through a
`TokenStore` (`MemoryTokenStore`, `RedisTokenStore`); and, for web apps acting for their users,
the authorization code flow with PKCE and per-user tokens (`AuthorizationCodeFlow`)."""

from ._authcode import PendingAuthorization
from ._base import Auth, AuthMiddleware, BearerToken
from ._engine import TokenAuth
from ._flow import AuthorizationCodeFlow, OnUserToken
from ._grants import ClientCredentials, RefreshToken
from ._provider import TokenProvider
from ._redis import RedisTokenStore
from ._revocation import IntrospectedToken
from ._store import MemoryTokenStore, TokenStore
from ._tokens import TokenSet
from ._user_tokens import UserTokenAuth

__all__ = [
    "Auth",
    "AuthMiddleware",
    "AuthorizationCodeFlow",
    "BearerToken",
    "ClientCredentials",
    "IntrospectedToken",
    "MemoryTokenStore",
    "OnUserToken",
    "PendingAuthorization",
    "RedisTokenStore",
    "RefreshToken",
    "TokenAuth",
    "TokenProvider",
    "TokenSet",
    "TokenStore",
    "UserTokenAuth",
]
