"""`WebhookReceiver`: a pure ASGI app that verifies, deduplicates and dispatches deliveries.

    receiver = WebhookReceiver(secret)

    @receiver.on("project.created")
    async def on_project(event: WebhookEvent[Project]) -> None: ...

    app.mount("/webhooks", receiver)          # Starlette / FastAPI

What it answers, so that a Standard Webhooks sender does the right thing:

- 405 for anything but POST, 413 past `max_body_size`, 400 for a malformed delivery and 401 for
  one that fails authentication (signature, timestamp): nothing is processed or recorded.
- 200 once the handlers succeeded; 200 too for a duplicate (already processed: nothing runs) and
  for an event type with no handler (nothing to do, so no point in a re-delivery).
- 500 when a handler raised: the id is *not* recorded, so the sender's re-delivery runs it again.
- 409 while another delivery of the same id is being processed, 503 when the dedupe store is
  unreachable: the sender re-delivers later.
"""

from __future__ import annotations

import inspect
import json
import logging
import math
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from .._clock import SYSTEM_CLOCK, Clock
from .._config import check_count, check_seconds
from .._errors import WebhookVerificationError
from ._dedupe import Claim, DedupeStore, InMemoryDedupeStore
from ._events import WebhookEvent, event_from_payload
from ._verify import (
    DEFAULT_TOLERANCE,
    HeadersLike,
    SecretsLike,
    check_delivery,
    decode_json_body,
    decode_keys,
)

logger = logging.getLogger("asyncapi_client.webhooks")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Handler = Callable[[WebhookEvent[Any]], Any]
H = TypeVar("H", bound=Handler)

DEFAULT_MAX_BODY_SIZE = 1024 * 1024
CATCH_ALL = "*"

# Authentication failures answer 401; every other malformed delivery answers 400.
_UNAUTHORIZED = frozenset(
    {"invalid_signature", "no_matching_signature", "timestamp_too_old", "timestamp_too_new"}
)


