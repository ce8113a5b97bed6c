"""asyncapi_client: an asyncio client SDK for the asyncapi REST API.

async with AsyncClient("https://api.example.com", auth=BearerToken("...")) as client:
    me = await client.users.me()
"""

from typing import TYPE_CHECKING, Any

from ._client import AsyncClient
from ._clock import Clock, SystemClock
from ._config import Timeout
from ._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AsyncioRequiredError,
    AuthenticationError,
    AuthorizationError,
    BadRequestError,
    CheckpointMismatchError,
    ClientClosedError,
    ConflictError,
    InternalServerError,
    InvalidItemError,
    NotFoundError,
    OAuthError,
    PaginationError,
    PermissionDeniedError,
    RateLimitError,
    ReconnectRequiredError,
    ResponseDecodeError,
    ResponseTooLargeError,
    StateMismatchError,
    UnprocessableEntityError,
    WebhookVerificationError,
)
from ._logging import LoggingMiddleware, RedactingFilter
from ._models import CreatedWebhook, NewUser, Page, PageMeta, Project, User, Webhook
from ._not_given import NOT_GIVEN, NotGiven
from ._page_split import PageSplit, split_pages
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
from .services._bulk import BulkJob, BulkOutcome, BulkResult
from .transports import LAZY as _LAZY_TRANSPORTS
from .transports import ASGITransport, MockTransport, Transport

if TYPE_CHECKING:
    from .transports import AiohttpTransport, Httpcore2Transport, HttpcoreTransport, PyreqwestTransport
    from .transports import Httpx2Transport as Httpx2Transport  # deprecated names, for type checkers
    from .transports import HttpxTransport as HttpxTransport

__all__ = [
    "APIConnectionError",
    "AsyncioRequiredError",
    "CheckpointMismatchError",
    "PageSplit",
    "split_pages",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "ASGITransport",
    "AiohttpTransport",
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
    "CreatedWebhook",
    "Httpcore2Transport",
    "HttpcoreTransport",
    "InternalServerError",
    "InvalidItemError",
    "LoggingMiddleware",
    "MemoryTokenStore",
    "Middleware",
    "MockTransport",
    "NOT_GIVEN",
    "NewUser",
    "NotFoundError",
    "NotGiven",
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
    "ResponseTooLargeError",
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
    # The transports over a network library (the default one too) are imported on first use:
    # see asyncapi_client.transports.
    if name in _LAZY_TRANSPORTS:
        from . import transports

        return getattr(transports, name)
    # The former names of the httpcore transports: served with a warning, not in __all__.
    if name.startswith("Httpx") and name.endswith("Transport"):
        from .transports import _deprecated_alias

        return _deprecated_alias(name, stacklevel=3)
    raise AttributeError(f"module 'asyncapi_client' has no attribute {name!r}")
