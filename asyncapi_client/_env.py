"""Configuration from the environment: the variables `AsyncClient()` and the CLI both read.

| variable | meaning |
| --- | --- |
| `ASYNCAPI_BASE_URL` | the API's base URL, when `AsyncClient(base_url)` / `--base-url` is not given |
| `ASYNCAPI_CLIENT_ID`, `ASYNCAPI_CLIENT_SECRET` | OAuth client credentials (`ClientCredentials`), when `auth=` / `--client-id` is not given |
| `ASYNCAPI_TOKEN_URL` | their token endpoint; default `<base URL>/oauth/token` |
| `ASYNCAPI_ACCESS_TOKEN` | a ready access token (`BearerToken`), used when no client credentials are set |
| `ASYNCAPI_LOG` | `info` or `debug`: log the `asyncapi_client` tree to stderr at that level, redacted |

Explicit arguments always win, and an argument given is never mixed with the environment
(`AsyncClient(auth=None)` means no auth even when `ASYNCAPI_CLIENT_ID` is set). Credentials are
read only when `auth` is not passed, and a secret read here is held as a `Secret` from the start.
A value that cannot be used (an empty string, a client id without its secret, an unknown log
level) is a `ValueError` naming the variable, raised when the client is made.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from .auth import Auth

BASE_URL: Final = "ASYNCAPI_BASE_URL"
CLIENT_ID: Final = "ASYNCAPI_CLIENT_ID"
CLIENT_SECRET: Final = "ASYNCAPI_CLIENT_SECRET"
TOKEN_URL: Final = "ASYNCAPI_TOKEN_URL"
ACCESS_TOKEN: Final = "ASYNCAPI_ACCESS_TOKEN"
LOG: Final = "ASYNCAPI_LOG"

_LOG_LEVELS: Final = {"info": logging.INFO, "debug": logging.DEBUG}


def env_value(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The variable's value, or None when it is unset or blank (an exported but empty variable
    means "not set", as in most shells' `${VAR:-default}`)."""
    value = (os.environ if environ is None else environ).get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def base_url_from_env(environ: Mapping[str, str] | None = None) -> str:
    """`ASYNCAPI_BASE_URL`, or a ValueError that says how to give the URL."""
    url = env_value(BASE_URL, environ)
    if url is None:
        raise ValueError(
            f"no base URL: pass AsyncClient('https://api.example.com') or set {BASE_URL}"
        )
    return url


def auth_from_env(
    base_url: str,
    *,
    client_id: str | None = None,
    client_secret: str | None = None,
    token_url: str | None = None,
    allow_insecure_http: bool = False,
    environ: Mapping[str, str] | None = None,
) -> Auth | None:
    """The auth strategy the environment describes, or None when it names no credentials.

    `client_id`, `client_secret` and `token_url` (the CLI's flags) override their variables.
    Client credentials win over `ASYNCAPI_ACCESS_TOKEN` when both are set, as they can renew
    themselves.
    """
    from .auth import BearerToken, ClientCredentials

    client_id = client_id or env_value(CLIENT_ID, environ)
    client_secret = client_secret or env_value(CLIENT_SECRET, environ)
    if client_id or client_secret:
        if not client_id:
            raise ValueError(f"{CLIENT_SECRET} is set but {CLIENT_ID} is not: set both, or neither")
        if not client_secret:
            raise ValueError(f"{CLIENT_ID} is set but {CLIENT_SECRET} is not: set both, or neither")
        url = token_url or env_value(TOKEN_URL, environ) or base_url.rstrip("/") + "/oauth/token"
        return ClientCredentials(url, client_id, client_secret, allow_insecure_http=allow_insecure_http)
    token = env_value(ACCESS_TOKEN, environ)
    if token is not None:
        return BearerToken(token)
    return None


class _StderrHandler(logging.Handler):
    """The handler `ASYNCAPI_LOG` installs: writes to whatever `sys.stderr` is at the time (as
    `logging.lastResort` does), so a redirected stderr is honoured. Records reach it already
    scrubbed by the logger's redacting handler, which sits first in the list; its own
    `RedactingFilter` makes that hold whatever order handlers end up in."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


def enable_logging(level: str | int, *, source: str = "level") -> None:
    """Log the `asyncapi_client` logger tree to stderr at `level` (`"info"`, `"debug"` or a
    `logging` level), redacted. Idempotent: a second call changes the level of the same handler.
    This is what `ASYNCAPI_LOG` and the CLI's `-v` do."""
    from ._logging import RedactingFilter, logger

    if isinstance(level, str):
        number = _LOG_LEVELS.get(level.strip().lower())
        if number is None:
            raise ValueError(f"{source} must be one of {', '.join(_LOG_LEVELS)}, got {level!r}")
    else:
        number = level
    handler = next((h for h in logger.handlers if isinstance(h, _StderrHandler)), None)
    if handler is None:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(RedactingFilter())
        logger.addHandler(handler)
    handler.setLevel(number)
    if logger.level == logging.NOTSET or logger.level > number:
        logger.setLevel(number)


def logging_from_env(environ: Mapping[str, str] | None = None) -> None:
    """Apply `ASYNCAPI_LOG` when it is set (a bad value is a ValueError naming it)."""
    value = env_value(LOG, environ)
    if value is not None:
        enable_logging(value, source=LOG)
