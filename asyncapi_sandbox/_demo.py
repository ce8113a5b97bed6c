"""`asyncapi-sandbox demo`: the whole SDK, end to end, against an in-process sandbox.

It starts the sandbox (short-lived tokens, a visible rate limit, a few injected 5xx), then:
authenticates with client credentials, fetches `me`, streams every project with prefetch and a
progress bar, bulk-creates 1,000 users of which a few are invalid (reported by index), registers
a webhook and receives a signed event on a local receiver, and prints a summary of what the
pipeline did (requests, retries, 429s, time waited on the limiter, token refreshes).
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from collections.abc import Iterator
from typing import Any

import anyio


def _say(text: str = "") -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def demo_users(count: int, bad: dict[int, dict[str, str]]) -> Iterator[dict[str, str]]:
    """`count` new users, lazily; the indices in `bad` get the given invalid record instead."""
    stamp = int(time.time())
    for index in range(count):
        yield bad.get(index) or {"name": f"Demo User {index}", "email": f"demo{stamp}.{index}@example.com"}


async def run_demo(args: argparse.Namespace) -> int:
    import uvicorn

    from asyncapi_client import AsyncClient, ClientCredentials, RateLimit, RetryPolicy
    from asyncapi_client._progress import ProgressBar
    from asyncapi_client.webhooks import WebhookEvent, WebhookReceiver

    from ._server import Sandbox

    started = time.perf_counter()
    options = dict(
        token_ttl=args.token_ttl,
        rate=args.rate,
        burst=args.burst,
        fail_rate=args.fail_rate,
        projects=args.projects,
        users=50,
        seed=7,
    )
    async with Sandbox(**options) as sb:
        _say(
            f"sandbox: {sb.base_url}  (token ttl {args.token_ttl}s, limit {args.rate}/s burst {args.burst}, "
            f"{args.fail_rate:.0%} injected 5xx)"
        )
        auth = ClientCredentials(sb.token_url, sb.client_id, sb.client_secret, refresh_margin=1.0)
        async with AsyncClient(
            sb.base_url, auth=auth, rate_limit=RateLimit(), retry=RetryPolicy(max_attempts=5)
        ) as client:
            # 1. Authenticate and fetch me.
            me = await client.users.me()
            _say(f"1. authenticated as {me.name} <{me.email}> (user {me.id})")

            # 2. Stream every project, four pages ahead.
            bar = ProgressBar("2. streaming projects")
            seen = 0
            async with client.projects.list(
                limit=50, prefetch=4, on_progress=lambda done, total: bar.update_to(done, total)
            ) as pager:
                async for _project in pager:
                    seen += 1
            bar.close()
            _say(f"   streamed {seen} projects of {pager.total_items}")

            # 3. Bulk-create 1,000 users, a few of them invalid, under the rate limit.
            existing = me.email
            bad = {
                3: {"name": "Bad Email", "email": "not-an-email"},
                417: {"name": "", "email": "empty.name@example.com"},
                998: {"name": "Taken", "email": existing},
                999: {"email": "no.name@example.com"},
            }
            bar = ProgressBar("3. bulk-creating users", total=args.bulk)
            result = await client.users.bulk_create(
                demo_users(args.bulk, bad),
                chunk_size=100,
                concurrency=4,
                on_progress=lambda done, failed: bar.update_to(done),
            )
            bar.close()
            _say(
                f"   created {len(result.created)}, failed {len(result.failed)}; every index accounted "
                f"for: {len(result.created) + len(result.failed) == args.bulk}"
            )
            for index, error in sorted(result.failed.items()):
                _say(f"   - item {index}: {type(error).__name__}: {error.message}")
            status = client.rate_limit_status()
            _say(
                f"   rate limit as the client sees it: server limit {status.limit}, remaining "
                f"{status.remaining}, learned rate {status.rate or 0:.1f}/s, "
                f"{status.wait_seconds:.2f}s spent waiting for the bucket"
            )

            # 4. Register a webhook and receive a signed event.
            port = _free_port()
            webhook = await client.webhooks.create(f"http://127.0.0.1:{port}/", ["project.created"])
            assert webhook.secret is not None
            receiver = WebhookReceiver(webhook.secret)
            received: list[WebhookEvent[Any]] = []
            got_event = anyio.Event()

            @receiver.on("*")
            async def on_event(event: WebhookEvent[Any]) -> None:
                received.append(event)
                got_event.set()

            server = uvicorn.Server(
                uvicorn.Config(receiver, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
            )
            async with anyio.create_task_group() as tg:
                tg.start_soon(server.serve)
                # uvicorn exposes a flag, not an event, for "listening".
                while not server.started:  # noqa: ASYNC110
                    await anyio.sleep(0.01)
                project = await client.projects.create("Demo project", "made by the demo")
                with anyio.fail_after(15):
                    await got_event.wait()
                server.should_exit = True
            event = received[0]
            _say(
                f"4. webhook {webhook.id} received a verified '{event.type}' event {event.id} "
                f"for project {project.id}"
            )

            # 5. Summary.
            stats = client.stats()
            sandbox_stats = await sb.stats()
        tokens = sandbox_stats.get("token_requests", {})
        _say("5. summary")
        _say(
            f"   requests {stats.requests}, attempts {stats.attempts}, retries {stats.retries}, "
            f"429s {stats.rate_limited}, limiter wait {stats.limiter_wait_seconds:.2f}s, "
            f"token refreshes {stats.token_refreshes}"
        )
        _say(
            f"   sandbox saw token requests {tokens}, 429s sent {sandbox_stats.get('rate_limited')}, "
            f"users created {sandbox_stats.get('users_created')}"
        )
        _say(f"   done in {time.perf_counter() - started:.1f}s")
    return 0


def add_demo_command(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "demo", help="walk through the whole SDK against an in-process sandbox"
    )
    parser.add_argument("--token-ttl", type=float, default=4.0, help="sandbox token lifetime (s)")
    parser.add_argument("--rate", type=float, default=10.0, help="sandbox rate limit (requests/s)")
    parser.add_argument("--burst", type=int, default=5, help="sandbox burst")
    parser.add_argument("--fail-rate", type=float, default=0.05, help="fraction of injected 5xx")
    parser.add_argument("--projects", type=int, default=400, help="projects in the sandbox")
    parser.add_argument("--bulk", type=int, default=1000, help="users to bulk-create")

    def handler(args: argparse.Namespace) -> int:
        return int(anyio.run(run_demo, args))

    parser.set_defaults(handler=handler)
