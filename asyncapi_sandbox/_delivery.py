"""The webhook delivery worker: signed POSTs (Standard Webhooks) with bounded re-delivery.

Each event is delivered to each subscribed webhook in its own task: a slow receiver delays only
its own deliveries. A non-2xx reply, a timeout or a connection error is re-delivered after
`webhook_backoff_base * 2**(attempt-1)` seconds, at most `webhook_max_attempts` attempts in all.
A webhook that is deleted (or a `reset`) stops its pending re-deliveries. Every attempt is
recorded for `GET /api/v1/webhooks/{id}/deliveries` and counted in the stats.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from typing import TYPE_CHECKING, Any

import anyio

from asyncapi_client.webhooks import sign

from ._state import State, now_rfc3339

if TYPE_CHECKING:
    import httpx
    from anyio.abc import TaskGroup

logger = logging.getLogger("asyncapi_sandbox")


class DeliveryWorker:
    def __init__(self, state: State) -> None:
        self._state = state
        self._task_group: TaskGroup | None = None
        self._client: httpx.AsyncClient | None = None
        self._loose_tasks: set[asyncio.Task[None]] = set()

    def start(self, task_group: TaskGroup) -> None:
        self._task_group = task_group

    async def aclose(self) -> None:
        self._task_group = None
        for task in list(self._loose_tasks):
            task.cancel()
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    def emit(self, event_type: str, data: dict[str, Any]) -> None:
        """Queue `event_type` for every webhook subscribed to it (`ping`: only the one tested)."""
        state = self._state
        if event_type == "ping":
            hook = state.webhooks.get(data["webhook_id"])
            targets = [hook] if hook is not None else []
        else:
            targets = [h for h in state.webhooks.values() if event_type in h["events"] or "*" in h["events"]]
        if not targets:
            return
        state.stats.webhook_events += 1
        event = {
            "id": "msg_" + secrets.token_hex(12),
            "type": event_type,
            "created_at": now_rfc3339(),
            "data": dict(data),
        }
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
        for hook in targets:
            self._spawn(hook, event, body)

    def _spawn(self, hook: dict[str, Any], event: dict[str, Any], body: bytes) -> None:
        self._state.stats.webhook_pending += 1  # until _deliver ends: delivered, given up or stopped
        if self._task_group is not None:
            self._task_group.start_soon(self._deliver, hook, event, body)
            return
        # No lifespan ran (the bare app under an in-process transport): use the running loop.
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._state.stats.webhook_pending -= 1
            logger.warning("webhook event %s not delivered: no asyncio loop and no lifespan", event["id"])
            return
        task = loop.create_task(self._deliver(hook, event, body))
        self._loose_tasks.add(task)
        task.add_done_callback(self._loose_tasks.discard)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(trust_env=False, follow_redirects=False)
        return self._client

    async def _deliver(self, hook: dict[str, Any], event: dict[str, Any], body: bytes) -> None:
        try:
            await self._attempts(hook, event, body)
        finally:
            self._state.stats.webhook_pending -= 1

    async def _attempts(self, hook: dict[str, Any], event: dict[str, Any], body: bytes) -> None:
        state = self._state
        attempt = 0
        while True:
            attempt += 1
            if state.webhooks.get(hook["id"]) is not hook:
                return  # deleted, or the sandbox was reset
            config = state.config
            timestamp = int(time.time())
            headers = {
                "content-type": "application/json",
                "user-agent": "asyncapi-sandbox-webhooks/1",
                "webhook-id": event["id"],
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(hook["secret"], event["id"], timestamp, body),
            }
            status: int | None = None
            error: str | None = None
            try:
                response = await self._http().post(
                    hook["url"], content=body, headers=headers, timeout=config.webhook_timeout
                )
                status = response.status_code
                if not 200 <= status < 300:
                    error = f"the receiver answered {status}"
            except Exception as exc:  # timeouts, refused connections, bad URLs: all re-delivered
                error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            succeeded = error is None
            if succeeded:
                state.stats.webhook_succeeded += 1
            else:
                state.stats.webhook_failed += 1
            records = state.deliveries.get(hook["id"])
            if records is not None and state.webhooks.get(hook["id"]) is hook:
                records.append(
                    {
                        "id": state.next_delivery_id,
                        "event_id": event["id"],
                        "event_type": event["type"],
                        "attempt": attempt,
                        "status_code": status,
                        "error": error,
                        "succeeded": succeeded,
                        "created_at": now_rfc3339(),
                    }
                )
                state.next_delivery_id += 1
            if succeeded or attempt >= config.webhook_max_attempts:
                if not succeeded:
                    logger.info(
                        "webhook %s: gave up on %s after %d attempts", hook["id"], event["id"], attempt
                    )
                return
            await anyio.sleep(config.webhook_backoff_base * 2 ** (attempt - 1))
