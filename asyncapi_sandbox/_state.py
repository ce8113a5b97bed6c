"""The sandbox's in-memory state: resources, tokens, rate buckets, idempotency records, counters.

Everything here runs on the server's single event loop, so plain dicts suffice (no locks).
Times shown to clients are RFC 3339 UTC; expiry and buckets use `time.monotonic()`.
"""

from __future__ import annotations

import math
import random
import secrets
import time
import unicodedata
from collections import Counter
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Final

from ._config import SandboxConfig
from ._limits import Limiter, TokenBucket, limit_headers, new_limiter, retry_after_seconds
from ._seed import ADJECTIVES, FIRST_NAMES, LAST_NAMES, NOUNS, seeded_time

if TYPE_CHECKING:
    from ._authorize import AuthorizationCode

REFRESH_TOKEN_TTL: Final = 30 * 24 * 3600.0


def rfc3339(moment: datetime) -> str:
    return (
        moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    )


def now_rfc3339() -> str:
    return rfc3339(datetime.now(timezone.utc))


class Stats:
    """Counters served by `GET /_sandbox/stats`."""

    def __init__(self) -> None:
        # A gauge of live delivery tasks ((event, webhook) pairs being sent or waiting to be
        # re-sent), not a counter: a reset leaves it, since the tasks end on their own.
        self.webhook_pending = 0
        self.reset()

    def reset(self) -> None:
        self.requests_total = 0
        self.token_requests: dict[str, int] = {
            "client_credentials": 0,
            "refresh_token": 0,
            "authorization_code": 0,
        }
        self.token_errors = 0
        self.authorizations: dict[str, int] = {"approved": 0, "denied": 0}
        self.revocations = 0
        self.responses_by_status: Counter[int] = Counter()
        self.rate_limited = 0
        self.users_created = 0
        self.projects_created = 0
        self.projects_updated = 0
        self.projects_deleted = 0
        self.duplicate_creates = 0
        self.bulk_requests = 0
        self.idempotent_replays = 0
        self.webhook_succeeded = 0
        self.webhook_failed = 0
        self.webhook_events = 0
        self.faults: dict[str, int] = {"fail": 0, "drop": 0, "malformed": 0, "truncate": 0}
        self.in_flight = 0
        self.max_in_flight = 0


class AccessToken:
    """`user_id` is the user a token acts for (None: the client itself, client credentials);
    `grant_id` the authorization it descends from, so that revoking one ends all its tokens."""

    __slots__ = ("client_id", "expires_at", "scope", "bucket", "secondary", "user_id", "grant_id")

    def __init__(
        self,
        client_id: str,
        expires_at: float,
        scope: str | None,
        user_id: int | None = None,
        grant_id: int | None = None,
    ) -> None:
        self.client_id = client_id
        self.expires_at = expires_at
        self.scope = scope
        self.bucket: Limiter | None = None  # the rate limit's state, made on first use
        self.secondary: TokenBucket | None = None
        self.user_id = user_id
        self.grant_id = grant_id


class RefreshToken:
    __slots__ = ("client_id", "expires_at", "scope", "user_id", "grant_id")

    def __init__(
        self,
        client_id: str,
        expires_at: float,
        scope: str | None,
        user_id: int | None = None,
        grant_id: int | None = None,
    ) -> None:
        self.client_id = client_id
        self.expires_at = expires_at
        self.scope = scope
        self.user_id = user_id
        self.grant_id = grant_id


class Limit:
    """The outcome of taking one request from a limiter; `headers` go on the response,
    `retry_after` (when not None) as a Retry-After on a refusal; `wait` is the seconds until
    one would be granted (for the error envelope)."""

    __slots__ = ("allowed", "headers", "retry_after", "wait")

    def __init__(
        self, allowed: bool, headers: list[tuple[bytes, bytes]], retry_after: int | None, wait: int
    ) -> None:
        self.allowed = allowed
        self.headers = headers
        self.retry_after = retry_after
        self.wait = wait


