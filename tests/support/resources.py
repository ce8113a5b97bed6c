"""Canned API records, as the server sends them, for tests that fake a reply."""

from __future__ import annotations

from typing import Any

USER: dict[str, Any] = {"id": 1, "name": "Ada", "email": "ada@example.com", "created_at": "2024-01-01T00:00:00Z"}
PROJECT: dict[str, Any] = {
    "id": 7,
    "name": "Apollo",
    "description": None,
    "created_at": "2024-01-01T00:00:00Z",
    "updated_at": "2024-01-02T00:00:00Z",
}
