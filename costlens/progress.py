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

__all__ = ["NullProgress", "Progress", "Task", "format_amount", "terminal_progress"]


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
        print(
            f"{self.description}: {format_amount(self.description, self.done, self.total)}{suffix}",
            file=sys.stderr,
            flush=True,
        )


_MIB = 1024 * 1024


def format_amount(description: str, done: float, total: float | None) -> str:
    """How far a task is, for a log line: MiB for downloads, whole counts otherwise.

    >>> format_amount("download cur/2024-03.parquet", 5_780_160, 5_780_160)
    '5.5/5.5 MiB'
    >>> format_amount("load", 1_300_000, None)
    '1,300,000'
    >>> format_amount("attribute", 0.5, 1)
    '0.5/1'
    """
    if _is_download(description):
        of = f"/{total / _MIB:.1f}" if total else ""
        return f"{done / _MIB:.1f}{of} MiB"
    of = f"/{_count(total)}" if total else ""
    return f"{_count(done)}{of}"


def _count(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def _is_download(description: str) -> bool:
    return description.lower().startswith("download")


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
        unit = "bytes" if _is_download(description) else "count"
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
