"""The fault matrix: 10,000 mixed operations at concurrency 100 against a faulty sandbox.

The sandbox runs in its own process (`isolated=True`, so it does not compete with the client
for the GIL) and answers 5% of API calls 500/502/503, drops 1% of connections, truncates 1% of
bodies, sends malformed JSON for 1%, adds 0-40 ms of jitter to every reply, and every few
seconds a latency spike longer than the client's attempt timeout. Tokens live 2 s, so the
client refreshes several times during the run.

The client: `ClientCredentials`, a `RetryPolicy`, `Timeout(total=10, attempt=1)`, the default
`HttpcoreTransport`. The operations: gets (projects and users), list pages, creates (users and
projects, each with a unique email or name) and bulk creates (10 users in 2 chunks).

What must hold, and is asserted:

* every call returns the right result (the id asked for, the page asked for, the record sent)
  or raises an `APIError` subclass; anything else fails the test;
* no call outlives its deadline (a per-operation `fail_after` above the client's own 10 s
  deadline) and the whole run ends within its overall `fail_after`;
* the server's records match the results: every create that returned success is on the server,
  exactly once, with the id it returned; every create that failed with an ambiguous error is
  there at most once; the sandbox's `users_created`/`projects_created` equal the records of
  this run found on the server; no `duplicate_creates`; no `ConflictError` (every email is new,
  so a 409 would mean a retried create was executed twice).

`ASYNCAPI_RELIABILITY_OPS` changes the number of operations (default 10,000). The optional
transports (aiohttp, httpx2, pyreqwest) each run the same matrix with 2,000 operations.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from typing import Any

import anyio
import pytest

import asyncapi_client as sdk
from asyncapi_sandbox import Sandbox
from tests.support.outcomes import Outcomes, report

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

OPS = int(os.environ.get("ASYNCAPI_RELIABILITY_OPS", "10000"))
OTHER_TRANSPORT_OPS = 2000
CONCURRENCY = 100
CALL_TIMEOUT = sdk.Timeout(total=10.0, attempt=1.0, connect=1.0)
OP_DEADLINE = 15.0  # one call: the client's 10 s deadline, its 1 s backstop, and slack
BULK_DEADLINE = 40.0  # a bulk create: two chunk calls, one after the other
RUN_DEADLINE = 240.0
SEED = 20261127
SEEDED_PROJECTS = 150
SEEDED_USERS = 50
FAULTS = dict(fail_rate=0.05, drop_rate=0.01, truncate_rate=0.01, malformed_rate=0.01)
JITTER_MS = 40.0
SPIKE_MS = 1500.0  # longer than the attempt timeout: the spiked attempts time out and retry
SPIKE_EVERY = 1.5
FIRST_SPIKE = 0.3
SPIKE_FOR = 0.15

# Errors after which a create may or may not have happened on the server.
AMBIGUOUS = (sdk.APIConnectionError, sdk.InternalServerError, sdk.ResponseDecodeError, sdk.RateLimitError)


class Run:
    """The bookkeeping of one matrix run."""

    def __init__(self) -> None:
        self.outcomes = Outcomes()
        self.kinds: Counter[str] = Counter()
        self.created_users: dict[str, int] = {}  # email -> id the client was told
        self.created_projects: dict[str, int] = {}  # name -> id
        self.attempted_emails: set[str] = set()
        self.attempted_names: set[str] = set()
        self.ambiguous_emails: set[str] = set()
        self.ambiguous_names: set[str] = set()
        self.hung: list[str] = []
        self.slowest = 0.0
        self.conflicts = 0


def _kind(draw: float) -> str:
    return "get" if draw < 0.40 else "list" if draw < 0.65 else "create" if draw < 0.85 else "bulk"


async def _op(client: sdk.AsyncClient, run: Run, n: int, kind: str, rng: random.Random) -> None:
    outcomes = run.outcomes
    if kind == "get":
        if rng.random() < 0.5:
            pid = rng.randint(1, SEEDED_PROJECTS)
            project = await client.projects.get(pid)
            outcomes.check(project.id == pid, f"projects.get({pid}) -> {project.id}")
        else:
            uid = rng.randint(1, SEEDED_USERS)
            user = await client.users.get(uid)
            outcomes.check(user.id == uid, f"users.get({uid}) -> {user.id}")
    elif kind == "list":
        page_no = rng.randint(1, 7)
        page = await client.projects.list_page(page=page_no, limit=20)
        meta = page.meta
        outcomes.check(
            meta.current_page == page_no
            and meta.items_per_page == 20
            and meta.total_items >= SEEDED_PROJECTS
            and len(page.data) == 20
            and [p.id for p in page.data] == sorted(p.id for p in page.data),
            f"list_page({page_no}) -> meta {meta}, {len(page.data)} items",
        )
    elif kind == "create":
        if rng.random() < 0.5:
            email = f"matrix-{n}@example.com"
            run.attempted_emails.add(email)
            try:
                user = await client.users.create(f"Matrix User {n}", email)
            except AMBIGUOUS:
                run.ambiguous_emails.add(email)
                raise
            run.created_users[email] = user.id
            outcomes.check(user.email == email and user.name == f"Matrix User {n}", f"users.create -> {user}")
        else:
            name = f"matrix project {n}"
            run.attempted_names.add(name)
            try:
                project = await client.projects.create(name, description=f"made by op {n}")
            except AMBIGUOUS:
                run.ambiguous_names.add(name)
                raise
            run.created_projects[name] = project.id
            outcomes.check(
                project.name == name and project.description == f"made by op {n}",
                f"projects.create -> {project}",
            )
    else:
        emails = [f"matrix-bulk-{n}-{i}@example.com" for i in range(10)]
        run.attempted_emails.update(emails)
        result = await client.users.bulk_create(
            [{"name": f"Bulk {n} {i}", "email": e} for i, e in enumerate(emails)], chunk_size=5, concurrency=2
        )
        assert sorted([*result.created, *result.failed]) == list(range(10)), "a bulk record was lost"
        for index, user in result.created.items():
            run.created_users[emails[index]] = user.id
            outcomes.check(user.email == emails[index], f"bulk record {index} -> {user.email}")
        for index, error in result.failed.items():
            outcomes.error(error)
            if isinstance(error, sdk.ConflictError):
                run.conflicts += 1
            if isinstance(error, AMBIGUOUS):
                run.ambiguous_emails.add(emails[index])
    run.kinds[kind] += 1


async def _guarded(client: sdk.AsyncClient, run: Run, n: int, seed: int) -> None:
    started = time.monotonic()
    rng = random.Random(seed * 1_000_003 + n)
    kind = _kind(rng.random())
    deadline = BULK_DEADLINE if kind == "bulk" else OP_DEADLINE
    try:
        with anyio.fail_after(deadline):
            await _op(client, run, n, kind, rng)
    except TimeoutError:
        run.hung.append(f"op {n} did not finish within {deadline}s")
    except sdk.ConflictError as exc:
        run.conflicts += 1
        run.outcomes.error(exc)
    except Exception as exc:
        run.outcomes.error(exc)
    run.slowest = max(run.slowest, time.monotonic() - started)


async def _spikes(sb: Sandbox, stop: anyio.Event, count: list[int]) -> None:
    """Every SPIKE_EVERY seconds (the first after FIRST_SPIKE), make replies take SPIKE_MS for
    SPIKE_FOR seconds."""
    wait = FIRST_SPIKE
    while not stop.is_set():
        with anyio.move_on_after(wait):
            await stop.wait()
        wait = SPIKE_EVERY
        if stop.is_set():
            return
        await sb.configure(latency_ms=SPIKE_MS)
        await anyio.sleep(SPIKE_FOR)
        await sb.configure(latency_ms=0)
        count[0] += 1


async def _settled_records(
    sb: Sandbox,
) -> tuple[dict[str, Any], tuple[Counter[str], dict[str, int], Counter[str], dict[str, int]]]:
    """The sandbox's counters and records once no API request is in flight there and nothing
    was created while the records were read. A transport whose abandoned request goes on in a runtime
    of its own (pyreqwest's) may still deliver a create after the client has closed: counters
    read before it and records after would disagree by it."""
    with anyio.fail_after(60):
        while True:
            stats = await sb.stats()
            if stats["in_flight"]:
                await anyio.sleep(0.05)
                continue
            records = await _all_records(sb)
            again = await sb.stats()
            created = ("users_created", "projects_created")
            if again["in_flight"] == 0 and all(again[k] == stats[k] for k in created):
                return stats, records


async def _all_records(sb: Sandbox) -> tuple[Counter[str], dict[str, int], Counter[str], dict[str, int]]:
    """Every user and project on the server (faults off), by email and by name."""
    await sb.configure(**{k: 0.0 for k in FAULTS}, latency_ms=0, jitter_ms=0)
    auth = sdk.ClientCredentials(sb.token_url, sb.client_id, sb.client_secret)
    emails: Counter[str] = Counter()
    user_ids: dict[str, int] = {}
    names: Counter[str] = Counter()
    project_ids: dict[str, int] = {}
    async with sdk.AsyncClient(sb.base_url, auth=auth) as client:
        async with client.users.list(limit=100, prefetch=8) as users:
            async for user in users:
                emails[user.email] += 1
                user_ids[user.email] = user.id
        async with client.projects.list(limit=100, prefetch=8) as projects:
            async for project in projects:
                names[project.name] += 1
                project_ids[project.name] = project.id
    return emails, user_ids, names, project_ids


async def test_fault_matrix_ten_thousand_mixed_operations() -> None:
    """10,000 operations (gets, list pages, creates, bulk creates) at concurrency 100 under 5%
    5xx, 1% drops, 1% truncations, 1% malformed JSON, jitter and latency spikes: every result
    right or an APIError, none past its deadline, no record lost, none created twice."""
    await _matrix(OPS, sdk.HttpcoreTransport, "fault_matrix")


def _optional_transports() -> list[str]:
    found = []
    for name in ("AiohttpTransport", "Httpcore2Transport", "PyreqwestTransport"):
        try:
            getattr(sdk.transports, name)()
        except Exception:  # the optional dependency is missing
            continue
        found.append(name)
    return found


@pytest.mark.parametrize("name", _optional_transports())
async def test_fault_matrix_on_every_other_transport(name: str) -> None:
    """The same matrix, 2,000 operations, on each optional transport: each maps drops and
    truncations to APIConnectionError, and every figure checked above holds."""
    await _matrix(OTHER_TRANSPORT_OPS, getattr(sdk.transports, name), f"fault_matrix[{name}]")


async def _matrix(operations: int, make_transport: Any, label: str) -> None:
    run = Run()
    async with Sandbox(isolated=True, token_ttl=2, jitter_ms=JITTER_MS, seed=7, **FAULTS) as sb:
        auth = sdk.ClientCredentials(sb.token_url, sb.client_id, sb.client_secret)
        client = sdk.AsyncClient(
            sb.base_url,
            auth=auth,
            retry=sdk.RetryPolicy(max_attempts=4, backoff_base=0.05, backoff_max=1.0, budget=5000),
            timeout=CALL_TIMEOUT,
            transport=make_transport(max_connections=CONCURRENCY),
        )
        spikes = [0]
        started = time.monotonic()
        async with client:
            limiter = anyio.Semaphore(CONCURRENCY)
            stop = anyio.Event()

            async def one(n: int) -> None:
                try:
                    await _guarded(client, run, n, SEED)
                finally:
                    limiter.release()

            with anyio.fail_after(RUN_DEADLINE):
                async with anyio.create_task_group() as tg:
                    tg.start_soon(_spikes, sb, stop, spikes)
                    async with anyio.create_task_group() as ops:
                        for n in range(operations):
                            await limiter.acquire()
                            ops.start_soon(one, n)
                    stop.set()
            elapsed = time.monotonic() - started
            client_stats = client.stats()
        stats, (emails, user_ids, names, project_ids) = await _settled_records(sb)

    figures = {
        "operations": operations,
        "concurrency": CONCURRENCY,
        "seconds": round(elapsed, 1),
        "ops_per_second": round(operations / elapsed),
        "kinds": dict(run.kinds),
        "right_results": run.outcomes.ok,
        "sdk_errors": dict(run.outcomes.errors),
        "slowest_op_seconds": round(run.slowest, 2),
        "latency_spikes": spikes[0],
        "server_faults": stats["faults"],
        "server_requests": stats["requests_total"],
        "server_statuses": stats["responses_by_status"],
        "idempotent_replays": stats["idempotent_replays"],
        "token_requests": stats["token_requests"],
        "client_attempts": client_stats.attempts,
        "client_retries": client_stats.retries,
        "users_created": stats["users_created"],
        "projects_created": stats["projects_created"],
        "creates_ok": len(run.created_users) + len(run.created_projects),
        "ambiguous_creates": len(run.ambiguous_emails) + len(run.ambiguous_names),
    }
    report(label, figures)

    run.outcomes.assert_clean()
    assert not run.hung, f"{len(run.hung)} operations outlived their deadline: {run.hung[:5]}"
    assert sum(run.kinds.values()) + sum(run.outcomes.errors.values()) >= operations, "an operation vanished"
    assert run.conflicts == 0, f"{run.conflicts} creates of a new email got 409: a retry created twice"
    assert spikes[0] >= 1, "no latency spike happened during the run"
    for kind in ("fail", "drop", "truncate", "malformed"):
        assert stats["faults"][kind] > 0, f"the sandbox injected no {kind} faults: {stats['faults']}"

    # No record lost: every create that returned success is on the server, once, with its id.
    for email, uid in run.created_users.items():
        assert emails[email] == 1 and user_ids[email] == uid, (
            f"user {email} ({uid}) is not on the server once"
        )
    for name, pid in run.created_projects.items():
        assert names[name] == 1 and project_ids[name] == pid, (
            f"project {name} ({pid}) is not on the server once"
        )
    # None created twice: every attempted record is there at most once.
    assert all(emails[e] <= 1 for e in run.attempted_emails), "a user was created twice"
    assert all(names[n] <= 1 for n in run.attempted_names), "a project was created twice"
    assert stats["duplicate_creates"] == 0, f"duplicate project creates: {stats['duplicate_creates']}"
    # Only ambiguous failures may have left a record the client was not told about.
    found_users = {e for e in run.attempted_emails if emails[e]}
    found_projects = {n for n in run.attempted_names if names[n]}
    assert found_users - set(run.created_users) <= run.ambiguous_emails
    assert found_projects - set(run.created_projects) <= run.ambiguous_names
    # The server's counters match: what it created is exactly what this run finds.
    assert stats["users_created"] == len(found_users), (stats["users_created"], len(found_users))
    assert stats["projects_created"] == len(found_projects), (stats["projects_created"], len(found_projects))
    assert sum(emails.values()) == SEEDED_USERS + len(found_users)
    assert sum(names.values()) == SEEDED_PROJECTS + len(found_projects)
    assert isinstance(client_stats, sdk.StatsSnapshot) and client_stats.retries > 0


def test_fault_matrix_on_trio() -> None:
    """The same matrix, 2,000 operations, with the client running on trio (the SDK is anyio
    throughout): every figure checked above holds there too."""
    pytest.importorskip("trio")
    anyio.run(_matrix, OTHER_TRANSPORT_OPS, sdk.HttpcoreTransport, "fault_matrix[trio]", backend="trio")


CREATES = int(os.environ.get("ASYNCAPI_RELIABILITY_CREATES", "4000"))


async def test_creates_under_faults_end_in_no_error_and_land_once() -> None:
    """4,000 creates (users and projects, half each) at concurrency 100 under the matrix's
    faults (5% 5xx, 1% drops, 1% truncated and 1% malformed 2xx), no latency spikes, with
    `RetryPolicy(max_attempts=6)`: not one typed error (a malformed or truncated 2xx is fetched
    again under the same Idempotency-Key), and every create on the server exactly once."""
    errors: list[BaseException] = []
    created_users: dict[str, int] = {}
    created_projects: dict[str, int] = {}
    async with Sandbox(isolated=True, jitter_ms=JITTER_MS, seed=11, **FAULTS) as sb:
        auth = sdk.ClientCredentials(sb.token_url, sb.client_id, sb.client_secret)
        client = sdk.AsyncClient(
            sb.base_url,
            auth=auth,
            retry=sdk.RetryPolicy(max_attempts=6, backoff_base=0.05, backoff_max=1.0),
            timeout=sdk.Timeout(total=30.0, attempt=5.0),
            transport=sdk.HttpcoreTransport(max_connections=CONCURRENCY),
        )
        started = time.monotonic()
        async with client:
            limiter = anyio.Semaphore(CONCURRENCY)

            async def one(n: int) -> None:
                try:
                    if n % 2:
                        user = await client.users.create(f"Create {n}", f"create-{n}@example.com")
                        created_users[user.email] = user.id
                    else:
                        project = await client.projects.create(f"create project {n}")
                        created_projects[project.name] = project.id
                except Exception as exc:
                    errors.append(exc)
                finally:
                    limiter.release()

            with anyio.fail_after(RUN_DEADLINE):
                async with anyio.create_task_group() as tg:
                    for n in range(CREATES):
                        await limiter.acquire()
                        tg.start_soon(one, n)
            elapsed = time.monotonic() - started
            client_stats = client.stats()
        stats, (emails, user_ids, names, project_ids) = await _settled_records(sb)

    report(
        "fault_matrix_creates",
        {
            "creates": CREATES,
            "seconds": round(elapsed, 1),
            "typed_errors": len(errors),
            "server_faults": stats["faults"],
            "idempotent_replays": stats["idempotent_replays"],
            "client_attempts": client_stats.attempts,
            "client_retries": client_stats.retries,
            "users_created": stats["users_created"],
            "projects_created": stats["projects_created"],
        },
    )
    assert not errors, f"{len(errors)} creates failed; first: {errors[0]!r}"
    for kind in ("fail", "drop", "truncate", "malformed"):
        assert stats["faults"][kind] > 0, f"the sandbox injected no {kind} faults: {stats['faults']}"
    assert stats["idempotent_replays"] > 0  # retries after an applied create were replays
    assert len(created_users) + len(created_projects) == CREATES
    for email, uid in created_users.items():
        assert emails[email] == 1 and user_ids[email] == uid, f"user {email} is not on the server once"
    for name, pid in created_projects.items():
        assert names[name] == 1 and project_ids[name] == pid, f"project {name} is not on the server once"
    assert stats["users_created"] == len(created_users)
    assert stats["projects_created"] == len(created_projects)
    assert stats["duplicate_creates"] == 0
