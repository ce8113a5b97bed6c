"""The /api/v1 resource handlers: validate input, change the state, say what to reply.

Each handler takes the request context and returns `(status, payload)`; `payload` is JSON-able,
already encoded bytes, or None for 204. Errors are raised as `ApiError`. Handlers are synchronous, so one request's
change is atomic with respect to the others (the server runs one event loop).

One module for users, projects and webhooks (a little over 400 lines): they share the
validation and paging helpers, and the route table at the end is the whole API on one screen.
"""

from __future__ import annotations

import base64
import json
import math
import re
import secrets
from collections.abc import Callable, Mapping
from typing import Any, Final
from urllib.parse import parse_qsl, urlsplit

from ._errors import ApiError, invalid, not_found
from ._state import State, now_rfc3339

EVENT_TYPES: Final = frozenset({"user.created", "project.created", "project.updated", "project.deleted"})
_EMAIL: Final = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
_NAME_MAX: Final = 100
_DESCRIPTION_MAX: Final = 1000
_DEFAULT_LIMIT: Final = 20
_MAX_LIMIT: Final = 100

Emit = Callable[[str, dict[str, Any]], None]


class Context:
    """What a handler needs to know about its request."""

    __slots__ = ("state", "method", "client_id", "me_id", "query", "body", "content_type", "emit")

    def __init__(
        self,
        state: State,
        method: str,
        client_id: str,
        query: bytes,
        body: bytes,
        content_type: str,
        emit: Emit,
        me_id: int = -1,
    ) -> None:
        self.state = state
        self.method = method
        self.client_id = client_id
        self.me_id = me_id  # the user the access token acts for (see State.me_id)
        self.query = query
        self.body = body
        self.content_type = content_type
        self.emit = emit

    def json(self) -> Any:
        if not self.body:
            raise invalid("body", None, "the request body is empty; send a JSON document")
        if self.content_type and "json" not in self.content_type:
            raise ApiError(
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                f"the request body must be application/json, got {self.content_type!r}",
                {"field": "content-type", "value": self.content_type},
            )
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise invalid("body", None, f"the request body is not valid JSON: {exc}") from None

    def json_object(self) -> dict[str, Any]:
        data = self.json()
        if not isinstance(data, dict):
            raise invalid("body", _kind(data), f"the request body must be a JSON object, got {_kind(data)}")
        return data


Result = tuple[int, Any]


def _kind(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number"
    )


# -- validation -----------------------------------------------------------------------------


def _only(data: Mapping[str, Any], allowed: frozenset[str], index: int | None = None) -> None:
    for key in data:
        if key not in allowed:
            raise _at(invalid(key, data[key], f"unknown field {key!r}"), index)


def _at(error: ApiError, index: int | None) -> ApiError:
    if index is not None:
        error.details = {"index": index, **error.details}
        error.message = f"item {index}: {error.message}"
    return error


def _text(
    data: Mapping[str, Any], field: str, *, maximum: int, required: bool, minimum: int = 1
) -> str | None:
    if field not in data:
        if required:
            raise invalid(field, None, f"{field} is required")
        return None
    value = data[field]
    if not isinstance(value, str):
        raise invalid(field, value, f"{field} must be a string, got {_kind(value)}")
    if len(value.strip()) < minimum:
        raise invalid(field, value, f"{field} must not be empty")
    if len(value) > maximum:
        raise invalid(field, value, f"{field} must be at most {maximum} characters, got {len(value)}")
    return value


def _email(data: Mapping[str, Any]) -> str:
    value = data.get("email")
    if "email" not in data:
        raise invalid("email", None, "email is required")
    if not isinstance(value, str):
        raise invalid("email", value, f"email must be a string, got {_kind(value)}")
    if len(value) > 254 or not _EMAIL.match(value):
        raise invalid("email", value, "The provided email address is not valid.")
    return value


_USER_FIELDS: Final = frozenset({"name", "email"})
_PROJECT_FIELDS: Final = frozenset({"name", "description"})
_WEBHOOK_FIELDS: Final = frozenset({"url", "events"})


