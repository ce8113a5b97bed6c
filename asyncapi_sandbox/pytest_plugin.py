"""pytest plugin: test your code against the sandbox. Opt-in: enable it in a conftest.py with

    pytest_plugins = ["asyncapi_sandbox.pytest_plugin"]

(or `pytest -p asyncapi_sandbox.pytest_plugin`). It gives these fixtures:

- `sandbox`: a running `Sandbox` for one test, on a free loopback port. Options come from the
  marker: `@pytest.mark.sandbox(rate=5, burst=5, fail_rate=0.1)`.
- `sandbox_session`: one `Sandbox` shared by the whole session (default options). Call
  `sandbox_session.reset_sync()` (or `await ...reset()`) where a test needs fresh data.
- `sandbox_client`: an `AsyncClient` wired to the `sandbox` fixture with the demo client's
  credentials, closed after the test. An async fixture: with pytest-asyncio it is declared as
  one of its fixtures (so strict mode runs it); without it, anyio's plugin runs it.

The server (uvicorn) is started inside the fixtures, so loading the plugin does not import it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar, cast

import pytest

if TYPE_CHECKING:
    from asyncapi_client import AsyncClient
    from asyncapi_client.auth import Auth

    from ._server import Sandbox
_F = TypeVar("_F", bound=Callable[..., Any])


def _async_fixture_decorator() -> Callable[[_F], _F]:
    try:  # pytest-asyncio in strict mode needs its own decorator for async fixtures
        import pytest_asyncio
    except ImportError:  # pragma: no cover - anyio's plugin (or none) handles plain async fixtures
        return cast(Callable[[_F], _F], pytest.fixture)
    return cast(Callable[[_F], _F], pytest_asyncio.fixture)


_async_fixture = _async_fixture_decorator()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "sandbox(**options): options for the `sandbox` fixture (SandboxConfig names, e.g. rate=5)",
    )


@pytest.fixture
def sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """A sandbox server for this test; options from `@pytest.mark.sandbox(...)`."""
    from ._server import Sandbox

    options: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers("sandbox"))):
        options.update(marker.kwargs)
    with Sandbox(**options) as server:
        yield server


@pytest.fixture(scope="session")
def sandbox_session() -> Iterator[Sandbox]:
    """One sandbox server for the whole session (default options)."""
    from ._server import Sandbox

    with Sandbox() as server:
        yield server


async def sandbox_auth(server: Sandbox) -> Auth:
    """An auth strategy for the sandbox's demo client: `ClientCredentials`."""
    from asyncapi_client import ClientCredentials

    return ClientCredentials(server.token_url, server.client_id, server.client_secret)


@_async_fixture
async def sandbox_client(sandbox: Sandbox) -> AsyncIterator[AsyncClient]:
    """An `AsyncClient` for the `sandbox` fixture, authenticated as the demo client."""
    from asyncapi_client import AsyncClient

    async with AsyncClient(sandbox.base_url, auth=await sandbox_auth(sandbox)) as client:
        yield client
