"""Errors the sandbox's handlers raise; the app turns them into the JSON error envelope."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An /api/v1 error reply: `{"error": {"code", "message", "details"}}`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details if details is not None else {}
        self.headers = headers or []


def invalid(field: str | None, value: Any, message: str, **extra: Any) -> ApiError:
    details: dict[str, Any] = {"field": field, "value": value}
    details.update(extra)
    return ApiError(400, "INVALID_INPUT", message, details)


def not_found(what: str, value: Any) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"{what} {value} was not found", {"resource": what, "id": value})


class OAuthError(Exception):
    """A token endpoint error reply per RFC 6749 section 5.2."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description


class ConnectionDropped(ConnectionError):
    """Raised when a drop fault cannot reach the socket (an in-process ASGI transport)."""
