"""Fault injection: seeded 5xx, dropped connections, malformed and truncated bodies, latency."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from types import SimpleNamespace
from urllib.parse import urlsplit

import anyio as real_anyio
import httpx
import pytest

import asyncapi_sandbox._faults
from asyncapi_sandbox import Sandbox
from tests.support.sandbox_token import token_reply

# Raw asyncio sockets, servers or async fixtures: asyncio by nature (the runner's trio test
# and the other sandbox modules cover trio).
ASYNCIO_ONLY = True


async def raw_request(sb: Sandbox, request: bytes) -> bytes:
    """Send one raw HTTP/1.1 request and read until the server closes the connection."""
    parts = urlsplit(sb.base_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    try:
        writer.write(request)
        await writer.drain()
        chunks = []
        while True:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), 5)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        writer.close()


def get_request(token: str, path: str = "/api/v1/projects") -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: sandbox\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    ).encode()


async def test_a_drop_closes_the_connection_with_no_reply(sb: Sandbox, http: httpx.AsyncClient) -> None:
    token = (await token_reply(sb, http))["access_token"]
    await sb.configure(drop_rate=1.0)
    assert await raw_request(sb, get_request(token)) == b""
    await sb.configure(drop_rate=0.0)
    assert (await raw_request(sb, get_request(token))).startswith(b"HTTP/1.1 200 ")
    stats = await sb.stats()
    assert stats["drops"] == 1 and stats["faults"]["drop"] == 1
    assert "500" not in stats["responses_by_status"]


async def test_a_truncated_reply_is_shorter_than_its_content_length(
    sb: Sandbox, http: httpx.AsyncClient
) -> None:
    token = (await token_reply(sb, http))["access_token"]
    await sb.configure(truncate_rate=1.0)
    raw = await raw_request(sb, get_request(token))
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    length = int(
        next(
            line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
        )
    )
    assert 0 < len(body) < length
    with pytest.raises(httpx.RemoteProtocolError):
        await http.get(sb.base_url + "/api/v1/projects", headers={"Authorization": "Bearer " + token})


async def test_malformed_replies_are_200s_that_are_not_json(sb: Sandbox, api: httpx.AsyncClient) -> None:
    await sb.configure(malformed_rate=1.0)
    reply = await api.get("/api/v1/projects")
    assert reply.status_code == 200
    assert reply.headers["content-type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        reply.json()
    created = await api.post("/api/v1/projects", json={"name": "M"})
    assert created.status_code == 200  # decided before processing: nothing was created
    assert (await sb.stats())["projects_created"] == 0


async def test_faults_spare_the_token_endpoint_and_admin_routes(sb: Sandbox, http: httpx.AsyncClient) -> None:
    await sb.configure(fail_rate=0.5, drop_rate=0.5)
    for _ in range(10):
        await token_reply(sb, http)
        assert (await http.get(sb.base_url + "/_sandbox/stats")).status_code == 200


async def test_fault_rates_are_roughly_respected_and_seeded(http: httpx.AsyncClient) -> None:
    async def run() -> Counter[str]:
        async with Sandbox(seed=7, fail_rate=0.2, malformed_rate=0.1, drop_rate=0.1, truncate_rate=0.1) as sb:
            headers = {"Authorization": "Bearer " + (await token_reply(sb, http))["access_token"]}
            outcomes: Counter[str] = Counter()
            for _ in range(300):
                try:
                    reply = await http.get(sb.base_url + "/api/v1/users/me", headers=headers)
                except httpx.RemoteProtocolError as exc:
                    outcomes["truncate" if "incomplete" in str(exc).lower() else "drop"] += 1
                    continue
                except httpx.TransportError:
                    outcomes["drop"] += 1
                    continue
                if reply.status_code >= 500:
                    outcomes["fail"] += 1
                else:
                    try:
                        reply.json()
                        outcomes["ok"] += 1
                    except ValueError:
                        outcomes["malformed"] += 1
            stats = await sb.stats()
            assert stats["faults"]["fail"] == outcomes["fail"]
            assert stats["faults"]["malformed"] == outcomes["malformed"]
            assert (
                stats["faults"]["drop"] + stats["faults"]["truncate"]
                == outcomes["drop"] + outcomes["truncate"]
            )
            return outcomes

    outcomes = await run()
    assert 30 <= outcomes["fail"] <= 90  # 20% of 300
    assert 10 <= outcomes["malformed"] <= 50
    assert 25 <= outcomes["drop"] + outcomes["truncate"] <= 95
    assert 90 <= outcomes["ok"] <= 210
    assert await run() == outcomes  # the same seed draws the same faults


async def test_latency_is_added(sb: Sandbox, api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # What the sandbox asks to sleep, recorded (not timed: the machine may be slower still).
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)
        await real_anyio.sleep(seconds)

    monkeypatch.setattr(
        asyncapi_sandbox._faults, "anyio", SimpleNamespace(sleep=sleep, lowlevel=real_anyio.lowlevel)
    )
    await sb.configure(latency_ms=150, jitter_ms=50)
    assert (await api.get("/api/v1/users/me")).status_code == 200
    assert len(delays) == 1 and 0.15 <= delays[0] <= 0.2