def _new_user(item: Any, index: int | None = None) -> tuple[str, str]:
    if not isinstance(item, dict):
        where = "each bulk item" if index is not None else "the request body"
        raise _at(invalid(None, item, f"{where} must be a JSON object, got {_kind(item)}"), index)
    try:
        _only(item, _USER_FIELDS)
        name = _text(item, "name", maximum=_NAME_MAX, required=True)
        email = _email(item)
    except ApiError as error:
        raise _at(error, index) from None
    assert name is not None
    return name, email


def _page_args(query: bytes) -> tuple[int, int]:
    page, limit = 1, _DEFAULT_LIMIT
    if query:
        for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if key == "page":
                if not (value.isascii() and value.isdigit()) or int(value) < 1:
                    raise invalid("page", value, f"page must be an integer >= 1, got {value!r}")
                page = int(value)
            elif key == "limit":
                if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= _MAX_LIMIT:
                    raise invalid(
                        "limit", value, f"limit must be an integer from 1 to {_MAX_LIMIT}, got {value!r}"
                    )
                limit = int(value)
    return page, limit


def _paginate(state: State, kind: str, items: list[dict[str, Any]], query: bytes) -> bytes:
    """A page as JSON bytes, cached until the collection changes (the benchmarks' hot path)."""
    page, limit = _page_args(query)
    cache = state.page_cache
    key = (kind, page, limit)
    encoded = cache.get(key)
    if encoded is None:
        if len(cache) > 2000:
            cache.clear()
        encoded = cache[key] = json.dumps(
            _page(items, page, limit), separators=(",", ":"), ensure_ascii=False
        ).encode()
    return encoded


def _page(items: list[dict[str, Any]], page: int, limit: int) -> dict[str, Any]:
    total = len(items)
    start = (page - 1) * limit
    return {
        "data": items[start : start + limit],
        "meta": {
            "currentPage": page,
            "totalPages": math.ceil(total / limit),
            "totalItems": total,
            "itemsPerPage": limit,
        },
    }


def _id(raw: str, what: str) -> int:
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise not_found(what, raw)
    return int(raw)


# -- users ----------------------------------------------------------------------------------


def users_me(ctx: Context) -> Result:
    user = ctx.state.users.get(ctx.me_id)
    if user is None:
        raise ApiError(404, "NOT_FOUND", "the token's user was not found", {"resource": "user"})
    return 200, user


def users_list(ctx: Context) -> Result:
    return 200, _paginate(ctx.state, "users", ctx.state.user_list(), ctx.query)


def users_get(ctx: Context, raw_id: str) -> Result:
    user = ctx.state.users.get(_id(raw_id, "user"))
    if user is None:
        raise not_found("user", raw_id)
    return 200, user


def _conflict(email: str, index: int | None) -> ApiError:
    details: dict[str, Any] = {"field": "email", "value": email}
    message = f"a user with email {email!r} already exists"
    if index is not None:
        details = {"index": index, **details}
        message = f"item {index}: {message}"
    return ApiError(409, "CONFLICT", message, details)


def _every(errors: list[ApiError]) -> ApiError:
    """One reply naming every bulk item at fault: the first item's error as before (`details`
    with its `index`, `field`, `value`), plus `details.errors`, one `{"index", "field", "value",
    "code", "message"}` per item at fault, so a client settles them all in one round trip."""
    first = errors[0]
    listed = [{**error.details, "code": error.code, "message": error.message} for error in errors]
    first.details = {**first.details, "errors": listed}
    return first


def users_create(ctx: Context) -> Result:
    name, email = _new_user(ctx.json_object())
    if email.lower() in ctx.state.emails:
        raise _conflict(email, None)
    user = ctx.state.add_user(name, email)
    ctx.emit("user.created", user)
    return 201, user


