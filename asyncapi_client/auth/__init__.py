"""Auth strategies: a fixed `BearerToken`, and OAuth 2.0 (`ClientCredentials`, `RefreshToken`,
`TokenProvider`) with single-flight refresh, shared across objects and processes through a
`TokenStore` (`MemoryTokenStore`, `RedisTokenStore`)."""

from ._base import Auth, AuthMiddleware, BearerToken
from ._engine import TokenAuth
from ._grants import ClientCredentials, RefreshToken
from ._provider import TokenProvider
from ._redis import RedisTokenStore
from ._store import MemoryTokenStore, TokenStore
from ._tokens import TokenSet

__all__ = [
    "Auth",
    "AuthMiddleware",
    "BearerToken",
    "ClientCredentials",
    "MemoryTokenStore",
    "RedisTokenStore",
    "RefreshToken",
    "TokenAuth",
    "TokenProvider",
    "TokenSet",
    "TokenStore",
]
