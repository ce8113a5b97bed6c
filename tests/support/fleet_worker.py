"""One fleet worker process, for the tests and `benchmarks/fleet.py`: runs a task of
examples/dask_fleet.py (the code users copy) outside Dask, so a test can SIGKILL it at a chosen
point and start it again.

    python -m tests.support.fleet_worker import '<Fleet as JSON>' START STOP INDEX [DIE_AFTER]
    python -m tests.support.fleet_worker export '<Fleet as JSON>' '<PageSplit as JSON>' INDEX OUT

`import` with DIE_AFTER kills its own process with SIGKILL right after filing that many
outcomes (no cleanup runs, no `finally`: a crash, at a known point). Each prints one JSON line
when it ends: `{"result": ..., "started": ..., "ended": ...}` (Unix times). The credentials come from the environment, as in the example.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import anyio

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "dask_fleet.py"


def start_worker(*args: str) -> subprocess.Popen[str]:
    """Start `python -m tests.support.fleet_worker ARGS...` from the repository's root; its
    JSON line comes on stdout."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.fleet_worker", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def load_example() -> ModuleType:
    """examples/dask_fleet.py as the module `dask_fleet` (the name Dask's workers import it by
    when `examples/` is on their PYTHONPATH)."""
    name = "dask_fleet"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickle look classes up through it
    spec.loader.exec_module(module)
    return module


def fleet_from_json(text: str) -> Any:
    return load_example().Fleet(**json.loads(text))


def plan_from_json(text: str) -> Any:
    from asyncapi_client import PageSplit

    data = json.loads(text)
    parts = tuple(range(start, stop) for start, stop in data["parts"])
    return PageSplit(data["limit"], data["total_items"], data["total_pages"], parts)


def plan_to_json(plan: Any) -> str:
    return json.dumps(
        {
            "limit": plan.limit,
            "total_items": plan.total_items,
            "total_pages": plan.total_pages,
            "parts": [[part.start, part.stop] for part in plan.parts],
        }
    )


def dying_sink(fleet: Any, die_after: int) -> Any:
    example = load_example()

    class DyingSink(example.OutcomeSink):  # type: ignore[misc,name-defined]
        filed = 0

        async def put(self, index: int, value: str) -> None:
            await super().put(index, value)
            self.filed += 1
            if self.filed >= die_after:
                os.kill(os.getpid(), signal.SIGKILL)

    return DyingSink(fleet)


def warm_imports() -> None:
    """Import what the client imports on first use (redis-py, the HTTP transport), as a
    long-lived executor worker (a Dask worker running its second task) already has: the
    worker's clock then starts with its task, not with the interpreter's module loading."""
    import redis.asyncio  # noqa: F401

    import asyncapi_client.transports._httpcore  # noqa: F401


def main(argv: list[str]) -> None:
    example = load_example()
    mode, fleet = argv[0], fleet_from_json(argv[1])
    warm_imports()
    started = time.time()
    if mode == "import":
        start, stop, index = int(argv[2]), int(argv[3]), int(argv[4])
        sink = dying_sink(fleet, int(argv[5])) if len(argv) > 5 else None
        result = anyio.run(example._import_part, fleet, start, stop, index, sink)
    elif mode == "export":
        result = anyio.run(example._export_part, fleet, plan_from_json(argv[2]), int(argv[3]), argv[4])
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    print(json.dumps({"result": result, "started": started, "ended": time.time()}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
