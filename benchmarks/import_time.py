"""How long `import asyncapi_client` takes, beside `import httpx`, in the same run.

    python benchmarks/import_time.py              # 5 fresh processes per figure (about 5 s)
    python benchmarks/import_time.py --runs 11

Each figure is the median over fresh interpreters of the cumulative time `python -X importtime`
reports for the module, so the interpreter's own start-up is not counted. The runs interleave
(SDK, httpx, SDK, ...) so that a busy machine slows every figure alike. Also shown: what the
default transport adds when the first client is made (`HttpcoreTransport`, which imports httpcore),
and the heavy modules that `import asyncapi_client` leaves out. Bound: 150 ms for the SDK.

Every module is imported from cached bytecode, as from an installed wheel (pip compiles it at
install time): the children write and read their caches under a temporary
`PYTHONPYCACHEPREFIX`, filled by one untimed run of each statement first, whatever
`PYTHONDONTWRITEBYTECODE` says. Without the caches (an editable install on a machine that never
writes bytecode) Python compiles the SDK's source on every import, which triples the figure.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

BOUND_MS = 150.0

# (label, statement, module whose cumulative import time is the figure)
SUBJECTS = (
    ("import asyncapi_client", "import asyncapi_client", "asyncapi_client"),
    ("import httpx", "import httpx", "httpx"),
    (
        "the default transport on first use",
        "import asyncapi_client; from asyncapi_client.transports import _httpcore",
        "asyncapi_client.transports._httpcore",
    ),
)

# Imported on first use only; `import asyncapi_client` must not pull these in.
DEFERRED = (
    "httpcore",
    "httpx",
    "h11",
    "authlib",
    "aiohttp",
    "redis",
    "fastapi",
    "starlette",
    "opentelemetry",
)


def cached_bytecode_env(prefix: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONPYCACHEPREFIX": prefix}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def import_ms(statement: str, module: str, env: dict[str, str]) -> float:
    """The cumulative import time of `module`, in ms, in a fresh interpreter running `statement`."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
        env=env,
    )
    for line in reversed(result.stderr.splitlines()):
        fields = line.split("|")
        if len(fields) == 3 and fields[2].strip() == module:
            return int(fields[1]) / 1000.0
    raise RuntimeError(f"-X importtime printed no line for {module!r}:\n{result.stderr[-2000:]}")


def deferred_modules_loaded() -> list[str]:
    code = f"import sys, asyncapi_client\nprint(' '.join(m for m in {DEFERRED!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    return out.stdout.split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per figure (default 5)")
    args = parser.parse_args()
    samples: dict[str, list[float]] = {label: [] for label, _, _ in SUBJECTS}
    with tempfile.TemporaryDirectory(prefix="import-time-pycache-") as prefix:
        env = cached_bytecode_env(prefix)
        for _, statement, module in SUBJECTS:
            import_ms(statement, module, env)  # writes the bytecode caches; not timed
        for _ in range(args.runs):
            for label, statement, module in SUBJECTS:
                samples[label].append(import_ms(statement, module, env))
    print(
        f"Python {sys.version.split()[0]}; median of {args.runs} fresh processes each (-X importtime), "
        "from cached bytecode"
    )
    for label, _, _ in SUBJECTS:
        values = samples[label]
        print(
            f"  {label:<38} {statistics.median(values):7.1f} ms   "
            f"(min {min(values):.1f}, max {max(values):.1f})"
        )
    sdk = statistics.median(samples["import asyncapi_client"])
    raw = statistics.median(samples["import httpx"])
    verdict = "within" if sdk <= BOUND_MS else "OVER"
    print(
        f"import asyncapi_client: {sdk:.1f} ms, {sdk / raw:.2f}x import httpx; bound {BOUND_MS:.0f} ms: {verdict}"
    )
    loaded = deferred_modules_loaded()
    print("deferred modules loaded by `import asyncapi_client`:", ", ".join(loaded) if loaded else "none")


if __name__ == "__main__":
    main()
