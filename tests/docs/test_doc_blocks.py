"""Docs that run: every fenced code block in README.md and docs/*.md is executed here against
the sandbox, or carries a marker saying why not (or which test runs it).

How a page runs. Its `python` blocks run in order in one namespace (a reader's session: a name
one block defines, the next may use), on one event loop, with top-level `await`, `async with`
and `async for` allowed. Its `bash` blocks run as bash scripts (`set -eu`) in a temporary
directory, with `users.jsonl` there for them to read. Before a page, a sandbox starts, and the namespace holds what the docs'
fragments take as given (`client`, `auth`, `url`, `read_users()` ...; see `given()`), and every
name in `asyncapi_client.__all__`, as after `from asyncapi_client import *`. In the code, the
examples' placeholders stand for the sandbox: `https://api.example.com` (and its
`/oauth/token`, and `https://auth.example.com/oauth/token`) become the sandbox's URLs,
`redis://localhost:6379/0` and `redis://cache:6379/0` a redis-server started for the page, and
in bash `NAME=...` the value the sandbox gives NAME. Nothing else is changed.

Markers, on the line just before a block's opening fence:

- `<!-- doc: not-run: <reason> -->`: not executed, for the reason given (output shown as an
  example, a long benchmark, a command that installs packages or serves forever).
- `<!-- doc: tested-by: <path> -->`: run by that test instead (which must exist).
- `<!-- doc: pytest-file -->`: a file of a user's test suite, named by its first line
  (`# conftest.py`); a page's such files are written to an empty directory, outside this
  repository and its pytest settings, and run there with `python -m pytest`.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import asyncapi_client
from asyncapi_sandbox import Sandbox
from tests.support.services import running_redis

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
MARKER = re.compile(r"^<!--\s*doc:\s*(not-run|tested-by|pytest-file)\s*:?\s*(.*?)\s*-->$")
RUNNABLE = {"python", "bash"}


@dataclass
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    marker: str | None
    argument: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    found: list[Block] = []
    lines = page.read_text().splitlines()
    i = 0
    while i < len(lines):
        text = lines[i]
        if text.startswith("```"):
            lang = text[3:].strip()
            start = i
            body: list[str] = []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            previous = next((lines[j].strip() for j in range(start - 1, -1, -1) if lines[j].strip()), "")
            match = MARKER.match(previous)
            found.append(
                Block(
                    page,
                    start + 1,
                    lang,
                    "\n".join(body) + "\n",
                    match.group(1) if match else None,
                    match.group(2) if match else "",
                )
            )
        i += 1
    return found


ALL_BLOCKS = [block for page in PAGES for block in blocks(page)]


def test_every_block_is_run_or_says_why_not() -> None:
    problems = []
    for block in ALL_BLOCKS:
        if block.marker is None and block.lang not in RUNNABLE:
            problems.append(f"{block.where}: a ```{block.lang or '(no language)'} block with no marker")
        elif block.marker == "not-run" and not block.argument:
            problems.append(f"{block.where}: not-run without a reason")
        elif block.marker == "tested-by" and not (REPO / block.argument.split("::")[0]).exists():
            problems.append(f"{block.where}: tested-by {block.argument!r}, which does not exist")
    assert problems == []
    assert sum(b.marker is None for b in ALL_BLOCKS) >= 30  # most blocks do run


# -- running a page ------------------------------------------------------------------------


def given(sb: Sandbox) -> dict[str, Any]:
    """What the docs' fragments take as given: your client, your credentials, your records."""
    rows = [{"name": f"Doc Reader {i}", "email": f"doc.reader{i}@example.com"} for i in range(50)]

    def read_users() -> Iterator[dict[str, str]]:
        yield from rows

    async def nothing(*args: object, **kwargs: object) -> None:
        return None

    class _Db:
        save_refresh_token = staticmethod(nothing)

    namespace: dict[str, Any] = {name: getattr(asyncapi_client, name) for name in asyncapi_client.__all__}
    namespace.update(
        asyncio=asyncio,
        logging=logging,
        os=os,
        url=sb.base_url,
        base_url=sb.base_url,
        BASE_URL=sb.base_url,
        TOKEN_URL=sb.token_url,
        AUTHORIZE_URL=sb.authorize_url,
        REVOKE_URL=sb.revocation_url,
        CLIENT_ID=sb.client_id,
        CLIENT_SECRET=sb.client_secret,
        SECRET=sb.client_secret,
        auth=asyncapi_client.ClientCredentials(sb.token_url, sb.client_id, sb.client_secret),
        read_users=read_users,
        read_rows=read_users,
        rows=rows,
        number_of_rows=len(rows),
        dead_letters=[],
        WEBHOOK_SECRET="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        index_project=nothing,
        log_change=lambda *args: None,
        db=_Db(),
        user_id=1,
        stored="a-stored-refresh-token",
    )
    return namespace


def substituted(code: str, sb: Sandbox, redis_url: str | None) -> str:
    for placeholder in ("https://api.example.com/oauth/token", "https://auth.example.com/oauth/token"):
        code = code.replace(placeholder, sb.token_url)
    code = code.replace("https://api.example.com", sb.base_url)
    if redis_url is not None:
        code = re.sub(r"redis://(localhost|cache):6379/0", redis_url, code)
    return code


