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
