"""A progress bar for the CLI and the demo: tqdm when the `progress` extra is installed, a plain
line on stderr otherwise. Library code never draws; it only calls `on_progress` callbacks."""

from __future__ import annotations

import sys
from typing import Any, TextIO


class ProgressBar:
    def __init__(self, description: str, total: int | None = None, *, stream: TextIO | None = None) -> None:
        self._stream = stream or sys.stderr
        self._description = description
        self._total = total
        self._last_drawn = -1
        self._bar: Any = None
        try:
            from tqdm import tqdm  # type: ignore[import-untyped,unused-ignore]
        except ImportError:
            pass
        else:
            self._bar = tqdm(total=total, desc=description, file=self._stream, unit="item", leave=True)

    def update_to(self, done: int, total: int | None = None) -> None:
        if total is not None and total != self._total:
            self._total = total
            if self._bar is not None:
                self._bar.total = total
                self._bar.refresh()
        if self._bar is not None:
            self._bar.update(done - self._bar.n)
            return
        # Redraw at most every 1% so a million-item stream does not flood the terminal.
        step = max(1, (self._total or 100) // 100)
        if done - self._last_drawn >= step or done == self._total:
            self._last_drawn = done
            of = f"/{self._total}" if self._total is not None else ""
            self._stream.write(f"\r{self._description}: {done}{of}")
            self._stream.flush()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        else:
            self._stream.write("\n")
            self._stream.flush()

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
