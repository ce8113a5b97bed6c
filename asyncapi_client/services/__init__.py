"""Resource services: thin layers that build a request, send it, and decode the reply."""

from .._raw_response import RawResponse
from .projects import ProjectsService, ProjectsWithRawResponse
from .users import UsersService, UsersWithRawResponse
from .webhooks import WebhooksService, WebhooksWithRawResponse

__all__ = [
    "ProjectsService",
    "ProjectsWithRawResponse",
    "RawResponse",
    "UsersService",
    "UsersWithRawResponse",
    "WebhooksService",
    "WebhooksWithRawResponse",
]
