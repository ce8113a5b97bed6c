"""`import asyncapi_client` stays light (network libraries, authlib and optional frameworks are
imported on first use); the logger is set up by it."""

from __future__ import annotations

import subprocess
import sys

# What `import asyncapi_client` leaves for first use: the transports' network libraries (the
# default transport's httpcore too: its import chain alone cost ~250 ms), authlib (the token
# request builder), the optional extras' libraries, the webhooks' receiving end (a client that
# lists deliveries needs only their model) and the sandbox server.
DEFERRED = (
    "httpcore",
    "httpx",
    "h11",
    "h2",
    "anyio._backends._trio",
    "trio",
    "authlib",
    "aiohttp",
    "httpx2",
    "httpcore2",
    "pyreqwest",
    "redis",
    "fastapi",
    "starlette",
    "uvicorn",
    "opentelemetry",
    "tqdm",
    "asyncapi_client.transports._httpcore",
    "asyncapi_client.transports._aiohttp",
    "asyncapi_client.webhooks",
    "asyncapi_sandbox",
)


def test_import_asyncapi_client_defers_heavy_modules_and_installs_redaction() -> None:
    code = (
        "import logging, sys, asyncapi_client, asyncapi_client.integrations\n"
        f"heavy = sorted(m for m in {DEFERRED!r} if m in sys.modules)\n"
        "assert not heavy, heavy\n"
        "names = [type(h).__name__ for h in logging.getLogger('asyncapi_client').handlers]\n"
        "assert names == ['_ScrubbingHandler'], names\n"
        "import importlib, asyncapi_client._logging as m; importlib.reload(m)\n"
        "names = [type(h).__name__ for h in logging.getLogger('asyncapi_client').handlers]\n"
        "assert names == ['_ScrubbingHandler'], names\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_dict_config_recipe_keeps_redaction() -> None:
    """dictConfig replaces the handlers of a logger it configures (the silent scrubbing one
    included); the documented recipe puts RedactingFilter on the handlers it adds."""
    code = (
        "import io, logging, logging.config, asyncapi_client\n"
        "stream = io.StringIO()\n"
        "logging.config.dictConfig({'version': 1, 'disable_existing_loggers': False,\n"
        "  'filters': {'redact': {'()': 'asyncapi_client.RedactingFilter'}},\n"
        "  'handlers': {'out': {'class': 'logging.StreamHandler', 'stream': stream, 'filters': ['redact']}},\n"
        "  'loggers': {'asyncapi_client': {'level': 'DEBUG', 'handlers': ['out']}}})\n"
        "logging.getLogger('asyncapi_client.auth').debug('sent Bearer %s', 'sekrit-123')\n"
        "assert 'sekrit' not in stream.getvalue() and 'Bearer ***' in stream.getvalue(), stream.getvalue()\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_the_default_transport_is_imported_when_the_first_client_needs_it() -> None:
    code = (
        "import sys, asyncapi_client\n"
        "assert 'httpcore' not in sys.modules\n"
        "client = asyncapi_client.AsyncClient('https://api.example.com')\n"
        "assert type(client.transport).__name__ == 'HttpcoreTransport', client.transport\n"
        "assert 'httpcore' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
