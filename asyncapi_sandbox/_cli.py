"""The `asyncapi-sandbox` command (also `python -m asyncapi_sandbox`).

`asyncapi-sandbox serve [options]` runs the server; `asyncapi-sandbox demo` walks through the
whole SDK against an in-process sandbox.
"""

from __future__ import annotations

import argparse
import importlib.util
from typing import Any, Final

import attrs

from ._config import SandboxConfig

_HELP: Final = {
    "token_ttl": "access token lifetime in seconds (default 3600)",
    "rate": "per-token rate limit in requests per second; 0 = no limit (default 0)",
    "burst": "bucket capacity; 0 = ceil(rate) (default 0)",
    "latency_ms": "added latency per /api/v1 request in ms (default 0)",
    "jitter_ms": "extra random latency, up to this many ms (default 0)",
    "fail_rate": "fraction of /api/v1 replies that are 500/502/503 (default 0)",
    "drop_rate": "fraction of /api/v1 connections closed with no reply (default 0)",
    "malformed_rate": "fraction of /api/v1 replies that are a 200 with a non-JSON body (default 0)",
    "truncate_rate": "fraction of /api/v1 replies cut short of their Content-Length (default 0)",
    "max_bulk": "maximum items in POST /api/v1/users/bulk (default 100)",
    "projects": "projects generated at start (default 150)",
    "users": "users generated at start, the demo client's own included (default 50)",
    "seed": "seed of the generated data and of the fault draws (default 0)",
    "client_id": "the registered client id (default demo-client)",
    "client_secret": "the registered client secret (default demo-secret)",
    "host": "address to listen on (default 127.0.0.1)",
    "port": "port to listen on; 0 = a free port (default 8000 on the command line)",
    "webhook_max_attempts": "delivery attempts per webhook event (default 5)",
    "webhook_backoff_base": "seconds before the first re-delivery, doubled each time (default 0.5)",
    "webhook_timeout": "seconds a webhook receiver has to answer (default 5)",
    "redirect_uri": "the client's registered redirect URI; any port on a loopback host "
    "(default http://127.0.0.1/oauth/callback)",
    "authorize_mode": "GET /oauth/authorize: consent (a page), auto (approve at once) or deny (default consent)",
    "authorize_user": "the user who logs in at /oauth/authorize (default 1, the demo client's own user)",
}
_EXTRA: Final = ("uvicorn", "httptools", "httpx")
"""What the `sandbox` extra installs and the server needs at run time."""
_TYPES: Final = {"float": float, "int": int, "str": str}
_METAVARS: Final = {
    "token_ttl": "SECONDS",
    "rate": "PER_SECOND",
    "burst": "N",
    "latency_ms": "MS",
    "jitter_ms": "MS",
    "max_bulk": "N",
    "projects": "N",
    "users": "N",
    "seed": "N",
    "client_id": "ID",
    "client_secret": "SECRET",
    "webhook_max_attempts": "N",
    "webhook_backoff_base": "SECONDS",
    "webhook_timeout": "SECONDS",
    "redirect_uri": "URL",
    "authorize_mode": "MODE",
    "authorize_user": "USER_ID",
}


def add_options(parser: argparse.ArgumentParser) -> None:
    for field in attrs.fields(SandboxConfig):
        default = 8000 if field.name == "port" else field.default
        parser.add_argument(
            "--" + field.name.replace("_", "-"),
            dest=field.name,
            type=_TYPES[str(field.type)],
            default=default,
            metavar=_METAVARS.get(field.name, "F" if field.name.endswith("_rate") else field.name.upper()),
            help=_HELP.get(field.name),
        )


def _add_private_options(parser: argparse.ArgumentParser) -> None:
    # Used by Sandbox(isolated=True): stop when stdin closes (the parent process died).
    parser.add_argument("--exit-with-parent", action="store_true", help=argparse.SUPPRESS)


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    return SandboxConfig(**{f.name: getattr(args, f.name) for f in attrs.fields(SandboxConfig)})


def run(args: argparse.Namespace) -> int:
    from ._server import serve_forever

    try:
        config = config_from_args(args)
    except ValueError as exc:
        raise SystemExit(f"asyncapi-sandbox serve: {exc}") from None
    try:
        serve_forever(config, exit_with_parent=getattr(args, "exit_with_parent", False))
    except OSError as exc:
        raise SystemExit(
            f"asyncapi-sandbox serve: cannot listen on {config.host}:{config.port}: {exc}"
        ) from None
    return 0


def add_serve_command(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "serve",
        help="run the sandbox server",
        description="Run the sandbox: a local server that implements the API, with fault injection.",
    )
    add_options(parser)
    _add_private_options(parser)
    parser.set_defaults(handler=run)


def build_parser() -> argparse.ArgumentParser:
    from ._demo import add_demo_command

    parser = argparse.ArgumentParser(
        prog="asyncapi-sandbox",
        description="The sandbox: a local server that implements the API, with fault injection.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_serve_command(commands)
    add_demo_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    missing = [name for name in _EXTRA if importlib.util.find_spec(name) is None]
    if missing:
        raise SystemExit(
            f"asyncapi-sandbox needs {', '.join(missing)}: pip install 'asyncapi-client[sandbox]'"
        )
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130
