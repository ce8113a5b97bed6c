"""Checkpoints: where a bulk job or a split listing records its progress, to resume after a crash.

    store = FileCheckpointStore("checkpoints/")            # or RedisCheckpointStore("redis://...")
    result = await client.users.bulk_create(rows, job_id="import-2026-01", checkpoint=store)
    async with client.projects.list(pages=plan.parts[i], limit=plan.limit,
                                    job_id="export-2026-01", checkpoint=store) as pager:
        ...

A store keeps one small JSON document per key (`CheckpointStore`: `load`, `save`, `delete`);
the job or listing decides what goes in it (`_progress`). Any object with those three
coroutines will do. `RedisCheckpointStore` needs the `redis` extra (imported when one is made).
"""

from __future__ import annotations

from .._errors import CheckpointMismatchError
from ._redis import RedisCheckpointStore
from ._store import CheckpointStore, FileCheckpointStore, MemoryCheckpointStore

__all__ = [
    "CheckpointMismatchError",
    "CheckpointStore",
    "FileCheckpointStore",
    "MemoryCheckpointStore",
    "RedisCheckpointStore",
]
