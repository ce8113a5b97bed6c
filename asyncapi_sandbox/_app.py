"""The sandbox ASGI application.

A plain ASGI callable with a small router rather than a framework's request/response objects:
the sandbox is the peer of benchmarks, so its hot path (`GET /api/v1/projects`) stays short.

Order of work for an /api/v1 request:

1. `X-Request-Id` is echoed (or made up) on every response;
2. the bearer token is checked (401 `UNAUTHENTICATED`);
3. one token is taken from the access token's bucket (429 `RATE_LIMITED` + `Retry-After`), and
   the `X-RateLimit-*` headers go on every authenticated reply;
4. the route is matched (404 / 405);
5. one seeded draw decides a fault. `fail` (500/502/503), `malformed` (a 200 whose body is not
   JSON) and `drop` on a non-POST are served *before* processing: nothing changes.
   `drop` on a POST and `truncate` on any method happen *after* processing: the change is made
   and its reply is lost, which is the case `Idempotency-Key` exists for;
6. a POST with `Idempotency-Key` claims the key (a repeat waits for the first, then replays it;
   another body under the same key is 422 `IDEMPOTENCY_KEY_REUSED`);
7. `latency_ms` (+ up to `jitter_ms`) is slept, then the handler runs.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final
from urllib.parse import parse_qsl, unquote_plus

import anyio
import anyio.lowlevel
import attrs

from ._config import RUNTIME_OPTIONS, SandboxConfig
from ._delivery import DeliveryWorker
from ._errors import ApiError, ConnectionDropped, OAuthError
from ._handlers import Context, route
from ._state import AccessToken, State

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

logger = logging.getLogger("asyncapi_sandbox")

_JSON: Final = b"application/json"
_MAX_BODY: Final = 1 << 20
_MAX_IDEMPOTENCY_KEYS: Final = 100_000
_FAIL_REPLIES: Final = (
    (500, "INTERNAL", "injected fault: internal server error"),
    (502, "BAD_GATEWAY", "injected fault: bad gateway"),
    (503, "UNAVAILABLE", "injected fault: service unavailable"),
)
_MALFORMED_BODY: Final = b'{"data": [{"id": 1, "name": "<html><body>upstream said no</body></html>'


def _dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def _envelope(code: str, message: str, details: dict[str, Any]) -> bytes:
    return _dumps({"error": {"code": code, "message": message, "details": details}})


class _Disconnected(Exception):
    """The client went away while sending its body: there is no one to reply to."""


class _Stored:
    """An idempotency record: the first request's fingerprint and, once done, its reply."""

    __slots__ = ("fingerprint", "done", "status", "body", "content_type")

    def __init__(self, fingerprint: bytes) -> None:
        self.fingerprint = fingerprint
        self.done = anyio.Event()
        self.status = 0
        self.body = b""
        self.content_type = _JSON


