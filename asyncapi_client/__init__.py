"""asyncapi_client: an asyncio client SDK for the asyncapi REST API.

async with AsyncClient("https://api.example.com", auth=BearerToken("...")) as client:
    me = await client.users.me()
"""

from typing import TYPE_CHECKING, Any

from ._bulk import BulkJob, BulkOutcome, BulkResult, InvalidItemError
from ._client import AsyncClient
from ._clock import Clock, SystemClock
from ._config import Timeout
from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    AuthorizationError,
    BadRequestError,
    ClientClosedError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    OAuthError,
    PaginationError,
    PermissionDeniedError,
    RateLimitError,
    ReconnectRequiredError,
    ResponseDecodeError,
    StateMismatchError,
    UnprocessableEntityError,
    WebhookVerificationError,
)
from ._logging import LoggingMiddleware, RedactingFilter
from ._models import NewUser, Page, PageMeta, Project, User, Webhook
from ._pagination import AsyncPager
from ._pipeline import CallNext, Middleware
from ._ratelimit import RateLimit, RateLimitStatus, RedisRateLimitBackend
from ._retry import RetryPolicy
from ._secret import Secret
from ._stats import StatsSnapshot
from ._types import Request, Response
from ._version import __version__
from .auth import (
    Auth,
    AuthorizationCodeFlow,
    BearerToken,
    ClientCredentials,
    MemoryTokenStore,
    RedisTokenStore,
    RefreshToken,
    TokenProvider,
    TokenSet,
    TokenStore,
)
from .services import RawResponse
from .transports import ASGITransport, HttpxTransport, MockTransport, Transport

if TYPE_CHECKING:
    from .transports import Httpx2Transport, PyreqwestTransport

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "ASGITransport",
    "AsyncClient",
    "AsyncPager",
    "Auth",
    "AuthenticationError",
    "AuthorizationCodeFlow",
    "AuthorizationError",
    "BadRequestError",
    "BearerToken",
    "BulkJob",
    "BulkOutcome",
    "BulkResult",
    "CallNext",
    "ClientClosedError",
    "ClientCredentials",
    "Clock",
    "ConflictError",
    "Httpx2Transport",
    "HttpxTransport",
    "InternalServerError",
    "InvalidItemError",
    "LoggingMiddleware",
    "MemoryTokenStore",
    "Middleware",
    "MockTransport",
    "NewUser",
    "NotFoundError",
    "OAuthError",
    "Page",
    "PageMeta",
    "PaginationError",
    "PermissionDeniedError",
    "Project",
    "PyreqwestTransport",
    "RateLimit",
    "RateLimitError",
    "RateLimitStatus",
    "RawResponse",
    "ReconnectRequiredError",
    "RedactingFilter",
    "RedisRateLimitBackend",
    "RedisTokenStore",
    "RefreshToken",
    "Request",
    "Response",
    "ResponseDecodeError",
    "RetryPolicy",
    "Secret",
    "StateMismatchError",
    "StatsSnapshot",
    "SystemClock",
    "Timeout",
    "TokenProvider",
    "TokenSet",
    "TokenStore",
    "Transport",
    "UnprocessableEntityError",
    "User",
    "Webhook",
    "WebhookVerificationError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    # The optional transports (extras httpx2, pyreqwest) are imported only when asked for.
    if name in ("Httpx2Transport", "PyreqwestTransport", "AiohttpTransport"):
        from . import transports

        return getattr(transports, name)
    raise AttributeError(f"module 'asyncapi_client' has no attribute {name!r}")
