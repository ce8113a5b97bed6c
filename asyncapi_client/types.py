"""Types for annotating code that uses the SDK: the dict forms of the models (`to_dict()`'s
return types) and the JSON values of an error's `details`.

    from asyncapi_client.types import ErrorDetails, ProjectDict

    def row(project: Project) -> ProjectDict:
        return project.to_dict()
"""

from ._errors import ErrorDetails, JSONValue
from ._models import (
    NewUserDict,
    PageDict,
    PageMetaDict,
    ProjectDict,
    UserDict,
    WebhookDeliveryDict,
    WebhookDict,
)

__all__ = [
    "ErrorDetails",
    "JSONValue",
    "NewUserDict",
    "PageDict",
    "PageMetaDict",
    "ProjectDict",
    "UserDict",
    "WebhookDeliveryDict",
    "WebhookDict",
]
