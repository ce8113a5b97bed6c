"""asyncapi_client: an asyncio client SDK for the asyncapi REST API.

async with AsyncClient("https://api.example.com", auth=BearerToken("...")) as client:
    me = await client.users.me()
"""

from ._client import AsyncClient
from ._clock import Clock, SystemClock
from ._config import Timeout
from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    OAuthError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    UnprocessableEntityError,
    WebhookVerificationError,
)
from ._models import NewUser, Page, PageMeta, Project, User, Webhook
from ._pipeline import CallNext, Middleware
from ._ratelimit import RateLimit
from ._retry import RetryPolicy
from ._secret import Secret
from ._stats import StatsSnapshot
from ._types import Request, Response
from ._version import __version__
from .auth import Auth, BearerToken
from .services import RawResponse
from .transports import ASGITransport, HttpxTransport, MockTransport, Transport

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "ASGITransport",
    "AsyncClient",
    "Auth",
    "AuthenticationError",
    "BadRequestError",
    "BearerToken",
    "CallNext",
    "ClientClosedError",
    "Clock",
    "ConflictError",
    "HttpxTransport",
    "InternalServerError",
    "Middleware",
    "MockTransport",
    "NewUser",
    "NotFoundError",
    "OAuthError",
    "Page",
    "PageMeta",
    "PermissionDeniedError",
    "Project",
    "RateLimit",
    "RateLimitError",
    "RawResponse",
    "Request",
    "Response",
    "ResponseDecodeError",
    "RetryPolicy",
    "Secret",
    "StatsSnapshot",
    "SystemClock",
    "Timeout",
    "Transport",
    "UnprocessableEntityError",
    "User",
    "Webhook",
    "WebhookVerificationError",
    "__version__",
]
