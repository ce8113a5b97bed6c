"""Helpers shared by the reliability tests: figures reporting, error bookkeeping, task checks."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import traceback
from collections import Counter
from typing import Any

from asyncapi_client import APIError

FIGURES_ENV = "ASYNCAPI_RELIABILITY_FIGURES"


def report(test: str, figures: dict[str, Any]) -> None:
    """Print the figures a test measured (seen with `pytest -s`), and append them as one JSON
    line to the file named by $ASYNCAPI_RELIABILITY_FIGURES, if set (for the README)."""
    line = json.dumps({"test": test, **figures}, sort_keys=True, default=str)
    sys.stdout.write(f"\n[reliability] {line}\n")
    path = os.environ.get(FIGURES_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(line + "\n")


class Outcomes:
    """What a batch of calls ended in: successes, SDK errors by class, and anything else (which
    fails the test, with its traceback kept for the message)."""

    def __init__(self) -> None:
        self.ok = 0
        self.errors: Counter[str] = Counter()
        self.foreign: list[str] = []
        self.wrong: list[str] = []
        self.samples: dict[str, list[str]] = {}  # a few messages per error class

    def error(self, exc: BaseException) -> None:
        if isinstance(exc, APIError):
            name = type(exc).__name__
            self.errors[name] += 1
            kept = self.samples.setdefault(name, [])
            if len(kept) < 3:
                kept.append(str(exc)[:300])
        else:
            self.foreign.append("".join(traceback.format_exception(exc))[-3000:])

    def check(self, condition: bool, what: str) -> None:
        if condition:
            self.ok += 1
        else:
            self.wrong.append(what)

    def assert_clean(self) -> None:
        assert not self.foreign, (
            f"{len(self.foreign)} calls raised something other than an APIError; first:\n{self.foreign[0]}"
        )
        assert not self.wrong, f"{len(self.wrong)} calls returned a wrong result; first: {self.wrong[:3]}"


def other_tasks() -> set[asyncio.Task[Any]]:
    """Tasks of the running loop other than the current one, that have not finished."""
    current = asyncio.current_task()
    return {task for task in asyncio.all_tasks() if task is not current and not task.done()}


def describe_tasks(tasks: set[Any]) -> str:
    """Names (and coroutines) of asyncio or trio tasks, for an assertion message."""
    names = []
    for task in tasks:
        if isinstance(task, asyncio.Task):
            names.append(f"{task.get_name()}: {task.get_coro()!r}")
        else:
            names.append(f"{getattr(task, 'name', task)!r}: {getattr(task, 'coro', None)!r}")
    return "; ".join(sorted(names))[:2000]
