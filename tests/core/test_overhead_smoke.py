"""Smoke test for the benchmarks: their no-network parts run, and the SDK pipeline stays far
cheaper than the stack users assemble today (a relative check, robust to a busy machine)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def load(name: str) -> ModuleType:
    sys.path.insert(0, str(BENCH))
    try:
        spec = importlib.util.spec_from_file_location(f"_bench_{name}", BENCH / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


def test_pipeline_costs_less_than_todays_stack() -> None:
    pytest.importorskip("aiolimiter")
    pytest.importorskip("tenacity")
    overhead = load("overhead")
    costs = overhead.sdk_mock_costs(1500)
    stack = overhead.todays_stack_cost(1500)
    assert isinstance(stack, float)
    ours = costs["SDK projects.get(1), every layer"]
    assert 0 < ours < stack / 2, (ours, stack)


def test_with_options_views_share_the_client_state() -> None:
    transports = load("transports")
    per_view, per_view_headers, shared = transports.with_options_cost(2000)
    assert shared
    assert per_view > 0 and per_view_headers > 0


@pytest.mark.parametrize("kind", ["base", "no rate-limit headers", "X-RateLimit headers"])
def test_the_instruction_count_runs_the_limiter_chain(kind: str) -> None:
    import asyncio

    counter = load("limiter_instructions")
    limiter = asyncio.run(counter.child(kind, 10))
    if kind == "base":
        assert limiter is None
    else:
        estimator = limiter._partitions.default.estimator
        assert estimator.sent == counter.WARM_UP + 10
        assert estimator.inflight == 0
