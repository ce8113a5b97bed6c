"""Resource services: thin layers that build a request, send it, and decode the reply."""

from ._base import RawResponse
from .projects import ProjectsService
from .users import UsersService
from .webhooks import WebhooksService

__all__ = ["ProjectsService", "RawResponse", "UsersService", "WebhooksService"]