class State:
    """Resources and credentials. `reset()` restores the seeded data; tokens survive it."""

    def __init__(self, config: SandboxConfig) -> None:
        self.initial_config = config
        self.config = config
        self.stats = Stats()
        self.access_tokens: dict[str, AccessToken] = {}
        self.refresh_tokens: dict[str, RefreshToken] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.consents: dict[str, tuple[float, dict[str, str]]] = {}
        self._next_grant_id = 1
        self.me_ids: dict[str, int] = {}
        self.reset()

    # -- data -----------------------------------------------------------------------------

    def reset(self) -> None:
        config = self.config = self.initial_config
        self.stats.reset()
        self.fault_random = random.Random(config.seed)
        self.users: dict[int, dict[str, Any]] = {}
        self.emails: set[str] = set()
        self.projects: dict[int, dict[str, Any]] = {}
        self.project_names: Counter[str] = Counter()
        self.page_cache: dict[tuple[str, int, int], bytes] = {}
        self._project_list: list[dict[str, Any]] | None = None
        self._user_list: list[dict[str, Any]] | None = None
        self.webhooks: dict[int, dict[str, Any]] = {}
        self.deliveries: dict[int, list[dict[str, Any]]] = {}
        self.idempotency: dict[tuple[str, int, str], Any] = {}
        self.next_user_id = 1
        self.next_project_id = 1
        self.next_webhook_id = 1
        self.next_delivery_id = 1
        for token in self.access_tokens.values():
            token.bucket = token.secondary = None
        data_random = random.Random(config.seed)
        self.me_ids = {}
        me = self.add_user("Demo Client", f"{config.client_id}@example.com", rfc3339(seeded_time(0)))
        self.me_ids[config.client_id] = me["id"]
        for index in range(1, config.users):
            first, last = data_random.choice(FIRST_NAMES), data_random.choice(LAST_NAMES)
            local = (
                unicodedata.normalize("NFKD", f"{first}.{last}.{index}").encode("ascii", "ignore").decode()
            )
            email = f"{local}@example.com".lower()
            self.add_user(f"{first} {last}", email, rfc3339(seeded_time(index)))
        for index in range(config.projects):
            name = f"{data_random.choice(ADJECTIVES)} {data_random.choice(NOUNS)} {index + 1}"
            stamp = rfc3339(seeded_time(index))
            self.add_project(name, f"Seeded project number {index + 1}.", stamp)
        # Creations by clients are what the counters measure; the seed does not count.
        self.stats.users_created = 0
        self.stats.projects_created = 0

    def add_user(self, name: str, email: str, created_at: str | None = None) -> dict[str, Any]:
        user: dict[str, Any] = {
            "id": self.next_user_id,
            "name": name,
            "email": email,
            "created_at": created_at or now_rfc3339(),
        }
        self.next_user_id += 1
        self.users[user["id"]] = user
        self.emails.add(email.lower())
        self._user_list = None
        self.page_cache.clear()
        self.stats.users_created += 1
        return user

    def add_project(self, name: str, description: str, created_at: str | None = None) -> dict[str, Any]:
        stamp = created_at or now_rfc3339()
        project: dict[str, Any] = {
            "id": self.next_project_id,
            "name": name,
            "description": description,
            "created_at": stamp,
            "updated_at": stamp,
        }
        self.next_project_id += 1
        self.projects[project["id"]] = project
        if self.project_names[name]:
            self.stats.duplicate_creates += 1
        self.project_names[name] += 1
        self._project_list = None
        self.page_cache.clear()
        self.stats.projects_created += 1
        return project

    def update_project(self, project: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
        if "name" in changes and changes["name"] != project["name"]:
            self.project_names[project["name"]] -= 1
            self.project_names[changes["name"]] += 1
        project.update(changes)
        project["updated_at"] = now_rfc3339()
        self._project_list = None
        self.page_cache.clear()
        self.stats.projects_updated += 1
        return project

    def delete_project(self, project_id: int) -> dict[str, Any]:
        project = self.projects.pop(project_id)
        self.project_names[project["name"]] -= 1
        self._project_list = None
        self.page_cache.clear()
        self.stats.projects_deleted += 1
        return project

    def project_list(self) -> list[dict[str, Any]]:
        if self._project_list is None:
            self._project_list = list(self.projects.values())
        return self._project_list

    def user_list(self) -> list[dict[str, Any]]:
        if self._user_list is None:
            self._user_list = list(self.users.values())
        return self._user_list

    # -- credentials ----------------------------------------------------------------------

    def issue_tokens(
        self, client_id: str, scope: str | None, *, user_id: int | None = None, grant_id: int | None = None
    ) -> tuple[str, str]:
        now = time.monotonic()
        if len(self.access_tokens) > 10_000:
            self._purge(now)
        access = secrets.token_urlsafe(24)
        refresh = secrets.token_urlsafe(32)
        self.access_tokens[access] = AccessToken(
            client_id, now + self.config.token_ttl, scope, user_id, grant_id
        )
        self.refresh_tokens[refresh] = RefreshToken(
            client_id, now + REFRESH_TOKEN_TTL, scope, user_id, grant_id
        )
        return access, refresh

    def new_grant_id(self) -> int:
        grant_id, self._next_grant_id = self._next_grant_id, self._next_grant_id + 1
        return grant_id

    def revoke_grant(self, grant_id: int) -> None:
        """End an authorization: every access and refresh token it gave."""
        for store in (self.access_tokens, self.refresh_tokens):
            for key in [k for k, v in store.items() if v.grant_id == grant_id]:
                del store[key]

    def me_id(self, token: AccessToken) -> int:
        """The user a token acts for: its grant's user, or the client's own user."""
        return token.user_id if token.user_id is not None else self.me_ids.get(token.client_id, -1)

    def _purge(self, now: float) -> None:
        for key in [k for k, v in self.access_tokens.items() if v.expires_at <= now]:
            del self.access_tokens[key]
        for key in [k for k, v in self.refresh_tokens.items() if v.expires_at <= now]:
            del self.refresh_tokens[key]

    def authenticate(self, token: str) -> AccessToken | None:
        record = self.access_tokens.get(token)
        if record is None:
            return None
        if record.expires_at <= time.monotonic():
            del self.access_tokens[token]
            return None
        return record

    def expire_access_tokens(self) -> int:
        count = len(self.access_tokens)
        self.access_tokens.clear()
        return count

    # -- rate limit -----------------------------------------------------------------------

    def take(self, token: AccessToken) -> Limit | None:
        """Take one request from this access token's limiter (`_limits.py`); None when no
        limit is configured."""
        config = self.config
        if config.rate <= 0 and config.secondary_rate <= 0:
            return None
        now = time.monotonic()
        wall = time.time()
        headers: list[tuple[bytes, bytes]] = []
        allowed = True
        retry_after: int | None = None
        if config.rate > 0:
            limiter = token.bucket
            if limiter is None:
                limiter = token.bucket = new_limiter(
                    config.limiter,
                    rate=config.rate,
                    burst=config.effective_burst,
                    quota=config.quota,
                    window=config.window,
                    now=now,
                    wall=wall,
                )
            verdict = limiter.take(now, wall)
            headers = limit_headers(config.limit_headers, verdict, wall, config.rate)
            allowed = verdict.allowed
            retry_after = None if allowed else retry_after_seconds(verdict)
        if allowed and config.secondary_rate > 0:
            secondary = token.secondary
            if secondary is None:
                burst = max(1, math.ceil(config.secondary_rate))
                secondary = token.secondary = TokenBucket(config.secondary_rate, burst, now)
            verdict = secondary.take(now, wall)
            allowed = verdict.allowed
            retry_after = None if allowed else retry_after_seconds(verdict)
        if not allowed:
            self.stats.rate_limited += 1
        return Limit(allowed, headers, retry_after if config.retry_after else None, retry_after or 0)

    # -- stats ----------------------------------------------------------------------------

    def stats_json(self) -> dict[str, Any]:
        s = self.stats
        return {
            "requests_total": s.requests_total,
            "token_requests": dict(s.token_requests),
            "token_errors": s.token_errors,
            "authorizations": dict(s.authorizations),
            "revocations": s.revocations,
            "responses_by_status": {str(k): v for k, v in sorted(s.responses_by_status.items())},
            "rate_limited": s.rate_limited,
            "users_created": s.users_created,
            "projects_created": s.projects_created,
            "projects_updated": s.projects_updated,
            "projects_deleted": s.projects_deleted,
            "duplicate_creates": s.duplicate_creates,
            "bulk_requests": s.bulk_requests,
            "idempotent_replays": s.idempotent_replays,
            "webhook_deliveries": {"succeeded": s.webhook_succeeded, "failed": s.webhook_failed},
            "webhook_events": s.webhook_events,
            "webhook_deliveries_pending": s.webhook_pending,
            "faults": dict(s.faults),
            "drops": s.faults["drop"],
            "users_total": len(self.users),
            "projects_total": len(self.projects),
            "webhooks_total": len(self.webhooks),
            "active_tokens": len(self.access_tokens),
            "in_flight": s.in_flight,
            "max_in_flight": s.max_in_flight,
        }
