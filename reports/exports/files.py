"""Publishing export files atomically, and the one entry point that picks the format.

A finance export is read by people and by other programs as soon as it appears, so a reader
must never see half a file: each file is written to a temporary file in the target's own
folder (``.costlens-export-*``, the same file system, so the rename cannot copy), flushed to
disk with ``fsync`` and only then renamed over the target with ``os.replace``; the folder is
flushed after the rename so a crash leaves the old file or the new one. When anything fails
the temporary files are removed and the targets are left as they were.

A format of several files (CSV and Parquet carry a reconciliation side file) writes all of
them to temporary files first and renames them only when every one was written, so either the
whole set lands or none of it does (short of a crash between two renames in the same folder).
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal, get_args

from costlens.errors import ReportError
from reports.exports.model import Showback

__all__ = [
    "TEMP_PREFIX",
    "ExportFormat",
    "atomic_write",
    "atomic_write_all",
    "side_path",
    "write_export",
]

TEMP_PREFIX = ".costlens-export-"
"""How the temporary files of an export in progress are named (in the target's folder)."""

ExportFormat = Literal["xlsx", "csv", "parquet"]
"""The file formats ``write_export`` writes."""

Writer = Callable[[Path], None]
"""Writes one whole file at the path it is given (a temporary file)."""

_WRITE_FIX = "choose a folder you can write to"


def _write_error(exc: OSError, path: Path) -> ReportError:
    """The one-line ``ReportError`` for an ``OSError`` met while writing ``path``.

    >>> str(_write_error(PermissionError(13, "Permission denied"), Path("/r/m.xlsx")))
    '/r/m.xlsx: cannot write m.xlsx: permission denied. Fix: choose a folder you can write to'
    >>> str(_write_error(FileNotFoundError(2, "No such file"), Path("/nope/m.csv")))
    '/nope/m.csv: cannot write m.csv: the folder /nope does not exist. Fix: create it first or \
choose a folder you can write to'
    """
    folder = path.parent
    fix = _WRITE_FIX
    if exc.errno == errno.ENOENT:
        reason = f"the folder {folder} does not exist"
        fix = f"create it first or {_WRITE_FIX}"
    elif exc.errno == errno.ENOTDIR:
        reason = f"{_first_file(folder)} is a file, not a folder"
    elif exc.errno == errno.EISDIR:
        reason = "it is a folder"
        fix = "give the path of a file to write, e.g. showback.xlsx"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        reason = "permission denied"
    elif exc.errno == errno.EROFS:
        reason = "the file system is read-only"
    elif exc.errno == errno.ENOSPC:
        reason = "no space left on the device"
        fix = "free some space or choose another folder"
    else:
        reason = (exc.strerror or str(exc) or type(exc).__name__).lower()
    return ReportError(f"cannot write {path.name}: {reason}", where=str(path), fix=fix)


def _first_file(folder: Path) -> Path:
    """The nearest ancestor of ``folder`` (itself included) that exists (a regular file when
    the path goes "through" a file)."""
    for p in (folder, *folder.parents):
        if p.exists():
            return p
    return folder


def _fsync_folder(folder: Path) -> None:
    with contextlib.suppress(OSError):  # some file systems refuse to open a folder: not fatal
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _discard(tmps: Sequence[Path]) -> None:
    for tmp in tmps:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write_all(files: Sequence[tuple[Path, Writer]]) -> list[Path]:
    """Write every ``(path, write_fn)`` to a temporary file beside its path, then rename them
    all into place; returns the paths.

    ``write_fn(tmp)`` writes the whole file at ``tmp``. On any exception every temporary file
    is removed and no target is touched; an ``OSError`` (a folder that is missing, is a file or
    cannot be written, a full disk) becomes a ``ReportError`` that names the file, any other
    exception is re-raised as it is.
    """
    tmps: list[Path] = []
    try:
        for path, write_fn in files:
            try:
                if path.is_dir():
                    raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
                fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=path.suffix, dir=path.parent)
                os.close(fd)
                tmp = Path(name)
                tmps.append(tmp)
                write_fn(tmp)
                fd = os.open(tmp, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as exc:
                raise _write_error(exc, path) from exc
        for (path, _), tmp in zip(files, tmps, strict=True):
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise _write_error(exc, path) from exc
    except BaseException:
        _discard(tmps)
        raise
    for folder in {path.parent for path, _ in files}:
        _fsync_folder(folder)
    return [path for path, _ in files]


def atomic_write(path: Path, write_fn: Writer) -> Path:
    """Write one file atomically (see ``atomic_write_all``): ``write_fn(tmp)`` writes it at a
    temporary path in ``path``'s folder, which is then renamed to ``path``.

    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> atomic_write(folder / "a.txt", lambda tmp: tmp.write_text("hello")).read_text()
    'hello'
    >>> atomic_write(folder / "b.txt", lambda tmp: 1 / 0)
    Traceback (most recent call last):
    ZeroDivisionError: division by zero
    >>> sorted(p.name for p in folder.iterdir())
    ['a.txt']
    """
    return atomic_write_all([(path, write_fn)])[0]


def write_export(showback: Showback, fmt: ExportFormat, path: Path) -> list[Path]:
    """Write ``showback`` as ``fmt`` at ``path``; returns every file written (the workbook, or
    the Detail rows and the reconciliation side file ``<stem>.reconciliation.<fmt>``).

    >>> write_export(None, "pdf", Path("m.pdf"))  # type: ignore[arg-type]
    Traceback (most recent call last):
    costlens.errors.ReportError: m.pdf: unknown export format 'pdf'. Fix: use one of xlsx, \
csv, parquet
    """
    path = Path(path)
    if fmt == "xlsx":
        from reports.exports.xlsx import write_xlsx

        return [write_xlsx(showback, path)]
    if fmt == "csv":
        from reports.exports.csv import write_csv

        return write_csv(showback, path)
    if fmt == "parquet":
        from reports.exports.parquet import write_parquet

        return write_parquet(showback, path)
    raise ReportError(
        f"unknown export format {fmt!r}",
        where=str(path),
        fix=f"use one of {', '.join(get_args(ExportFormat))}",
    )


def side_path(path: Path, name: str) -> Path:
    """The side file ``<stem>.<name><suffix>`` beside ``path``.

    >>> side_path(Path("/x/showback-2026-11.csv"), "reconciliation").name
    'showback-2026-11.reconciliation.csv'
    """
    return path.with_name(f"{path.stem}.{name}{path.suffix}")
