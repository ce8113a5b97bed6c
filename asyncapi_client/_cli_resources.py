"""Resource commands of the CLI, against any server: `projects list`, `users me`,
`users bulk-create FILE.jsonl`.

Configuration comes from flags or the environment, the same variables `AsyncClient()` reads
(`ASYNCAPI_BASE_URL`, `ASYNCAPI_CLIENT_ID`, `ASYNCAPI_CLIENT_SECRET`, optional
`ASYNCAPI_TOKEN_URL`, or `ASYNCAPI_ACCESS_TOKEN` for a ready token; `ASYNCAPI_LOG`); a flag wins
over its variable. Prefer the environment for secrets: flags show up in `ps`. Output is JSON
lines on stdout, each model written as its `to_json()`; progress and errors go to stderr.

`users bulk-create` reads one JSON object per line (blank lines are skipped, not counted) and
writes one outcome line per record, in input order: `{"index": <record number from 0>, "line":
<line number in the file, from 1>, "status": "created" | "failed", ...}`. A line that is not JSON
fails alone, saying so; so does a record with a field the API does not know.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TextIO

import anyio

from . import _env
from ._client import AsyncClient
from ._errors import InvalidItemError
from ._logging import LoggingMiddleware
from ._pagination import MAX_PAGE_LIMIT
from ._progress import ProgressBar
from .services._bulk import DEFAULT_CONCURRENCY
from .services._bulk_input import MAX_BULK, UserInput


class UsageError(Exception):
    """A missing or bad setting: printed without a traceback, exit status 2."""


def add_verbose_flag(parser: argparse.ArgumentParser, *, top_level: bool = False) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        # Given after a subcommand, it must not reset the count given before it.
        default=0 if top_level else argparse.SUPPRESS,
        help="log to stderr, redacted: -v for each call, -vv for everything (debug)",
    )


def integer(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer from `low` to `high`, or a message that says so."""

    def parse(text: str) -> int:
        span = f"from {low} to {high}" if high is not None else f">= {low}"
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer {span}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be an integer {span}, got {value}")
        return value

    return parse


def job_id(text: str) -> str:
    if not text or len(text) > 64 or not text.isprintable():
        raise argparse.ArgumentTypeError("must be 1 to 64 printable characters")
    return text


def add_connection_flags(parser: argparse.ArgumentParser) -> None:
    add_verbose_flag(parser)
    group = parser.add_argument_group("connection (flags override the environment)")
    group.add_argument("--base-url", help=f"API base URL [env {_env.BASE_URL}]")
    group.add_argument("--client-id", help=f"OAuth client id [env {_env.CLIENT_ID}]")
    group.add_argument(
        "--client-secret", help=f"OAuth client secret [env {_env.CLIENT_SECRET}; prefer the env]"
    )
    group.add_argument("--token-url", help=f"token endpoint [env {_env.TOKEN_URL}; default BASE/oauth/token]")
    group.add_argument(
        "--allow-insecure-http", action="store_true", help="allow http:// to a non-loopback host"
    )


def client_from_args(args: argparse.Namespace) -> AsyncClient:
    """The client the flags and the environment describe, or a `UsageError` saying what to set."""
    insecure = bool(getattr(args, "allow_insecure_http", False))
    try:
        base_url = args.base_url or _env.base_url_from_env()
        auth = _env.auth_from_env(
            base_url,
            client_id=args.client_id,
            client_secret=args.client_secret,
            token_url=args.token_url,
            allow_insecure_http=insecure,
        )
        if auth is None:
            raise UsageError(
                f"no credentials: set {_env.CLIENT_ID} and {_env.CLIENT_SECRET} "
                f"(or {_env.ACCESS_TOKEN} for a ready token)"
            )
        # -v: one log line per call (LoggingMiddleware at INFO); -vv adds the SDK's debug lines.
        middleware = [LoggingMiddleware(level=logging.INFO)] if getattr(args, "verbose", 0) else []
        return AsyncClient(base_url, auth=auth, allow_insecure_http=insecure, middleware=middleware)
    except ValueError as exc:
        message = str(exc).replace("pass AsyncClient('https://api.example.com') or", "pass --base-url or")
        raise UsageError(message) from None


def _emit(text: str) -> None:
    sys.stdout.write(text + "\n")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


async def _projects_list(args: argparse.Namespace) -> int:
    async with client_from_args(args) as client:
        if not args.all:
            page = await client.projects.list_page(args.page, args.limit)
            for project in page.data:
                _emit(project.to_json())
            return 0
        bar = ProgressBar("projects") if args.progress else None
        pager = client.projects.list(
            limit=args.limit,
            prefetch=args.prefetch,
            start_page=args.start_page,
            on_progress=(lambda done, total: bar.update_to(done, total)) if bar else None,
        )
        try:
            async with pager:
                async for project in pager:
                    _emit(project.to_json())
        finally:
            if bar:
                bar.close()
    return 0


async def _users_me(args: argparse.Namespace) -> int:
    async with client_from_args(args) as client:
        _emit((await client.users.me()).to_json())
    return 0


