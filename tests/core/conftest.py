"""The core's tests run on asyncio and on trio (anyio's pytest plugin): the core is backend-neutral."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)