class SandboxApp:
    """The ASGI app. `state` is its data; `config` the options in force."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.state = State(config or SandboxConfig())
        self.worker = DeliveryWorker(self.state)

    @property
    def config(self) -> SandboxConfig:
        return self.state.config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)

    # -- lifespan -------------------------------------------------------------------------

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "lifespan.startup":
            return
        async with anyio.create_task_group() as task_group:
            self.worker.start(task_group)
            await send({"type": "lifespan.startup.complete"})
            await receive()  # lifespan.shutdown
            task_group.cancel_scope.cancel()
        await self.worker.aclose()
        await send({"type": "lifespan.shutdown.complete"})

    # -- plumbing -------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        request_id = b""
        authorization = b""
        content_type = b""
        idempotency_key: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value
            elif name == b"x-request-id":
                request_id = value
            elif name == b"content-type":
                content_type = value
            elif name == b"idempotency-key":
                idempotency_key = value
        if not request_id or len(request_id) > 200:
            request_id = b"req_" + os.urandom(8).hex().encode()
        base: Headers = [(b"x-request-id", request_id)]
        if path.startswith("/_sandbox/"):
            with contextlib.suppress(_Disconnected):
                await self._admin(scope, receive, send, path, base)
            return
        stats = self.state.stats
        stats.requests_total += 1
        stats.in_flight += 1
        if stats.in_flight > stats.max_in_flight:
            stats.max_in_flight = stats.in_flight
        try:
            if path.startswith("/api/v1/"):
                await self._api(
                    scope, receive, send, path, base, authorization, content_type, idempotency_key
                )
            elif path == "/oauth/token":
                await self._token(scope, receive, send, base, authorization, content_type)
            else:
                await self._error(send, base, ApiError(404, "NOT_FOUND", f"no such endpoint: {path}"))
        except _Disconnected:
            pass
        finally:
            stats.in_flight -= 1

    async def _reply(
        self, send: Send, status: int, body: bytes, headers: Headers, content_type: bytes = _JSON
    ) -> None:
        self.state.stats.responses_by_status[status] += 1
        headers.append((b"content-length", str(len(body)).encode()))
        if body or status != 204:
            headers.append((b"content-type", content_type))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _error(self, send: Send, headers: Headers, error: ApiError) -> None:
        headers.extend(error.headers)
        await self._reply(send, error.status, _envelope(error.code, error.message, error.details), headers)

    @staticmethod
    async def _body(receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > _MAX_BODY:
                raise ApiError(413, "PAYLOAD_TOO_LARGE", f"the request body exceeds {_MAX_BODY} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    # -- /api/v1 --------------------------------------------------------------------------

    async def _api(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        path: str,
        headers: Headers,
        authorization: bytes,
        content_type: bytes,
        idempotency_key: bytes | None,
    ) -> None:
        state = self.state
        token: AccessToken | None = None
        if authorization[:7].lower() == b"bearer ":
            token = state.authenticate(authorization[7:].strip().decode("latin-1"))
        if token is None:
            reason = "missing bearer token" if not authorization else "invalid or expired access token"
            headers.append(
                (
                    b"www-authenticate",
                    b'Bearer realm="asyncapi-sandbox"'
                    + (b', error="invalid_token"' if authorization else b""),
                )
            )
            await self._error(send, headers, ApiError(401, "UNAUTHENTICATED", reason))
            return
        limit = state.take(token)
        if limit is not None:
            headers.extend(limit.headers)
            if not limit.allowed:
                headers.append((b"retry-after", str(limit.retry_after).encode()))
                error = ApiError(
                    429,
                    "RATE_LIMITED",
                    f"rate limit exceeded; retry after {limit.retry_after} s",
                    {"retry_after": limit.retry_after},
                )
                await self._error(send, headers, error)
                return
        method: str = scope["method"]
        try:
            handler, args = route(method, path)
            body = await self._body(receive) if method in ("POST", "PATCH", "PUT") else b""
        except ApiError as error:
            await self._error(send, headers, error)
            return

        config = state.config
        fault = self._draw_fault(config)
        after = fault == "truncate" or (fault == "drop" and method == "POST")
        if fault is not None and not after:
            await self._sleep(config)
            state.stats.faults[fault] += 1
            if fault == "drop":
                await self._drop(send)
            elif fault == "malformed":
                await self._reply(send, 200, _MALFORMED_BODY, headers)
            else:
                status, code, message = _FAIL_REPLIES[state.fault_random.randrange(3)]
                await self._error(send, headers, ApiError(status, code, message))
            return

        ctx = Context(
            state,
            method,
            token.client_id,
            scope.get("query_string", b""),
            body,
            content_type.decode("latin-1"),
            self.worker.emit,
        )
        if idempotency_key is not None and method == "POST":
            status, payload, reply_type, replayed = await self._idempotent(
                ctx, config, idempotency_key, path, handler, args
            )
            if replayed:
                headers.append((b"idempotent-replayed", b"true"))
        else:
            await self._sleep(config)
            status, payload, reply_type = self._run(ctx, handler, args)

        if fault is not None:
            state.stats.faults[fault] += 1
            if fault == "drop":
                await self._drop(send)
            else:
                await self._truncate(send, status, payload, headers, reply_type)
            return
        await self._reply(send, status, payload, headers, reply_type)

    def _run(
        self, ctx: Context, handler: Callable[..., tuple[int, Any]], args: tuple[str, ...]
    ) -> tuple[int, bytes, bytes]:
        try:
            status, payload = handler(ctx, *args)
        except ApiError as error:
            return error.status, _envelope(error.code, error.message, error.details), _JSON
        if payload is None:
            return status, b"", _JSON
        return status, payload if isinstance(payload, bytes) else _dumps(payload), _JSON

    async def _idempotent(
        self,
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
            return error.status, _envelope(error.code, error.message, error.details), _JSON, False
        key = (ctx.client_id, key_text)
        fingerprint = hashlib.sha256(path.encode() + b"\0" + ctx.query + b"\0" + ctx.body).digest()
        store = self.state.idempotency
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
                return error.status, _envelope(error.code, error.message, error.details), _JSON, False
            if not record.done.is_set():
                await record.done.wait()
                continue
            self.state.stats.idempotent_replays += 1
            return record.status, record.body, record.content_type, True
        if len(store) >= _MAX_IDEMPOTENCY_KEYS:  # bounded memory for long benchmarks: forget the oldest
            oldest = next((k for k, v in store.items() if v.done.is_set()), None)
            if oldest is not None:
                del store[oldest]
        claim = _Stored(fingerprint)
        store[key] = claim
        keep = False
        status, body, content_type = 500, b"", _JSON
        try:
            await self._sleep(config)
            status, body, content_type = self._run(ctx, handler, args)
            claim.status, claim.body, claim.content_type = status, body, content_type
            keep = status < 500 and status != 429
        finally:
            if not keep and store.get(key) is claim:
                del store[key]
            claim.done.set()
        return status, body, content_type, False

    # -- faults ---------------------------------------------------------------------------

    def _draw_fault(self, config: SandboxConfig) -> str | None:
        total = config.fail_rate + config.drop_rate + config.malformed_rate + config.truncate_rate
        if total <= 0:
            return None
        draw = self.state.fault_random.random()
        if draw >= total:
            return None
        draw -= config.fail_rate
        if draw < 0:
            return "fail"
        draw -= config.drop_rate
        if draw < 0:
            return "drop"
        draw -= config.malformed_rate
        return "malformed" if draw < 0 else "truncate"

    async def _sleep(self, config: SandboxConfig) -> None:
        delay = config.latency_ms
        if config.jitter_ms:
            delay += self.state.fault_random.uniform(0, config.jitter_ms)
        if delay > 0:
            await anyio.sleep(delay / 1000)

    @staticmethod
    def _transport(send: Send) -> Any:
        # uvicorn's `send` is a bound method of its request cycle, which holds the socket's
        # asyncio transport: aborting it closes the connection with no reply at all (uvicorn
        # would answer 500 to an app that returns without replying).
        cycle = getattr(send, "__self__", None)
        return getattr(cycle, "transport", None)

    async def _drop(self, send: Send) -> None:
        transport = self._transport(send)
        if transport is None:
            raise ConnectionDropped("sandbox fault: connection dropped")
        transport.abort()
        # Let the server see the lost connection before this app returns.
        await anyio.lowlevel.checkpoint()
        await anyio.lowlevel.checkpoint()

    async def _truncate(
        self, send: Send, status: int, body: bytes, headers: Headers, content_type: bytes
    ) -> None:
        self.state.stats.responses_by_status[status] += 1
        full = body or b"{}"
        headers.append((b"content-length", str(len(full) + 16).encode()))
        headers.append((b"content-type", content_type))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": full[: len(full) // 2], "more_body": True})
        await self._drop(send)

    # -- /oauth/token ---------------------------------------------------------------------

    async def _token(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: Headers,
        authorization: bytes,
        content_type: bytes,
    ) -> None:
        headers.append((b"cache-control", b"no-store"))
        headers.append((b"pragma", b"no-cache"))
        try:
            if scope["method"] != "POST":
                headers.append((b"allow", b"POST"))
                raise OAuthError(405, "invalid_request", "the token endpoint takes POST")
            body = await self._body(receive)
            payload = self._grant(body, authorization, content_type)
        except OAuthError as error:
            self.state.stats.token_errors += 1
            if error.error == "invalid_client":
                headers.append((b"www-authenticate", b'Basic realm="asyncapi-sandbox"'))
            data = {"error": error.error, "error_description": error.description}
            await self._reply(send, error.status, _dumps(data), headers)
            return
        except ApiError as error:
            self.state.stats.token_errors += 1
            data = {"error": "invalid_request", "error_description": error.message}
            await self._reply(send, 400, _dumps(data), headers)
            return
        await self._reply(send, 200, _dumps(payload), headers)

    def _grant(self, body: bytes, authorization: bytes, content_type: bytes) -> dict[str, Any]:
        state = self.state
        if b"application/x-www-form-urlencoded" not in content_type.lower():
            raise OAuthError(
                400, "invalid_request", "send the token request as application/x-www-form-urlencoded"
            )
        try:
            pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
        except (UnicodeDecodeError, ValueError):
            raise OAuthError(400, "invalid_request", "the form body cannot be parsed") from None
        form: dict[str, str] = {}
        for name, value in pairs:
            if name in form:
                raise OAuthError(400, "invalid_request", f"parameter {name!r} is repeated")
            form[name] = value
        grant_type = form.get("grant_type")
        if grant_type in state.stats.token_requests:
            state.stats.token_requests[grant_type] += 1
        if not grant_type:
            raise OAuthError(400, "invalid_request", "grant_type is required")
        if grant_type not in ("client_credentials", "refresh_token"):
            raise OAuthError(400, "unsupported_grant_type", f"grant_type {grant_type!r} is not supported")
        client_id = self._client(form, authorization)
        scope = form.get("scope") or None
        if grant_type == "refresh_token":
            presented = form.get("refresh_token")
            if not presented:
                raise OAuthError(400, "invalid_request", "refresh_token is required")
            record = state.refresh_tokens.get(presented)
            if record is None or record.client_id != client_id or record.expires_at <= time.monotonic():
                raise OAuthError(
                    400, "invalid_grant", "the refresh token is invalid, expired or already used"
                )
            del state.refresh_tokens[presented]  # rotation: a refresh token works once
            scope = record.scope
        access, refresh = state.issue_tokens(client_id, scope)
        reply: dict[str, Any] = {
            "access_token": access,
            "token_type": "Bearer",
            # Rounded down: a client that trusts expires_in must never use a token the server
            # already considers expired (1.5 s is announced as 1, not 2).
            "expires_in": max(1, int(state.config.token_ttl)),
            "refresh_token": refresh,
        }
        if scope:
            reply["scope"] = scope
        return reply

    def _client(self, form: dict[str, str], authorization: bytes) -> str:
        config = self.state.config
        basic = authorization[:6].lower() == b"basic "
        in_form = "client_id" in form or "client_secret" in form
        if basic and in_form:
            raise OAuthError(
                400, "invalid_request", "authenticate the client one way: HTTP Basic or form fields"
            )
        if basic:
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
            except (binascii.Error, ValueError):
                raise OAuthError(401, "invalid_client", "the Basic credentials cannot be decoded") from None
            raw_id, sep, raw_secret = decoded.partition(":")
            if not sep:
                raise OAuthError(401, "invalid_client", "the Basic credentials have no ':'")
            client_id, client_secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        elif in_form:
            client_id, client_secret = form.get("client_id", ""), form.get("client_secret", "")
        else:
            raise OAuthError(401, "invalid_client", "client authentication is required")
        if not (
            hmac.compare_digest(client_id.encode(), config.client_id.encode())
            and hmac.compare_digest(client_secret.encode(), config.client_secret.encode())
        ):
            raise OAuthError(401, "invalid_client", "unknown client or wrong secret")
        return client_id

    # -- /_sandbox ------------------------------------------------------------------------

    async def _admin(self, scope: Scope, receive: Receive, send: Send, path: str, headers: Headers) -> None:
        state = self.state
        method = scope["method"]
        body = await self._body(receive) if method == "POST" else b""
        status, payload = 200, None
        try:
            if path == "/_sandbox/stats" and method == "GET":
                payload = state.stats_json()
            elif path == "/_sandbox/health" and method == "GET":
                payload = {"status": "ok"}
            elif path == "/_sandbox/reset" and method == "POST":
                state.reset()
                payload = {"status": "reset"}
            elif path == "/_sandbox/config" and method == "GET":
                payload = state.config.public()
            elif path == "/_sandbox/config" and method == "POST":
                payload = self.configure(json.loads(body or b"{}")).public()
            elif path == "/_sandbox/expire-tokens" and method == "POST":
                payload = {"expired": state.expire_access_tokens()}
            else:
                status, payload = (
                    404,
                    {
                        "error": {
                            "code": "NOT_FOUND",
                            "message": f"no such endpoint: {method} {path}",
                            "details": {},
                        }
                    },
                )
        except (ValueError, TypeError) as exc:
            status, payload = 400, {"error": {"code": "INVALID_INPUT", "message": str(exc), "details": {}}}
        encoded = _dumps(payload)
        headers.append((b"content-length", str(len(encoded)).encode()))
        headers.append((b"content-type", _JSON))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": encoded})

    def configure(self, options: Any) -> SandboxConfig:
        """Change runtime options (`RUNTIME_OPTIONS`); ValueError names what is wrong."""
        if not isinstance(options, dict):
            raise ValueError("the config body must be a JSON object of options")
        unknown = sorted(set(options) - RUNTIME_OPTIONS)
        if unknown:
            raise ValueError(
                f"cannot change {', '.join(unknown)} at runtime; changeable: {', '.join(sorted(RUNTIME_OPTIONS))}"
            )
        state = self.state
        config = attrs.evolve(state.config, **options)
        if (config.rate, config.burst) != (state.config.rate, state.config.burst):
            for token in state.access_tokens.values():
                token.bucket = None
        state.config = config
        return config


def create_app(config: SandboxConfig | None = None, **options: Any) -> SandboxApp:
    """The sandbox as an ASGI app: `create_app(SandboxConfig(...))` or `create_app(rate=5, ...)`."""
    if config is not None and options:
        raise TypeError("pass a SandboxConfig or keyword options, not both")
    return SandboxApp(config or SandboxConfig(**options))