class _LoggingState:
    """Blocks configure logging (dictConfig, levels); the page's end puts it back."""

    def __init__(self) -> None:
        self.loggers = {
            name: (list(lg.handlers), list(lg.filters), lg.level, lg.propagate)
            for name, lg in [
                ("", logging.getLogger()),
                ("asyncapi_client", logging.getLogger("asyncapi_client")),
            ]
        }

    def restore(self) -> None:
        for name, (handlers, filters, level, propagate) in self.loggers.items():
            lg = logging.getLogger(name)
            lg.handlers[:] = handlers
            lg.filters[:] = filters
            lg.setLevel(level)
            lg.propagate = propagate


def run_python(block: Block, namespace: dict[str, Any], loop: asyncio.AbstractEventLoop, code: str) -> None:
    live = namespace["__page_client__"]
    current = namespace.get("client")
    if not isinstance(current, asyncapi_client.AsyncClient) or current.is_closed:
        namespace["client"] = live  # a block's `async with ... as client` closed its own
    source = "\n" * block.line + code  # tracebacks show the page's line numbers
    compiled = compile(source, str(block.page), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(compiled, namespace)  # the docs' own code, on purpose
    if inspect.iscoroutine(result):
        loop.run_until_complete(result)


def run_bash(block: Block, sb: Sandbox, code: str, workdir: Path) -> None:
    values = {
        "ASYNCAPI_BASE_URL": sb.base_url,
        "ASYNCAPI_CLIENT_ID": sb.client_id,
        "ASYNCAPI_CLIENT_SECRET": sb.client_secret,
    }
    code = re.sub(r"\b(\w+)=\.\.\.(?=\s|$)", lambda m: f"{m.group(1)}={values[m.group(1)]}", code)
    (workdir / "users.jsonl").write_text(
        "".join(f'{{"name": "Shell {i}", "email": "shell{i}.{block.line}@example.com"}}\n' for i in range(5))
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCAPI_")}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    result = subprocess.run(
        ["bash", "-c", "set -eu\n" + code],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, (
        f"{block.where}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    )


def run_pytest_files(files: list[Block], workdir: Path) -> None:
    suite = workdir / "user_suite"
    suite.mkdir()
    for block in files:
        name = block.code.splitlines()[0].lstrip("# ").strip()
        assert name.endswith(".py"), f"{block.where}: a pytest-file block starts with '# <name>.py'"
        (suite / name).write_text(block.code)
    (suite / "pytest.ini").write_text("[pytest]\n")  # the user's settings: none of this repository's
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASYNCAPI_", "PYTEST_"))}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(suite)],
        cwd=suite,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    where = ", ".join(b.where for b in files)
    assert result.returncode == 0, f"{where}:\n{result.stdout}\n{result.stderr}"
    assert " passed" in result.stdout and "skipped" not in result.stdout, result.stdout


def _runnable(block: Block) -> bool:
    return (block.marker is None and block.lang in RUNNABLE) or block.marker == "pytest-file"


RUN_PAGES = [page for page in PAGES if any(_runnable(b) for b in blocks(page))]


@pytest.mark.parametrize("page", RUN_PAGES, ids=[str(p.relative_to(REPO)) for p in RUN_PAGES])
def test_the_page_runs(page: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    page_blocks = [b for b in blocks(page) if _runnable(b)]
    needs_redis = any("redis://" in b.code for b in page_blocks)
    logging_state = _LoggingState()
    loop = asyncio.new_event_loop()
    with ExitStack() as stack:
        sb = stack.enter_context(Sandbox())
        redis_url = stack.enter_context(running_redis()) if needs_redis else None
        namespace = given(sb)
        # `AsyncClient()` in a block reads the environment, as a reader's would.
        monkeypatch.setenv("ASYNCAPI_BASE_URL", sb.base_url)
        monkeypatch.setenv("ASYNCAPI_CLIENT_ID", sb.client_id)
        monkeypatch.setenv("ASYNCAPI_CLIENT_SECRET", sb.client_secret)
        monkeypatch.setenv("CLIENT_ID", sb.client_id)  # the docs read a client's own settings so
        monkeypatch.setenv("CLIENT_SECRET", sb.client_secret)
        monkeypatch.setenv("LOGIN_COOKIE_SECRET", "a-login-cookie-secret-of-32-characters-at-least")
        live = asyncapi_client.AsyncClient(sb.base_url, auth=namespace["auth"])
        namespace["__page_client__"] = live
        namespace["client"] = live
        try:
            for block in page_blocks:
                if block.marker == "pytest-file":
                    continue
                code = substituted(block.code, sb, redis_url)
                try:
                    if block.lang == "python":
                        run_python(block, namespace, loop, code)
                    else:
                        run_bash(block, sb, code, tmp_path)
                except Exception as exc:
                    raise AssertionError(f"{block.where} failed: {type(exc).__name__}: {exc}") from exc
            files = [b for b in page_blocks if b.marker == "pytest-file"]
            if files:
                run_pytest_files(files, tmp_path)
        finally:
            for value in list(namespace.values()):
                closer = getattr(value, "aclose", None)
                owned = isinstance(value, asyncapi_client.AsyncClient) or type(value).__name__.startswith(
                    "Redis"
                )
                if owned and closer is not None:
                    loop.run_until_complete(closer())
            loop.run_until_complete(live.aclose())
            loop.close()
            logging_state.restore()