def users_bulk(ctx: Context) -> Result:
    state = ctx.state
    state.stats.bulk_requests += 1
    items = ctx.json()
    if not isinstance(items, list):
        raise invalid("body", _kind(items), f"a bulk request body must be a JSON array, got {_kind(items)}")
    maximum = state.config.max_bulk
    if not 1 <= len(items) <= maximum:
        raise invalid(
            "body", len(items), f"a bulk request takes 1 to {maximum} users, got {len(items)}", max=maximum
        )
    checked: list[tuple[str, str]] = []
    invalid_items: list[ApiError] = []
    for index, item in enumerate(items):
        try:
            checked.append(_new_user(item, index))
        except ApiError as error:
            invalid_items.append(error)
    if invalid_items:
        raise _every(invalid_items)
    seen: set[str] = set()
    conflicts: list[ApiError] = []
    for index, (_, email) in enumerate(checked):
        key = email.lower()
        if key in state.emails or key in seen:
            conflicts.append(_conflict(email, index))
        seen.add(key)
    if conflicts:
        raise _every(conflicts)
    created = [state.add_user(name, email) for name, email in checked]
    for user in created:
        ctx.emit("user.created", user)
    return 201, {"data": created}


# -- projects -------------------------------------------------------------------------------


def projects_list(ctx: Context) -> Result:
    return 200, _paginate(ctx.state, "projects", ctx.state.project_list(), ctx.query)


def projects_create(ctx: Context) -> Result:
    data = ctx.json_object()
    _only(data, _PROJECT_FIELDS)
    name = _text(data, "name", maximum=_NAME_MAX, required=True)
    description = _text(data, "description", maximum=_DESCRIPTION_MAX, required=False, minimum=0)
    assert name is not None
    project = ctx.state.add_project(name, description or "")
    ctx.emit("project.created", project)
    return 201, project


def _project(ctx: Context, raw_id: str) -> dict[str, Any]:
    project = ctx.state.projects.get(_id(raw_id, "project"))
    if project is None:
        raise not_found("project", raw_id)
    return project


def projects_get(ctx: Context, raw_id: str) -> Result:
    return 200, _project(ctx, raw_id)


def projects_update(ctx: Context, raw_id: str) -> Result:
    project = _project(ctx, raw_id)
    data = ctx.json_object()
    _only(data, _PROJECT_FIELDS)
    changes: dict[str, Any] = {}
    name = _text(data, "name", maximum=_NAME_MAX, required=False)
    if name is not None:
        changes["name"] = name
    description = _text(data, "description", maximum=_DESCRIPTION_MAX, required=False, minimum=0)
    if description is not None:
        changes["description"] = description
    if not changes:
        raise invalid("body", data, "send at least one of: name, description")
    ctx.state.update_project(project, changes)
    ctx.emit("project.updated", project)
    return 200, project


def projects_delete(ctx: Context, raw_id: str) -> Result:
    project = _project(ctx, raw_id)
    ctx.state.delete_project(project["id"])
    ctx.emit("project.deleted", project)
    return 204, None


# -- webhooks -------------------------------------------------------------------------------


def _public_webhook(hook: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in hook.items() if k != "secret"}


