"""The ASGI app that hypercorn serves to the peer suite: it reports what it saw, as JSON.

`GET /info` -> {"http_version", "method", "path", "headers"}; `GET /json` -> a page of 10 projects.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

PAGE = {
    "data": [
        {"id": i, "name": f"Project {i}", "description": "served by hypercorn", "owner_id": 7}
        for i in range(1, 11)
    ],
    "meta": {"page": 1, "limit": 10, "total": 10},
}


async def app(
    scope: MutableMapping[str, Any],
    receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
    send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    while (await receive()).get("more_body"):
        pass
    if scope["path"] == "/json":
        body = json.dumps(PAGE).encode()
    else:
        body = json.dumps(
            {
                "http_version": scope["http_version"],
                "method": scope["method"],
                "path": scope["path"],
                "headers": {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]},
            }
        ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
