"""The sandbox: a local HTTP server that implements the API contract, faults included.

Three ways to run it: `asyncapi-sandbox serve --port 8000` (or `python -m asyncapi_sandbox
serve`); `async with Sandbox(**options) as sb:` in Python (a free loopback port, served from a
background thread, or a subprocess with `isolated=True`); or the bare ASGI app from
`create_app(...)`. `asyncapi-sandbox demo` walks through the SDK against it, and
`asyncapi_sandbox.pytest_plugin` gives pytest fixtures. Needs the `sandbox` extra (uvicorn,
httptools, httpx); the client package `asyncapi_client` never imports this one.
"""

from ._app import SandboxApp, create_app
from ._config import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, SandboxConfig
from ._server import Sandbox

__all__ = [
    "DEFAULT_CLIENT_ID",
    "DEFAULT_CLIENT_SECRET",
    "Sandbox",
    "SandboxApp",
    "SandboxConfig",
    "create_app",
]
