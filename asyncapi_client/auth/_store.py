"""Where token sets live between refreshes: the `TokenStore` protocol and the in-memory default.

An OAuth strategy keeps its current token in its own attributes (the fast path reads nothing
else). It consults its store only when it needs a new token: first `get` (someone sharing the
store may have refreshed already), then, under `lock`, `get` again and, if still needed, a token
request followed by `set`. A 401 calls `delete(only_if=<the rejected token>)`, so a token that
another holder has already replaced is never thrown away.

Sharing one store (and one key) between several auth objects makes them refresh once between
them; `RedisTokenStore` does the same across processes and hosts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol, runtime_checkable

import anyio

from ._tokens import TokenSet


@runtime_checkable
class TokenStore(Protocol):
    """Shared token state. `key` names one credential (the auth object derives it from the token
    URL, client id and scope, or takes `store_key=`).

    `get` may return an expired token set (a refresh token outlives its access token); the auth
    object checks expiry itself. `lock(key)` serialises refreshes between the store's users; a
    distributed implementation must give the lock an expiry, so a crashed holder blocks others
    only until then.
    """

    async def get(self, key: str) -> TokenSet | None:
        """The token set stored under `key`, expired or not; None when there is none."""

    async def set(self, key: str, token: TokenSet) -> None:
        """Store `token` under `key`, replacing what was there."""

    async def delete(self, key: str, *, only_if: TokenSet | None = None) -> None:
        """Forget `key`'s token set; with `only_if`, only while it is still that one (a 401 drops the
        token it was sent with, not a newer one)."""

    def lock(self, key: str) -> AbstractAsyncContextManager[None]:
        """An async context manager held while one user of the store refreshes `key`."""


class MemoryTokenStore:
    """Token sets in a dict, refreshes serialised by one `anyio.Lock` per key.

    Every OAuth strategy has a private one by default; pass one instance to several strategies
    (for example one per user session in a web app, shared by several clients) to make them
    refresh once between them. One event loop only.
    """

    __slots__ = ("_tokens", "_locks")

    def __init__(self) -> None:
        self._tokens: dict[str, TokenSet] = {}
        self._locks: dict[str, anyio.Lock] = {}

    async def get(self, key: str) -> TokenSet | None:
        """See `TokenStore.get`."""
        return self._tokens.get(key)

    async def set(self, key: str, token: TokenSet) -> None:
        """See `TokenStore.set`."""
        self._tokens[key] = token

    async def delete(self, key: str, *, only_if: TokenSet | None = None) -> None:
        """See `TokenStore.delete`."""
        current = self._tokens.get(key)
        if current is None:
            return
        if only_if is None or current.access_token == only_if.access_token:
            del self._tokens[key]

    def lock(self, key: str) -> AbstractAsyncContextManager[None]:
        """See `TokenStore.lock`: one `anyio.Lock` per key."""
        return self._locked(key)

    @asynccontextmanager
    async def _locked(self, key: str) -> AsyncIterator[None]:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = anyio.Lock()
        async with lock:
            yield

    def __repr__(self) -> str:
        return f"MemoryTokenStore(keys={len(self._tokens)})"
