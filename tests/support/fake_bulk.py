"""A fake `POST /api/v1/users/bulk` for MockTransport, faithful to the contract: all-or-nothing,
400 INVALID_INPUT / 409 CONFLICT with `details.index`, Idempotency-Key replays."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from asyncapi_client._types import Request, Response
from tests.support.fake_api import FakeAPI

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def error(status: int, code: str, message: str, details: dict[str, Any]) -> Response:
    return Response.json_response(status, {"error": {"code": code, "message": message, "details": details}})


class FakeBulk(FakeAPI):
    """Creates users in memory. `existing` emails conflict. `fault(n, items)` may return a
    Response (or raise) for the n-th request before it is processed; `after(n, response)` may
    replace a processed reply (the change is kept, as a lost reply would). Requests from number
    `hold_from` on never answer; in-flight accounting as in `FakeAPI`."""

    def __init__(
        self,
        *,
        existing: set[str] = frozenset(),  # type: ignore[assignment]
        delay: float = 0.0,
        max_bulk: int = 100,
        fault: Callable[[int, list[Any]], Response | None] | None = None,
        after: Callable[[int, Response], Response] | None = None,
        hold_from: int | None = None,
    ) -> None:
        super().__init__(delay=delay)
        self.emails: set[str] = {e.lower() for e in existing}
        self.users: list[dict[str, Any]] = []
        self.max_bulk = max_bulk
        self.fault = fault
        self.after = after
        self.hold_from = hold_from
        self.requests: list[tuple[str | None, list[Any]]] = []  # (key, body)
        self.replays = 0
        self.stored: dict[str, tuple[bytes, Response]] = {}

    @property
    def sent_emails(self) -> list[str]:
        return [item.get("email") for _, body in self.requests for item in body if isinstance(item, dict)]

    async def handler(self, request: Request) -> Response:
        assert request.method == "POST" and request.url.endswith("/api/v1/users/bulk")
        body = json.loads(request.content or b"null")
        key = request.headers.get("idempotency-key")
        number = len(self.requests)
        self.requests.append((key, body))
        await self.wait_to_reply(hold=self.hold_from is not None and number >= self.hold_from)
        if self.fault is not None:
            faulty = self.fault(number, body)
            if faulty is not None:
                return faulty
        if key is not None and key in self.stored:
            content, reply = self.stored[key]
            if content != request.content:
                return error(422, "IDEMPOTENCY_KEY_REUSED", "key reused", {"field": "Idempotency-Key"})
            self.replays += 1
            return reply
        reply = self._process(body)
        if key is not None:
            self.stored[key] = (request.content or b"", reply)
        if self.after is not None:
            reply = self.after(number, reply)
        return reply

    def _process(self, body: Any) -> Response:
        if not isinstance(body, list) or not 1 <= len(body) <= self.max_bulk:
            return error(400, "INVALID_INPUT", "bad bulk body", {"field": "body", "max": self.max_bulk})
        for index, item in enumerate(body):
            if not isinstance(item, dict) or set(item) - {"name", "email"}:
                return error(400, "INVALID_INPUT", "bad item", {"index": index, "field": None})
            name, email = item.get("name"), item.get("email")
            if not isinstance(name, str) or not name.strip():
                return error(400, "INVALID_INPUT", "name", {"index": index, "field": "name", "value": name})
            if not isinstance(email, str) or not _EMAIL.match(email):
                return error(
                    400, "INVALID_INPUT", "email", {"index": index, "field": "email", "value": email}
                )
        seen: set[str] = set()
        for index, item in enumerate(body):
            lowered = item["email"].lower()
            if lowered in self.emails or lowered in seen:
                return error(
                    409, "CONFLICT", "exists", {"index": index, "field": "email", "value": item["email"]}
                )
            seen.add(lowered)
        created = []
        for item in body:
            user = {
                "id": len(self.users) + 1,
                "name": item["name"],
                "email": item["email"],
                "created_at": "2026-01-01T00:00:00Z",
            }
            self.users.append(user)
            self.emails.add(item["email"].lower())
            created.append(user)
        return Response.json_response(201, {"data": created})


def people(n: int, *, bad: set[int] = frozenset(), start: int = 0) -> list[dict[str, str]]:  # type: ignore[assignment]
    """n records; the indices in `bad` have an invalid email (the server rejects them)."""
    return [
        {"name": f"user {i}", "email": f"not-an-email-{i}" if i in bad else f"user{i}@example.com"}
        for i in range(start, start + n)
    ]
