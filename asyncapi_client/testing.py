"""pytest plugin (entry point `asyncapi_client.testing`): test your code against the sandbox.

Installed with the package, it gives every test suite these fixtures:

- `sandbox`: a running `Sandbox` for one test, on a free loopback port. Options come from the
  marker: `@pytest.mark.sandbox(rate=5, burst=5, fail_rate=0.1)`.
- `sandbox_session`: one `Sandbox` shared by the whole session (default options). Call
  `sandbox_session.reset_sync()` (or `await ...reset()`) where a test needs fresh data.
- `sandbox_client`: an `AsyncClient` wired to the `sandbox` fixture with the demo client's
  credentials, closed after the test.

And `FakeClock`, a virtual clock to pass as `clock=` to anything that takes one
(`AsyncClient`, the auth strategies, `WebhookReceiver`, ...), so time-based code is tested
exactly and without waiting.

The sandbox is imported inside the fixtures, so loading the plugin costs nothing at start-up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar, cast

import anyio
import anyio.lowlevel
import pytest

if TYPE_CHECKING:
    from asyncapi_client import AsyncClient
    from asyncapi_client.auth import Auth
    from asyncapi_client.sandbox import Sandbox
_F = TypeVar("_F", bound=Callable[..., Any])

DEFAULT_EPOCH = 1_790_000_000.0
"""What `FakeClock().time()` reads at `monotonic()` 0: 2026-09-21T14:13:20Z."""


class FakeClock:
    """A virtual clock with the SDK's `Clock` protocol (`monotonic()`, `time()`, `sleep()`).

    Time moves only when code sleeps on it or a test calls `advance()`, so a test of backoff,
    token expiry or rate limiting is exact and takes no wall time:

        clock = FakeClock()
        client = AsyncClient(url, clock=clock, ...)
        ...
        assert clock.sleeps == [0.5, 1.0]     # the backoff delays the client asked for

    - `start`: what `monotonic()` reads at first; `now` holds the current reading.
    - `epoch`: wall-clock Unix seconds at `monotonic()` 0; `time()` is `epoch + now`, so server
      timestamps (`Retry-After` dates, `X-RateLimit-Reset`, webhook signatures) can be built
      relative to it.
    - `sleep(seconds)` records `seconds` in `sleeps`, moves `now` forward at once and yields to
      the event loop (a checkpoint, like a real sleep). With `block=True` it records the delay
      and then waits until cancelled instead: for testing what happens to a caller cancelled
      mid-sleep.
    - `sleeping`: an `anyio.Event` set when a `sleep()` starts; `await clock.sleeping.wait()`
      to know that the code under test has reached a sleep (with `block=True`, that it is parked
      there).
    - `advance(seconds)`: move time forward without sleeping (e.g. to expire a token, or to make
      a fake server's reply "take" time).

    Sleeps do not interact with anyio's own timers: code that waits with `anyio.sleep` or a
    `fail_after` deadline still waits in real time.
    """

    def __init__(self, start: float = 0.0, *, epoch: float = DEFAULT_EPOCH, block: bool = False) -> None:
        self.now = start
        self.epoch = epoch
        self.block = block
        self.sleeps: list[float] = []
        self.sleeping = anyio.Event()

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.epoch + self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.sleeping.set()
        if self.block:
            await anyio.sleep_forever()
        self.now += max(0.0, seconds)
        await anyio.lowlevel.checkpoint()

    def __repr__(self) -> str:
        return f"FakeClock(now={self.now!r}, sleeps={len(self.sleeps)})"


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
    from asyncapi_client.sandbox import Sandbox

    options: dict[str, Any] = {}
    for marker in reversed(list(request.node.iter_markers("sandbox"))):
        options.update(marker.kwargs)
    with Sandbox(**options) as server:
        yield server


@pytest.fixture(scope="session")
def sandbox_session() -> Iterator[Sandbox]:
    """One sandbox server for the whole session (default options)."""
    from asyncapi_client.sandbox import Sandbox

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
