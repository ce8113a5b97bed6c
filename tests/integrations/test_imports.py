"""Optional frameworks stay out of `import asyncapi_client`; the logger is set up by it."""

from __future__ import annotations

import subprocess
import sys


def test_import_asyncapi_client_pulls_in_no_framework_and_installs_redaction() -> None:
    code = (
        "import logging, sys, asyncapi_client, asyncapi_client.integrations\n"
        "heavy = sorted(m for m in ('fastapi', 'starlette', 'opentelemetry') if m in sys.modules)\n"
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
