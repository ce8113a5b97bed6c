"""The `asyncapi-client` command line.

It never shows a traceback. What can go wrong, and what it answers:

| what | stderr | exit status |
| --- | --- | --- |
| a bad flag or value, a missing setting, an unreadable file | one line: `asyncapi-client: error: ...` | 2 |
| the API refused or failed (an `APIError`) | one line: `asyncapi-client: <ErrorType>: ...` | 1 |
| some records of a bulk import failed | their outcome lines on stdout, a summary | 1 |
| stdout closed early (`... \\| head`) | nothing | 141 (as a process killed by SIGPIPE) |
| Ctrl-C | nothing | 130 |
| a bug | one line naming the error; `-vv` logs its traceback | 1 |
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from ._cli_resources import UsageError, add_resource_commands, add_verbose_flag
from ._errors import APIError
from ._redact import redact
from ._version import __version__

PROG = "asyncapi-client"
_log = logging.getLogger("asyncapi_client.cli")


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse, with a bad flag or value said in one line (usage stays in `--help`)."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog=PROG, description="Call the asyncapi API from a terminal.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    add_verbose_flag(parser, top_level=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_resource_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (see the module docstring)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help, --version, or a one-line usage error
        return exit_.code if isinstance(exit_.code, int) else 2
    verbose = int(getattr(args, "verbose", 0) or 0)
    try:
        if verbose:
            from ._env import enable_logging

            enable_logging("debug" if verbose > 1 else "info")
        status = int(args.handler(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside the handling below
        return status
    except BaseException as raised:
        return _fail(_leaf(raised))


def _leaf(exc: BaseException) -> BaseException:
    """The one exception inside exception groups (a task group wraps what its body raised)."""
    inner = getattr(exc, "exceptions", None)  # a BaseExceptionGroup (or its 3.10 backport)
    while isinstance(inner, tuple) and len(inner) == 1 and isinstance(inner[0], BaseException):
        exc = inner[0]
        inner = getattr(exc, "exceptions", None)
    return exc


def _fail(exc: BaseException) -> int:
    if isinstance(exc, UsageError):
        sys.stderr.write(f"{PROG}: error: {exc}\n")
        return 2
    if isinstance(exc, APIError):
        sys.stderr.write(f"{PROG}: {type(exc).__name__}: {exc}\n")
        return 1
    if isinstance(exc, BrokenPipeError):
        # The reader went away: say nothing, and keep Python from complaining at exit when it
        # flushes what is left for the closed pipe.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return 141
    if isinstance(exc, KeyboardInterrupt):
        return 130
    if isinstance(exc, SystemExit):
        return exc.code if isinstance(exc.code, int) else 1
    if not isinstance(exc, Exception):
        raise exc
    _log.debug("unexpected error", exc_info=exc)
    sys.stderr.write(
        f"{PROG}: error: unexpected {type(exc).__name__}: {redact(str(exc))} "
        "(run with -vv to log its traceback)\n"
    )
    return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
