"""The serving snapshot: ``<data_dir>/serving.duckdb``, built aside and published atomically.

The writer (``costlens refresh``) builds a new snapshot in a temporary file in the same folder
(``build_target``) and publishes it with ``os.replace`` (``publish``), so a reader either opens the
old file or the new one, never a half-written one. Readers open it read-only (``open_serving``);
on Linux an open connection keeps reading the inode it opened after the rename, so a long query
is never disturbed. ``FileStamp`` (inode, size, modification and change time) is the cheap "has it
changed" check with which the dashboard notices a new snapshot and reopens it.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import NamedTuple

import duckdb

from costlens.errors import QueryError, WarehouseError
from costlens.serving.tables import SERVING_LAYOUT

__all__ = [
    "SERVING_FILE",
    "SERVING_LAYOUT",
    "FileStamp",
    "SnapshotStamp",
    "build_target",
    "discard",
    "file_stamp",
    "files_stamp",
    "open_serving",
    "publish",
    "serving_path",
    "snapshot_stamp",
]

SERVING_FILE = "serving.duckdb"
_TEMP_PREFIX = ".serving-"


def serving_path(data_dir_or_path: Path | str) -> Path:
    """``<data_dir>/serving.duckdb`` for a data folder; a ``.duckdb`` file path as given."""
    path = Path(data_dir_or_path)
    return path if path.suffix == ".duckdb" else path / SERVING_FILE


class FileStamp(NamedTuple):
    """Identity of a file now: any write to it (or a new file in its place, as a published
    snapshot is) changes it. JSON writes it as a list (``refresh-source.json``)."""

    inode: int
    size: int
    mtime_ns: int
    ctime_ns: int


def file_stamp(path: Path) -> FileStamp | None:
    """The stamp of the file at ``path`` now, or None when there is none."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return FileStamp(st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def files_stamp(path: Path, *suffixes: str) -> list[FileStamp | None]:
    """The stamps of ``path`` and of the files named like it plus each of ``suffixes`` (a
    database's write-ahead log); None for a missing file.

    >>> files_stamp(Path("/nonexistent/warehouse.duckdb"), ".wal")
    [None, None]
    """
    return [file_stamp(path), *(file_stamp(path.with_name(path.name + s)) for s in suffixes)]


SnapshotStamp = FileStamp
"""The stamp readers keep of the snapshot they opened (``Snapshot.changed``)."""
snapshot_stamp = file_stamp


def build_target(data_dir: Path) -> Path:
    """A fresh temporary path in ``data_dir`` to build the next snapshot into.

    Left-over temporaries of crashed runs (older than this one) are removed first.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    for stale in data_dir.glob(f"{_TEMP_PREFIX}*"):
        with contextlib.suppress(OSError):
            stale.unlink()
    return data_dir / f"{_TEMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}.duckdb"


def discard(tmp: Path) -> None:
    """Remove a temporary snapshot (after a failed build) and its write-ahead log."""
    for p in (tmp, tmp.with_name(tmp.name + ".wal")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def publish(tmp: Path, data_dir: Path) -> Path:
    """Atomically make the finished snapshot ``tmp`` the current ``serving.duckdb``.

    The file is flushed to disk before the rename and the folder after it, so a crash leaves
    either the old or the new snapshot. Returns the published path.
    """
    wal = tmp.with_name(tmp.name + ".wal")
    if wal.exists():
        raise WarehouseError(
            "the new snapshot was not checkpointed (a write-ahead log is left)",
            where=str(wal),
            fix="this is a bug: report it; the previous snapshot is still being served",
        )
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    target = data_dir / SERVING_FILE
    os.replace(tmp, target)
    dir_fd = os.open(data_dir, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return target


def open_serving(path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the snapshot at ``path``.

    Raises ``QueryError`` ("no snapshot yet: run costlens sync") when there is none.
    """
    if not path.is_file():
        raise QueryError(
            "no snapshot yet: run costlens sync",
            where=str(path),
            fix="run `costlens sync` (or `costlens refresh` after `costlens attribute`)",
        )
    # Not duckdb.connect(path): DuckDB hands back an instance it already has open for the same
    # path in this process, which would still be the *previous* snapshot after os.replace (e.g.
    # while another dashboard session holds it). A private in-memory instance attaching the file
    # always reads the file as it is now.
    con = duckdb.connect(":memory:")
    try:
        con.execute("ATTACH $path AS snapshot (READ_ONLY)", {"path": str(path)})
        con.execute("USE snapshot")
        return con
    except duckdb.Error as exc:
        con.close()
        raise QueryError(
            f"cannot open the snapshot ({exc})",
            where=str(path),
            fix="run `costlens refresh` to build a new one",
        ) from exc
