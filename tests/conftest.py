from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.services import running_redis

# The sandbox's fixtures (sandbox, sandbox_session, sandbox_client) are opt-in, as for any user.
pytest_plugins = ["asyncapi_sandbox.pytest_plugin"]


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    """A redis-server shared by the session's tests; flush keys per test if you need isolation.

    Skips (fails under `.ci/run`) when redis-server is not installed.
    """
    with running_redis() as url:
        yield url
