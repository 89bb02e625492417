"""Progress reporting for long work: a rich bar on a terminal, plain lines otherwise.

Library code takes a ``Progress`` (defaulting to ``NullProgress``) so it never decides how to
draw; the CLI passes ``terminal_progress()``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

__all__ = ["NullProgress", "Progress", "Task", "terminal_progress"]


class Task(Protocol):
    def advance(self, amount: float = 1) -> None: ...


class Progress(Protocol):
    def task(self, description: str, total: float | None) -> AbstractContextManager[Task]: ...


class _NullTask:
    def advance(self, amount: float = 1) -> None:
        pass


class NullProgress:
    """Reports nothing (library default, tests)."""

    @contextmanager
    def task(self, description: str, total: float | None) -> Iterator[Task]:
        yield _NullTask()


class _LineTask:
    """Prints a line at most every few seconds while it runs, and one at the end."""

    def __init__(self, description: str, total: float | None, every: float) -> None:
        self.description, self.total, self.every = description, total, every
        self.done = 0.0
        self._last = time.monotonic()

    def advance(self, amount: float = 1) -> None:
        self.done += amount
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            self._print()

    def _print(self, suffix: str = "") -> None:
        of = f"/{self.total:g}" if self.total else ""
        print(f"{self.description}: {self.done:g}{of}{suffix}", file=sys.stderr, flush=True)


class _LineProgress:
    def __init__(self, every: float = 5.0) -> None:
        self.every = every

    @contextmanager
    def task(self, description: str, total: float | None) -> Iterator[Task]:
        t = _LineTask(description, total, self.every)
        yield t
        t._print(" done")


class _RichProgress:
    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.progress import Progress as RichProgress

        self._columns = (TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn())
        self._extra = {"bytes": DownloadColumn(), "count": MofNCompleteColumn()}
        self._progress = RichProgress

    @contextmanager
    def task(self, description: str, total: float | None) -> Iterator[Task]:
        unit = "bytes" if description.lower().startswith("download") else "count"
        with self._progress(
            *self._columns, self._extra[unit], transient=False, redirect_stdout=False
        ) as progress:
            task_id = progress.add_task(description, total=total)

            class _T:
                def advance(self, amount: float = 1) -> None:
                    progress.advance(task_id, amount)

            yield _T()


def terminal_progress() -> Progress:
    """A rich progress bar when stderr is a terminal, plain periodic lines when it is not."""
    if sys.stderr.isatty():
        return _RichProgress()
    return _LineProgress()