def webhooks_create(ctx: Context) -> Result:
    data = ctx.json_object()
    _only(data, _WEBHOOK_FIELDS)
    url = data.get("url")
    if "url" not in data:
        raise invalid("url", None, "url is required")
    if not isinstance(url, str):
        raise invalid("url", url, f"url must be a string, got {_kind(url)}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2000:
        raise invalid("url", url, "url must be an absolute http:// or https:// URL")
    events = data.get("events")
    if "events" not in data:
        raise invalid("events", None, "events is required")
    if not isinstance(events, list) or not events:
        raise invalid("events", events, "events must be a non-empty array of event types")
    for event in events:
        if event != "*" and event not in EVENT_TYPES:
            known = ", ".join(sorted(EVENT_TYPES))
            raise invalid("events", event, f"unknown event type {event!r}; known: {known}, or '*'")
    state = ctx.state
    hook: dict[str, Any] = {
        "id": state.next_webhook_id,
        "url": url,
        "events": list(dict.fromkeys(events)),
        "secret": "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode(),
        "created_at": now_rfc3339(),
    }
    state.next_webhook_id += 1
    state.webhooks[hook["id"]] = hook
    state.deliveries[hook["id"]] = []
    return 201, hook


def webhooks_list(ctx: Context) -> Result:
    return 200, {"data": [_public_webhook(h) for h in ctx.state.webhooks.values()]}


def _webhook(ctx: Context, raw_id: str) -> dict[str, Any]:
    hook = ctx.state.webhooks.get(_id(raw_id, "webhook"))
    if hook is None:
        raise not_found("webhook", raw_id)
    return hook


def webhooks_get(ctx: Context, raw_id: str) -> Result:
    return 200, _public_webhook(_webhook(ctx, raw_id))


def webhooks_delete(ctx: Context, raw_id: str) -> Result:
    hook = _webhook(ctx, raw_id)
    del ctx.state.webhooks[hook["id"]]
    return 204, None


def webhooks_test(ctx: Context, raw_id: str) -> Result:
    hook = _webhook(ctx, raw_id)
    if ctx.body.strip():
        ctx.json_object()  # a body is optional, but must be JSON when present
    ctx.emit("ping", {"webhook_id": hook["id"]})
    return 202, {"status": "queued", "webhook_id": hook["id"]}


def webhooks_deliveries(ctx: Context, raw_id: str) -> Result:
    hook = _webhook(ctx, raw_id)
    return 200, {"data": list(ctx.state.deliveries.get(hook["id"], []))}


# -- routing --------------------------------------------------------------------------------

Handler = Callable[..., Result]
_ROUTES_1: Final[dict[str, dict[str, Handler]]] = {
    "users": {"GET": users_list, "POST": users_create},
    "projects": {"GET": projects_list, "POST": projects_create},
    "webhooks": {"GET": webhooks_list, "POST": webhooks_create},
}
_ROUTES_2: Final[dict[str, dict[str, Handler]]] = {
    "users": {"GET": users_get},
    "projects": {"GET": projects_get, "PATCH": projects_update, "DELETE": projects_delete},
    "webhooks": {"GET": webhooks_get, "DELETE": webhooks_delete},
}
_FIXED_2: Final[dict[tuple[str, str], dict[str, Handler]]] = {
    ("users", "me"): {"GET": users_me},
    ("users", "bulk"): {"POST": users_bulk},
}
_ROUTES_3: Final[dict[tuple[str, str], dict[str, Handler]]] = {
    ("webhooks", "test"): {"POST": webhooks_test},
    ("webhooks", "deliveries"): {"GET": webhooks_deliveries},
}


def route(method: str, path: str) -> tuple[Handler, tuple[str, ...]]:
    """The handler and its path arguments for an /api/v1 path; ApiError 404 / 405 otherwise."""
    segments = path[8:].split("/")  # after "/api/v1/"
    count = len(segments)
    methods: dict[str, Handler] | None = None
    args: tuple[str, ...] = ()
    if count == 1:
        methods = _ROUTES_1.get(segments[0])
    elif count == 2:
        methods = _FIXED_2.get((segments[0], segments[1]))
        if methods is None and segments[1]:
            methods = _ROUTES_2.get(segments[0])
            args = (segments[1],)
    elif count == 3 and segments[1]:
        methods = _ROUTES_3.get((segments[0], segments[2]))
        args = (segments[1],)
    if methods is None:
        raise ApiError(404, "NOT_FOUND", f"no such endpoint: {path}", {"path": path})
    handler = methods.get(method)
    if handler is None:
        allowed = ", ".join(sorted(methods))
        raise ApiError(
            405,
            "METHOD_NOT_ALLOWED",
            f"{method} is not allowed on {path}; allowed: {allowed}",
            {"method": method, "allowed": sorted(methods)},
            headers=[(b"allow", allowed.encode())],
        )
    return handler, args
