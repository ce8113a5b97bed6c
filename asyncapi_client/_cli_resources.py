"""Resource commands of the CLI, against any server: `projects list`, `users me`,
`users bulk-create FILE.jsonl`.

Configuration comes from flags or the environment (`ASYNCAPI_BASE_URL`, `ASYNCAPI_CLIENT_ID`,
`ASYNCAPI_CLIENT_SECRET`, optional `ASYNCAPI_TOKEN_URL`, or `ASYNCAPI_ACCESS_TOKEN` for a ready
token). Prefer the environment for secrets: flags show up in `ps`. Output is JSON lines on
stdout; progress and errors go to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator
from typing import Any

import anyio

from ._client import AsyncClient
from ._errors import APIError
from ._progress import ProgressBar


class UsageError(Exception):
    """A missing or bad setting: printed without a traceback, exit status 2."""


def add_connection_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection (flags override the environment)")
    group.add_argument("--base-url", help="API base URL [env ASYNCAPI_BASE_URL]")
    group.add_argument("--client-id", help="OAuth client id [env ASYNCAPI_CLIENT_ID]")
    group.add_argument(
        "--client-secret", help="OAuth client secret [env ASYNCAPI_CLIENT_SECRET; prefer the env]"
    )
    group.add_argument(
        "--token-url", help="token endpoint [env ASYNCAPI_TOKEN_URL; default BASE/oauth/token]"
    )
    group.add_argument(
        "--allow-insecure-http", action="store_true", help="allow http:// to a non-loopback host"
    )


def _setting(args: argparse.Namespace, flag: str, env: str) -> str | None:
    value = getattr(args, flag, None) or os.environ.get(env)
    return value or None


def client_from_args(args: argparse.Namespace) -> AsyncClient:
    from .auth import BearerToken, ClientCredentials

    base_url = _setting(args, "base_url", "ASYNCAPI_BASE_URL")
    if not base_url:
        raise UsageError("no API base URL: pass --base-url or set ASYNCAPI_BASE_URL")
    insecure = bool(getattr(args, "allow_insecure_http", False))
    access_token = os.environ.get("ASYNCAPI_ACCESS_TOKEN")
    client_id = _setting(args, "client_id", "ASYNCAPI_CLIENT_ID")
    client_secret = _setting(args, "client_secret", "ASYNCAPI_CLIENT_SECRET")
    try:
        if client_id or client_secret:
            if not client_id:
                raise UsageError("no client id: pass --client-id or set ASYNCAPI_CLIENT_ID")
            if not client_secret:
                raise UsageError("no client secret: set ASYNCAPI_CLIENT_SECRET (or pass --client-secret)")
            token_url = (
                _setting(args, "token_url", "ASYNCAPI_TOKEN_URL") or base_url.rstrip("/") + "/oauth/token"
            )
            auth: Any = ClientCredentials(token_url, client_id, client_secret, allow_insecure_http=insecure)
        elif access_token:
            auth = BearerToken(access_token)
        else:
            raise UsageError(
                "no credentials: set ASYNCAPI_CLIENT_ID and ASYNCAPI_CLIENT_SECRET "
                "(or ASYNCAPI_ACCESS_TOKEN for a ready token)"
            )
        return AsyncClient(base_url, auth=auth, allow_insecure_http=insecure)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _emit(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, default=str, separators=(",", ":")) + "\n")


def _jsonable(model: Any) -> Any:
    from ._models import converter

    return converter.unstructure(model)


async def _projects_list(args: argparse.Namespace) -> int:
    async with client_from_args(args) as client:
        if not args.all:
            page = await client.projects.list_page(args.page, args.limit)
            for project in page.data:
                _emit(_jsonable(project))
            return 0
        bar = ProgressBar("projects") if args.progress else None
        pager = client.projects.list(
            limit=args.limit,
            prefetch=args.prefetch,
            on_progress=(lambda done, total: bar.update_to(done, total)) if bar else None,
        )
        async with pager:
            async for project in pager:
                _emit(_jsonable(project))
        if bar:
            bar.close()
    return 0


async def _users_me(args: argparse.Namespace) -> int:
    async with client_from_args(args) as client:
        _emit(_jsonable(await client.users.me()))
    return 0


def _read_jsonl(path: str) -> Iterator[Any]:
    stream = sys.stdin if path == "-" else open(path, encoding="utf-8")  # noqa: SIM115
    try:
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except ValueError:
                # Keep the index aligned: the bad line becomes an item that fails client-side.
                yield {"_invalid_json_line": number}
    finally:
        if stream is not sys.stdin:
            stream.close()


async def _users_bulk_create(args: argparse.Namespace) -> int:
    if args.file != "-" and not await anyio.Path(args.file).exists():
        raise UsageError(f"no such file: {args.file}")
    created = failed = 0
    async with client_from_args(args) as client:
        bar = ProgressBar("users") if args.progress else None
        job = client.users.bulk_create_iter(
            _read_jsonl(args.file),
            chunk_size=args.chunk_size,
            concurrency=args.concurrency,
            on_progress=(lambda done, _failed: bar.update_to(done)) if bar else None,
        )
        async with job as outcomes:
            async for outcome in outcomes:
                if outcome.error is None:
                    created += 1
                    _emit({"index": outcome.index, "status": "created", "user": _jsonable(outcome.user)})
                else:
                    failed += 1
                    err = outcome.error
                    _emit(
                        {
                            "index": outcome.index,
                            "status": "failed",
                            "error": type(err).__name__,
                            "message": err.message,
                            "details": getattr(err, "details", None),
                        }
                    )
        if bar:
            bar.close()
    sys.stderr.write(f"created {created}, failed {failed}\n")
    return 0 if failed == 0 else 1


def _run(coro_fn: Any) -> Any:
    def handler(args: argparse.Namespace) -> int:
        try:
            return int(anyio.run(coro_fn, args))
        except UsageError as exc:
            sys.stderr.write(f"asyncapi-client: error: {exc}\n")
            return 2
        except APIError as exc:
            sys.stderr.write(f"asyncapi-client: {type(exc).__name__}: {exc}\n")
            return 1

    return handler


def add_resource_commands(commands: Any) -> None:
    projects = commands.add_parser("projects", help="projects of the API")
    projects_sub = projects.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = projects_sub.add_parser("list", help="list projects as JSON lines")
    add_connection_flags(listing)
    listing.add_argument("--all", action="store_true", help="stream every page")
    listing.add_argument("--page", type=int, default=1)
    listing.add_argument("--limit", type=int, default=100)
    listing.add_argument("--prefetch", type=int, default=4, help="pages fetched ahead (with --all)")
    listing.add_argument("--progress", action="store_true", help="progress bar on stderr")
    listing.set_defaults(handler=_run(_projects_list))

    users = commands.add_parser("users", help="users of the API")
    users_sub = users.add_subparsers(dest="action", required=True, metavar="ACTION")
    me = users_sub.add_parser("me", help="the authenticated user, as JSON")
    add_connection_flags(me)
    me.set_defaults(handler=_run(_users_me))
    bulk = users_sub.add_parser("bulk-create", help="create users from a JSON-lines file ('-' for stdin)")
    add_connection_flags(bulk)
    bulk.add_argument("file")
    bulk.add_argument("--chunk-size", type=int, default=100)
    bulk.add_argument("--concurrency", type=int, default=8)
    bulk.add_argument("--progress", action="store_true", help="progress bar on stderr")
    bulk.set_defaults(handler=_run(_users_bulk_create))
