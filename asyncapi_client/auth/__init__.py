"""Auth strategies. `BearerToken` is a fixed token; OAuth 2.0 flows live beside it."""

from ._base import Auth, AuthMiddleware, BearerToken

__all__ = ["Auth", "AuthMiddleware", "BearerToken"]
