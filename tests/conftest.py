from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from asyncapi_client import _env
from tests.support.services import running_redis

# The sandbox's fixtures (sandbox, sandbox_session, sandbox_client) are opt-in, as for any user.
pytest_plugins = ["asyncapi_sandbox.pytest_plugin"]

# The client reads these when it is not told otherwise: a developer's own settings must not leak
# into the tests (a test that needs one sets it with monkeypatch).
for _name in (_env.BASE_URL, _env.CLIENT_ID, _env.CLIENT_SECRET, _env.TOKEN_URL, _env.ACCESS_TOKEN, _env.LOG):
    os.environ.pop(_name, None)


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    """A redis-server shared by the session's tests; flush keys per test if you need isolation.

    Skips (fails under `.ci/run`) when redis-server is not installed.
    """
    with running_redis() as url:
        yield url
