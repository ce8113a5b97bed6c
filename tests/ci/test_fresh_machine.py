"""The README's commands on a machine without Debian's redis-server, nginx and tinyproxy.

A machine "without them" is made by hiding the installed binaries: the commands run in a private
mount namespace (`unshare --mount`, root only) where each binary is covered by a bind mount of
/dev/null, so it is neither on PATH nor executable anywhere the tests look. Outside such a
machine these tests skip (saying why); `.ci/run` runs as root on a fresh machine, so CI runs them.

- A test that needs a missing server skips with the command that installs it, and the run passes;
  with `ASYNCAPI_TESTS_REQUIRE_SERVICES=1` (what `.ci/run` sets) the same skip is a failure.
- The slow test runs the README's two quickstart commands in a fresh copy of the repository:
  the first verbatim (a new virtualenv, `pip install -e ".[dev]"`, the demo), the
  second verbatim up to `pytest`, whose run is narrowed to the modules that start third-party
  servers (running the whole suite inside the suite would double its time). pip installs from
  the machine's configured index and its wheel cache, as a developer's pip would.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.services import REQUIRE_SERVICES_ENV, SERVER_DIRS

REPO = Path(__file__).resolve().parents[2]
SERVERS = {"redis-server": "redis-server", "nginx": "nginx", "tinyproxy": "tinyproxy"}
REASON = "{name} is not installed (apt-get install {package})"

PROBE = """
from tests.support.services import running_nginx, running_redis, running_tinyproxy


def test_redis():
    with running_redis() as url:
        assert url.startswith("redis://")


def test_nginx():
    with running_nginx("location / { return 204; }") as port:
        assert port > 0


def test_tinyproxy():
    with running_tinyproxy() as (port, _log):
        assert port > 0
"""


def installed_paths() -> list[str]:
    """Every file a server binary is found at (symlinks resolved: the mount covers the target)."""
    paths = set()
    for name in SERVERS:
        for found in (shutil.which(name), shutil.which(name, path=os.pathsep.join(SERVER_DIRS))):
            if found:
                paths.add(os.path.realpath(found))
    return sorted(paths)


def hidden(command: str) -> list[str]:
    """`command` (a bash line) run where the servers' binaries are hidden."""
    mounts = " && ".join(f"mount --bind /dev/null {shlex.quote(p)}" for p in installed_paths())
    script = f"{mounts} && {command}" if mounts else command
    return ["unshare", "--mount", "--propagation", "private", "bash", "-c", script]


def can_hide() -> str | None:
    """None when binaries can be hidden here, else why not."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return "hiding the servers' binaries needs root and unshare (a private mount namespace)"
    probe = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        return f"unshare --mount is not permitted here: {probe.stderr.decode().strip()}"
    return None


needs_hiding = pytest.mark.skipif(can_hide() is not None, reason=str(can_hide()))


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASYNCAPI_", "PYTEST_"))}
    env.update(extra)
    return env


def run_probe(tmp_path: Path, *, hide: bool, require: bool) -> subprocess.CompletedProcess[str]:
    probe = tmp_path / "test_probe_services.py"
    probe.write_text(textwrap.dedent(PROBE))
    pytest_line = shlex.join(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            str(probe),
            "tests/ratelimit/test_redis.py",
        ]
    )
    env = child_env(**({REQUIRE_SERVICES_ENV: "1"} if require else {}))
    command = hidden(pytest_line) if hide else ["bash", "-c", pytest_line]
    return subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False
    )


@needs_hiding
def test_a_missing_server_skips_saying_how_to_install_it(tmp_path: Path) -> None:
    result = run_probe(tmp_path, hide=True, require=False)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    for name, package in SERVERS.items():
        assert REASON.format(name=name, package=package) in out, out
    assert "failed" not in out and "error" not in out, out


@needs_hiding
def test_ci_turns_that_skip_into_a_failure(tmp_path: Path) -> None:
    result = run_probe(tmp_path, hide=True, require=True)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    for name, package in SERVERS.items():
        reason = REASON.format(name=name, package=package)
        assert f"{reason}; {REQUIRE_SERVICES_ENV}=1 requires every service" in out, out
    assert "skipped" not in out, out


def test_with_the_servers_installed_the_probe_runs_them(tmp_path: Path) -> None:
    """The control: the same run with nothing hidden starts every server (so it is the hiding
    that made the runs above skip or fail)."""
    if not installed_paths() or len(installed_paths()) < len(SERVERS):
        pytest.skip("the servers are not all installed here (apt-get install redis-server nginx tinyproxy)")
    result = run_probe(tmp_path, hide=False, require=True)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "skipped" not in out, out


def copy_of_the_repository(dest: Path) -> None:
    """The repository's files as a fresh checkout would have them (tracked and new files; no
    virtualenv, caches or build output)."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file() and not name.startswith(".venv"):
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def readme_command(which: int) -> str:
    """The README's `which`-th bash block under "Quickstart" (0: the demo, 1: the tests)."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    blocks = [b.split("```", 1)[0].strip() for b in section.split("```bash\n")[1:]]
    return blocks[which]


@pytest.mark.slow
@needs_hiding
def test_the_readme_commands_on_a_machine_without_the_servers(tmp_path: Path) -> None:
    checkout = tmp_path / "asyncapi_client"
    copy_of_the_repository(checkout)
    demo = readme_command(0)
    tests = readme_command(1)
    assert demo.startswith("python3 -m venv .venv") and demo.endswith(" demo"), demo
    assert tests.endswith("python -m pytest -q -p no:cacheprovider"), tests
    # A fresh machine's shell: no virtualenv active, no settings of ours.
    env = child_env(PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if ".venv" not in p)

    first = subprocess.run(
        hidden(demo), cwd=checkout, env=env, capture_output=True, text=True, timeout=900, check=False
    )
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "every index accounted for: True" in first.stdout, first.stdout

    service_modules = [
        "tests/ratelimit/test_redis.py",
        "tests/auth/test_redis_store.py",
        "tests/webhooks/test_dedupe.py",
    ]
    second = subprocess.run(
        hidden(f"{tests} -rs {shlex.join(service_modules)}"),
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    out = second.stdout + second.stderr
    assert second.returncode == 0, out[-5000:]
    assert REASON.format(name="redis-server", package="redis-server") in out, out[-5000:]
    assert " failed" not in out and " error" not in out, out[-5000:]