class WebhookReceiver:
    """An ASGI app receiving Standard Webhooks deliveries.

    `secret` is the registration's `whsec_...` secret (str or `Secret`), or a list of secrets
    while one is rotated. `dedupe_store` remembers processed `webhook-id`s (default: an
    `InMemoryDedupeStore`; use `RedisDedupeStore` with several workers). Sync handlers run in a
    worker thread so they never block the event loop. `handler_timeout` (seconds, default none)
    bounds the handlers of one delivery: past it the delivery counts as failed (500) and its id
    is released, so a hung handler cannot hold an id in flight forever. It interrupts async
    handlers only: a sync handler's thread cannot be stopped, and is waited for rather than
    abandoned (abandoning it would let the re-delivery run beside it).
    """

    def __init__(
        self,
        secret: SecretsLike,
        *,
        tolerance: float = DEFAULT_TOLERANCE,
        dedupe_store: DedupeStore | None = None,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        handler_timeout: float | None = None,
        clock: Clock | None = None,
    ) -> None:
        # Decoded once, here: a malformed secret is a configuration error raised at startup.
        self._keys = decode_keys(secret)
        self.tolerance = check_seconds("WebhookReceiver tolerance", tolerance, maximum=math.inf)
        self.max_body_size = check_count("WebhookReceiver max_body_size (bytes)", max_body_size)
        self.handler_timeout = (
            None
            if handler_timeout is None
            else check_seconds("WebhookReceiver handler_timeout", handler_timeout, above_minimum=True)
        )
        if dedupe_store is not None and not isinstance(dedupe_store, DedupeStore):
            raise TypeError(
                f"dedupe_store must have claim(), complete() and release(), got {type(dedupe_store).__name__}"
            )
        self._clock = clock or SYSTEM_CLOCK
        # `is None`, not `or`: an empty InMemoryDedupeStore is falsy (it has a __len__), and a
        # store shared by several receivers must be the one they all use.
        self.dedupe_store: DedupeStore = (
            InMemoryDedupeStore(clock=self._clock) if dedupe_store is None else dedupe_store
        )
        self._handlers: dict[str, list[Handler]] = {}

    # -- registration --------------------------------------------------------------------

    def on(self, event_type: str) -> Callable[[H], H]:
        """Register the decorated function for `event_type` (`"project.created"`), a prefix
        (`"project.*"`) or every event (`"*"`). Sync or async; it receives the `WebhookEvent`."""

        def register(handler: H) -> H:
            self.add_handler(event_type, handler)
            return handler

        return register

    def add_handler(self, event_type: str, handler: Handler) -> None:
        """Register `handler` (an async function taking the event) for `event_type` (`'*'` for every
        type); what `@receiver.on(event_type)` does."""
        if not isinstance(event_type, str) or not event_type:
            raise ValueError("event_type must be a non-empty string such as 'project.created' or '*'")
        if not callable(handler):
            raise TypeError(f"a handler must be callable, got {type(handler).__name__}")
        self._handlers.setdefault(event_type, []).append(handler)

    def handlers_for(self, event_type: str) -> list[Handler]:
        """The handlers one event runs, in order: exact type, then prefixes, then `"*"`."""
        found = list(self._handlers.get(event_type, ()))
        for pattern, handlers in self._handlers.items():
            if pattern != CATCH_ALL and pattern.endswith(".*") and event_type.startswith(pattern[:-1]):
                found.extend(handlers)
        found.extend(self._handlers.get(CATCH_ALL, ()))
        return found

    # -- processing ----------------------------------------------------------------------

    async def process(self, body: bytes, headers: HeadersLike) -> tuple[int, dict[str, str]]:
        """Verify, deduplicate and dispatch one delivery; the (status, JSON body) to answer.

        The ASGI entry point calls this; call it yourself from a framework route if you prefer.
        """
        try:
            msg_id, timestamp, payload = check_delivery(
                body, headers, self._keys, tolerance=self.tolerance, now=self._clock.time()
            )
            event = event_from_payload(decode_json_body(payload), webhook_id=msg_id, timestamp=timestamp)
        except WebhookVerificationError as exc:
            status = 401 if exc.reason in _UNAUTHORIZED else 400
            logger.warning("webhook delivery rejected (%s): %s", exc.reason, exc.message)
            return status, {"error": exc.reason, "message": exc.message}
        handlers = self.handlers_for(event.type)
        if not handlers:
            logger.debug("webhook %s (%s): no handler", msg_id, event.type)
            return 200, {"status": "ignored"}
        try:
            claim = await self.dedupe_store.claim(msg_id)
        except Exception:
            logger.exception("webhook %s: the dedupe store failed; answering 503", msg_id)
            return 503, {"error": "dedupe_store_unavailable"}
        if claim is Claim.DUPLICATE:
            logger.info("webhook %s (%s): duplicate, already processed", msg_id, event.type)
            return 200, {"status": "duplicate"}
        if claim is Claim.IN_FLIGHT:
            logger.info("webhook %s (%s): being processed by another delivery", msg_id, event.type)
            return 409, {"error": "in_flight"}
        succeeded = False
        try:
            with anyio.fail_after(self.handler_timeout):
                for handler in handlers:
                    await self._run(handler, event)
            succeeded = True
        except Exception:
            logger.exception(
                "webhook %s (%s): handler failed; answering 500 for a re-delivery", msg_id, event.type
            )
        finally:
            # Shielded: a cancelled request must still clear its in-flight mark.
            with anyio.CancelScope(shield=True):
                await self._settle(msg_id, succeeded)
        if not succeeded:
            return 500, {"error": "handler_failed"}
        return 200, {"status": "processed"}

    async def _settle(self, msg_id: str, succeeded: bool) -> None:
        try:
            if succeeded:
                await self.dedupe_store.complete(msg_id)
            else:
                await self.dedupe_store.release(msg_id)
        except Exception:
            logger.exception("webhook %s: could not record the outcome in the dedupe store", msg_id)

    @staticmethod
    async def _run(handler: Handler, event: WebhookEvent[Any]) -> None:
        if inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
            getattr(handler, "__call__", None)  # noqa: B004 - an object with an async __call__
        ):
            await handler(event)
            return
        result = await anyio.to_thread.run_sync(handler, event)
        if inspect.isawaitable(result):
            await result

    # -- ASGI ----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope.get("type")
        if kind == "lifespan":
            await _lifespan(receive, send)
            return
        if kind != "http":
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            return
        if scope.get("method") != "POST":
            await _respond(send, 405, {"error": "method_not_allowed"}, [(b"allow", b"POST")])
            return
        raw_headers: Sequence[tuple[bytes, bytes]] = scope.get("headers") or []
        declared = _content_length(raw_headers)
        if declared == -1:
            await _respond(send, 400, {"error": "invalid_content_length"})
            return
        if declared is not None and declared > self.max_body_size:
            await _respond(send, 413, {"error": "body_too_large"})
            return
        try:
            body = await _read_body(receive, self.max_body_size)
        except _BodyTooLarge:
            await _respond(send, 413, {"error": "body_too_large"})
            return
        if body is None:  # the client went away: nothing to answer, nothing processed
            return
        status, payload = await self.process(body, raw_headers)
        await _respond(send, status, payload)

    def __repr__(self) -> str:
        return f"WebhookReceiver(handlers={sorted(self._handlers)!r}, dedupe_store={self.dedupe_store!r})"


class _BodyTooLarge(Exception):
    pass


def _content_length(headers: Sequence[tuple[bytes, bytes]]) -> int | None:
    """The declared Content-Length; None if absent, -1 if malformed."""
    for name, value in headers:
        if name.lower() == b"content-length":
            text = value.strip()
            return int(text) if text.isdigit() and len(text) < 19 else -1
    return None


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _BodyTooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(
    send: Send, status: int, payload: dict[str, str], extra: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _lifespan(receive: Receive, send: Send) -> None:
    """Served on its own (uvicorn receiver:app), the receiver has nothing to start or stop."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
