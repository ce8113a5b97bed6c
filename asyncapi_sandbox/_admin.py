"""The /_sandbox admin routes (no auth): stats, health, reset, runtime config, token expiry.

They are the test harness's side door, so they bypass the API's counters, limits and faults.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from ._asgi import JSON, Headers, Receive, Scope, Send, dumps, read_body
from ._config import RUNTIME_OPTIONS, SandboxConfig
from ._state import State


async def serve_admin(
    state: State, scope: Scope, receive: Receive, send: Send, path: str, headers: Headers
) -> None:
    method = scope["method"]
    body = await read_body(receive) if method == "POST" else b""
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
            payload = configure(state, json.loads(body or b"{}")).public()
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
    encoded = dumps(payload)
    headers.append((b"content-length", str(len(encoded)).encode()))
    headers.append((b"content-type", JSON))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": encoded})


def configure(state: State, options: Any) -> SandboxConfig:
    """Change runtime options (`RUNTIME_OPTIONS`); ValueError names what is wrong."""
    if not isinstance(options, dict):
        raise ValueError("the config body must be a JSON object of options")
    unknown = sorted(set(options) - RUNTIME_OPTIONS)
    if unknown:
        raise ValueError(
            f"cannot change {', '.join(unknown)} at runtime; changeable: {', '.join(sorted(RUNTIME_OPTIONS))}"
        )
    config = attrs.evolve(state.config, **options)
    if (config.rate, config.burst) != (state.config.rate, state.config.burst):
        for token in state.access_tokens.values():
            token.bucket = None
    state.config = config
    return config
