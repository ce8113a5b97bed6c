"""The /api/v1 gate: authentication, the rate limit, routing, faults and `Idempotency-Key`.

Order of work for an /api/v1 request:

1. the bearer token is checked (401 `UNAUTHENTICATED`);
2. one request is taken from the access token's limiter (429 `RATE_LIMITED`, with `Retry-After`
   unless turned off), and its rate-limit headers (`_limits.py`: our `X-RateLimit-*`, GitHub's,
   the IETF fields, or none) go on every authenticated reply;
3. the route is matched (404 / 405);
4. one seeded draw decides a fault (`_faults.py`): some are served before processing, some
   lose the reply after it;
5. a POST, PATCH or DELETE with `Idempotency-Key` claims the key (a repeat waits for the first,
   then replays it; another method, path or body under the same key is 422
   `IDEMPOTENCY_KEY_REUSED`);
6. `latency_ms` (+ up to `jitter_ms`) is slept, then the handler runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, Final

import anyio

from ._asgi import JSON, Headers, Receive, Scope, Send, dumps, envelope, read_body, reply, send_error
from ._config import SandboxConfig
from ._delivery import DeliveryWorker
from ._errors import ApiError
from ._faults import after_processing, draw_fault, serve_fault_after, serve_fault_before, sleep_latency
from ._handlers import Context, route
from ._state import AccessToken, State

_MAX_IDEMPOTENCY_KEYS: Final = 100_000
#: The methods whose `Idempotency-Key` the sandbox honours: the ones that change something.
KEYED_METHODS: Final = frozenset({"POST", "PATCH", "DELETE"})


class _Stored:
    """An idempotency record: the first request's fingerprint and, once done, its reply."""

    __slots__ = ("fingerprint", "done", "status", "body", "content_type")

    def __init__(self, fingerprint: bytes) -> None:
        self.fingerprint = fingerprint
        self.done = anyio.Event()
        self.status = 0
        self.body = b""
        self.content_type = JSON


async def serve_api(
    state: State,
    worker: DeliveryWorker,
    scope: Scope,
    receive: Receive,
    send: Send,
    path: str,
    headers: Headers,
    authorization: bytes,
    content_type: bytes,
    idempotency_key: bytes | None,
) -> None:
    token: AccessToken | None = None
    if authorization[:7].lower() == b"bearer ":
        token = state.authenticate(authorization[7:].strip().decode("latin-1"))
    if token is None:
        reason = "missing bearer token" if not authorization else "invalid or expired access token"
        headers.append(
            (
                b"www-authenticate",
                b'Bearer realm="asyncapi-sandbox"' + (b', error="invalid_token"' if authorization else b""),
            )
        )
        await send_error(state, send, headers, ApiError(401, "UNAUTHENTICATED", reason))
        return
    limit = state.take(token)
    if limit is not None:
        headers.extend(limit.headers)
        if not limit.allowed:
            if limit.retry_after is not None:
                headers.append((b"retry-after", str(limit.retry_after).encode()))
            error = ApiError(
                429,
                "RATE_LIMITED",
                f"rate limit exceeded; retry after {limit.wait} s",
                {"retry_after": limit.wait},
            )
            await send_error(state, send, headers, error)
            return
    method: str = scope["method"]
    try:
        handler, args = route(method, path)
        body = await read_body(receive) if method in ("POST", "PATCH", "PUT") else b""
    except ApiError as error:
        await send_error(state, send, headers, error)
        return

    config = state.config
    fault = draw_fault(state, config)
    if fault is not None and not after_processing(fault, method):
        await sleep_latency(state, config)
        await serve_fault_before(state, send, fault, headers)
        return

    ctx = Context(
        state,
        method,
        token.client_id,
        scope.get("query_string", b""),
        body,
        content_type.decode("latin-1"),
        worker.emit,
        state.me_id(token),
    )
    if idempotency_key is not None and method in KEYED_METHODS:
        status, payload, reply_type, replayed = await _idempotent(
            state, ctx, config, idempotency_key, path, handler, args
        )
        if replayed:
            headers.append((b"idempotent-replayed", b"true"))
    else:
        await sleep_latency(state, config)
        status, payload, reply_type = _run(ctx, handler, args)

    if fault is not None:
        await serve_fault_after(state, send, fault, status, payload, headers, reply_type)
        return
    await reply(state, send, status, payload, headers, reply_type)


def _run(
    ctx: Context, handler: Callable[..., tuple[int, Any]], args: tuple[str, ...]
) -> tuple[int, bytes, bytes]:
    try:
        status, payload = handler(ctx, *args)
    except ApiError as error:
        return error.status, envelope(error.code, error.message, error.details), JSON
    if payload is None:
        return status, b"", JSON
    return status, payload if isinstance(payload, bytes) else dumps(payload), JSON


async def _idempotent(
    state: State,
    ctx: Context,
    config: SandboxConfig,
    raw_key: bytes,
    path: str,
    handler: Callable[..., tuple[int, Any]],
    args: tuple[str, ...],
) -> tuple[int, bytes, bytes, bool]:
    key_text = raw_key.decode("latin-1").strip()
    if not 1 <= len(key_text) <= 255:
        error = ApiError(
            400,
            "INVALID_INPUT",
            "Idempotency-Key must be 1 to 255 characters",
            {"field": "Idempotency-Key", "value": key_text},
        )
        return error.status, envelope(error.code, error.message, error.details), JSON, False
    key = (ctx.client_id, ctx.me_id, key_text)  # keys are per principal: one user's are not another's
    fingerprint = hashlib.sha256(
        ctx.method.encode() + b"\0" + path.encode() + b"\0" + ctx.query + b"\0" + ctx.body
    ).digest()
    store = state.idempotency
    while True:
        record = store.get(key)
        if record is None:
            break
        if record.fingerprint != fingerprint:
            error = ApiError(
                422,
                "IDEMPOTENCY_KEY_REUSED",
                "this Idempotency-Key was used with a different request; use a new key",
                {"field": "Idempotency-Key", "value": key_text},
            )
            return error.status, envelope(error.code, error.message, error.details), JSON, False
        if not record.done.is_set():
            await record.done.wait()
            continue
        state.stats.idempotent_replays += 1
        return record.status, record.body, record.content_type, True
    if len(store) >= _MAX_IDEMPOTENCY_KEYS:  # bounded memory for long benchmarks: forget the oldest
        oldest = next((k for k, v in store.items() if v.done.is_set()), None)
        if oldest is not None:
            del store[oldest]
    claim = _Stored(fingerprint)
    store[key] = claim
    keep = False
    status, body, content_type = 500, b"", JSON
    try:
        await sleep_latency(state, config)
        status, body, content_type = _run(ctx, handler, args)
        claim.status, claim.body, claim.content_type = status, body, content_type
        keep = status < 500 and status != 429
    finally:
        if not keep and store.get(key) is claim:
            del store[key]
        claim.done.set()
    return status, body, content_type, False
