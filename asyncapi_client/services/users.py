"""`client.users`: the current user, lookups, creation, and listing."""

from __future__ import annotations

from typing import Any

from .._decode import decode_model, decode_page
from .._models import NewUser, Page, User
from ._base import Service


def _user_body(name: str | None, email: str | None, user: NewUser | None) -> dict[str, Any]:
    if user is not None:
        return user.to_json()
    if not name or not email:
        raise ValueError("users.create needs name and email (or a NewUser)")
    return {"name": name, "email": email}


class UsersService(Service):
    __slots__ = ()

    async def me(self) -> User:
        return decode_model(await self._call("GET", "/api/v1/users/me"), User)

    async def get(self, user_id: int) -> User:
        return decode_model(await self._call("GET", f"/api/v1/users/{int(user_id)}"), User)

    async def create(
        self,
        name: str | None = None,
        email: str | None = None,
        *,
        user: NewUser | None = None,
        idempotency_key: str | None = None,
    ) -> User:
        headers = {"idempotency-key": idempotency_key} if idempotency_key else None
        response = await self._call(
            "POST", "/api/v1/users", json_body=_user_body(name, email, user), headers=headers
        )
        return decode_model(response, User)

    async def list_page(self, page: int = 1, limit: int = 20) -> Page[User]:
        """One page of users."""
        response = await self._call("GET", "/api/v1/users", params={"page": page, "limit": limit})
        return decode_page(response, User)

    async def list(self, page: int = 1, limit: int = 20) -> Page[User]:
        return await self.list_page(page, limit)
