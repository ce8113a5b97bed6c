"""nox sessions: tests, lint, typecheck, bench."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]


@nox.session
def tests(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("python", "-m", "pytest", "-q", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", "asyncapi_client", "asyncapi_sandbox", "tests", "benchmarks")
    session.run("ruff", "format", "--check", "asyncapi_client", "asyncapi_sandbox")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.install("-e", ".[dev]")
    session.run("mypy", "--strict", "asyncapi_client")
    session.run("mypy", "--strict", "asyncapi_sandbox")


@nox.session
def bench(session: nox.Session) -> None:
    """Run every benchmark; each prints its figures beside the raw client's, from one run."""
    session.install("-e", ".[dev]")
    for script in (
        "overhead",
        "ratelimit",
        "auth",
        "streaming",
        "transports",
        "retry_hot_path",
        "telemetry",
        "decode",
        "decode_profile",
        "request_layers",
    ):
        session.run("python", f"benchmarks/{script}.py", *session.posargs)
