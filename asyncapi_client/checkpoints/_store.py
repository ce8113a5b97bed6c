"""`CheckpointStore`, the protocol, and the stores that need no server: memory and files.

A checkpoint is one small JSON document per key, saved whole each time (a few hundred bytes: a
listing's next page, a bulk job's finished chunks). A save replaces the document atomically, so
a crash mid-save leaves the previous one, never half of each.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

import anyio
import anyio.to_thread


@runtime_checkable
class CheckpointStore(Protocol):
    """Where progress is kept: `load(key)` the saved document or None, `save(key, state)`
    replaces it atomically, `delete(key)` forgets it (to run a finished job again)."""

    async def load(self, key: str) -> dict[str, Any] | None: ...

    async def save(self, key: str, state: dict[str, Any]) -> None: ...

    async def delete(self, key: str) -> None: ...


def check_key(key: object) -> str:
    if not isinstance(key, str) or not key or len(key) > 200:
        raise ValueError(
            f"a checkpoint key must be a non-empty string of at most 200 characters, got {key!r}"
        )
    return key


def decode_state(raw: bytes | str, where: str) -> dict[str, Any]:
    state = json.loads(raw)
    if not isinstance(state, dict):
        raise ValueError(f"the checkpoint {where} does not hold a JSON object")
    return state


class MemoryCheckpointStore:
    """Checkpoints in this process's memory: for tests, and for resuming within one process."""

    def __init__(self) -> None:
        self._states: dict[str, str] = {}

    async def load(self, key: str) -> dict[str, Any] | None:
        raw = self._states.get(check_key(key))
        return None if raw is None else decode_state(raw, repr(key))

    async def save(self, key: str, state: dict[str, Any]) -> None:
        self._states[check_key(key)] = json.dumps(state, separators=(",", ":"))

    async def delete(self, key: str) -> None:
        self._states.pop(check_key(key), None)

    def __repr__(self) -> str:
        return f"MemoryCheckpointStore(keys={len(self._states)})"


class FileCheckpointStore:
    """One JSON file per key in `directory` (created if missing): `<key, %-escaped>.json`.

    A save writes a temporary file in the same directory, flushes it to disk (`fsync=True`, the
    default, survives a power cut too; a crashed process needs only the rename) and renames it
    over the old one, which POSIX makes atomic. The file work runs in a worker thread, so the
    event loop keeps serving other requests meanwhile. Several processes may share the
    directory as long as each key has one writer at a time (one per job, or per part of a split
    listing).
    """

    def __init__(self, directory: str | os.PathLike[str], *, fsync: bool = True) -> None:
        if not isinstance(directory, (str, os.PathLike)):
            raise TypeError(f"directory must be a path, got {type(directory).__name__}")
        self._directory = Path(directory)
        if self._directory.exists() and not self._directory.is_dir():
            raise ValueError(f"{str(self._directory)!r} exists and is not a directory")
        self._fsync = bool(fsync)

    def path(self, key: str) -> Path:
        """The file that holds `key`."""
        return self._directory / (quote(check_key(key), safe="") + ".json")

    async def load(self, key: str) -> dict[str, Any] | None:
        return await anyio.to_thread.run_sync(self._load, self.path(key))

    async def save(self, key: str, state: dict[str, Any]) -> None:
        payload = json.dumps(state, separators=(",", ":")).encode()
        await anyio.to_thread.run_sync(self._save, self.path(key), payload)

    async def delete(self, key: str) -> None:
        path = self.path(key)
        await anyio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))

    @staticmethod
    def _load(path: Path) -> dict[str, Any] | None:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        return decode_state(raw, str(path))

    def _save(self, path: Path, payload: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".ckpt-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(payload)
                if self._fsync:
                    file.flush()
                    os.fsync(file.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def __repr__(self) -> str:
        return f"FileCheckpointStore({str(self._directory)!r})"