class _Records:
    """The records of a JSON-lines file, numbered: `index` counts records from 0 (blank lines
    are not records), `lines[index]` is the record's line number, kept until its outcome is
    written (the bulk job reads lazily, so only the records in flight are held)."""

    def __init__(self, stream: TextIO, name: str) -> None:
        self._stream = stream
        self._name = name
        self.lines: dict[int, int] = {}
        self.first_line_was_json: bool | None = None

    def __iter__(self) -> Iterator[UserInput]:
        index = 0
        number = 0
        try:
            for number, text in enumerate(self._stream, start=1):
                if not text.strip():
                    continue
                self.lines[index] = number
                try:
                    record: UserInput = json.loads(text)
                except ValueError as exc:
                    reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                    record = InvalidItemError(
                        f"item {index}: line {number} is not valid JSON ({reason})", index=index, field=None
                    )
                if self.first_line_was_json is None:
                    self.first_line_was_json = not isinstance(record, InvalidItemError)
                yield record
                index += 1
        except UnicodeDecodeError:
            raise UsageError(f"{self._name}: line {number + 1} is not UTF-8 text") from None


def _count_records(path: str) -> int | None:
    """How many records the file holds, for the progress bar's total (None for stdin)."""
    if path == "-":
        return None
    try:
        with open(path, "rb") as stream:
            return sum(1 for line in stream if line.strip())
    except OSError:
        return None


def _open_input(path: str) -> TextIO:
    if path == "-":
        return sys.stdin
    try:
        return open(path, encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"no such file: {path}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


async def _users_bulk_create(args: argparse.Namespace) -> int:
    stream = _open_input(args.file)
    total = _count_records(args.file)
    created = failed = 0
    try:
        records = _Records(stream, args.file)
        async with client_from_args(args) as client:
            bar = ProgressBar("users", total=total) if args.progress else None
            job = client.users.bulk_create_iter(
                records,
                chunk_size=args.chunk_size,
                concurrency=args.concurrency,
                on_progress=(lambda done, _failed: bar.update_to(done)) if bar else None,
                job_id=args.job_id,
                ordered=True,
            )
            try:
                async with job as outcomes:
                    async for outcome in outcomes:
                        line = records.lines.pop(outcome.index, None)
                        if outcome.error is None:
                            created += 1
                            assert outcome.user is not None
                            row = {"index": outcome.index, "line": line, "status": "created"}
                            _emit(_dumps({**row, "user": outcome.user.to_dict()}))
                            continue
                        failed += 1
                        error = outcome.error
                        _emit(
                            _dumps(
                                {
                                    "index": outcome.index,
                                    "line": line,
                                    "status": "failed",
                                    "error": type(error).__name__,
                                    "message": error.message,
                                    "details": dict(error.details),
                                }
                            )
                        )
            finally:
                if bar:
                    bar.close()
    finally:
        if stream is not sys.stdin:
            stream.close()
    if records.first_line_was_json is False:
        sys.stderr.write(
            f"note: the first record of {args.file} is not JSON; bulk-create reads JSON lines, one "
            'object per line such as {"name": "Ada", "email": "ada@example.com"}\n'
        )
    sys.stderr.write(
        f"created {created}, failed {failed} (job id {job.job_id}; --job-id {job.job_id} "
        "re-sends this input without creating anything twice)\n"
    )
    return 0 if failed == 0 else 1


def _run(coro_fn: Callable[[argparse.Namespace], Coroutine[Any, Any, int]]) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        return int(anyio.run(coro_fn, args))

    return handler


def _check_paging(args: argparse.Namespace) -> None:
    if args.all and args.page is not None:
        raise UsageError("--page picks one page; with --all, start elsewhere with --start-page")
    if not args.all and args.start_page != 1:
        raise UsageError("--start-page goes with --all; for one page use --page")
    if args.page is None:
        args.page = 1


def add_resource_commands(commands: Any) -> None:
    projects = commands.add_parser("projects", help="projects of the API")
    projects_sub = projects.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = projects_sub.add_parser("list", help="list projects as JSON lines")
    add_connection_flags(listing)
    listing.add_argument("--all", action="store_true", help="stream every page")
    listing.add_argument("--page", type=integer(1), help="the page to list (default 1)")
    listing.add_argument(
        "--start-page", type=integer(1), default=1, help="with --all, the page to start from (default 1)"
    )
    listing.add_argument(
        "--limit", type=integer(1, MAX_PAGE_LIMIT), default=MAX_PAGE_LIMIT, help="items per page (1-100)"
    )
    listing.add_argument(
        "--prefetch", type=integer(0), default=4, help="pages fetched ahead, with --all (default 4)"
    )
    listing.add_argument("--progress", action="store_true", help="progress bar on stderr")

    def list_handler(args: argparse.Namespace) -> int:
        _check_paging(args)
        return _run(_projects_list)(args)

    listing.set_defaults(handler=list_handler)

    users = commands.add_parser("users", help="users of the API")
    users_sub = users.add_subparsers(dest="action", required=True, metavar="ACTION")
    me = users_sub.add_parser("me", help="the authenticated user, as JSON")
    add_connection_flags(me)
    me.set_defaults(handler=_run(_users_me))
    bulk = users_sub.add_parser("bulk-create", help="create users from a JSON-lines file ('-' for stdin)")
    add_connection_flags(bulk)
    bulk.add_argument("file", help="one JSON object per line, such as {\"name\": ..., \"email\": ...}")
    bulk.add_argument(
        "--chunk-size", type=integer(1, MAX_BULK), default=MAX_BULK, help="records per request (1-100)"
    )
    bulk.add_argument(
        "--concurrency",
        type=integer(1),
        default=DEFAULT_CONCURRENCY,
        help=f"requests in flight (default {DEFAULT_CONCURRENCY})",
    )
    bulk.add_argument(
        "--job-id",
        type=job_id,
        help="this import's id: re-running with the same id and input creates nothing twice",
    )
    bulk.add_argument("--progress", action="store_true", help="progress bar on stderr, with the total")
    bulk.set_defaults(handler=_run(_users_bulk_create))
