"""The warehouse: ``<data_dir>/warehouse.duckdb``, written by one process at a time.

Opening it takes an exclusive lock on ``<data_dir>/warehouse.lock`` that records the PID and the
command of the holder, so a second writer (two overlapping cron runs, say) gets a clear
"in use by PID ..." error at once instead of a hang. The tables are created on first open and
migrated forward by ``MIGRATIONS``; the version is kept in ``costlens_meta``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO

import duckdb

from costlens.errors import WarehouseBusyError, WarehouseError, data_dir_error
from costlens.line_keys import key_unkeyed_lines
from costlens.schema import (
    ADJUSTMENTS,
    CLOSED_PERIODS,
    DELIVERIES,
    KPI_ATTRIBUTES,
    LINE_ITEMS,
    LINE_KEYS,
    create_table_sql,
)
from costlens.sql import quote

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "FileLock", "Warehouse", "open_warehouse"]

WAREHOUSE_FILE = "warehouse.duckdb"
LOCK_FILE = "warehouse.lock"

Migration = Callable[[duckdb.DuckDBPyConnection], None]


def _v1(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(create_table_sql("line_items", LINE_ITEMS))
    con.execute(create_table_sql("deliveries", DELIVERIES))


def _v3(con: duckdb.DuckDBPyConnection) -> None:
    """The product attributes the scorecards read (``KPI_ATTRIBUTES``): '' on lines loaded
    before they existed, as for a format that lacks them (a re-delivery fills them in)."""
    for table in ("line_items", "line_keys"):
        for name in KPI_ATTRIBUTES:
            con.execute(
                f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {quote(name)} VARCHAR DEFAULT ''"
            )


def _v2(con: duckdb.DuckDBPyConnection) -> None:
    """Line keys (``costlens.line_keys``): key the lines loaded before they existed."""
    con.execute("ALTER TABLE line_items ADD COLUMN IF NOT EXISTS line_key UBIGINT")
    con.execute(create_table_sql("line_keys", LINE_KEYS))
    _v3(con)  # keys hash today's key columns, which include version 3's
    key_unkeyed_lines(con)


def _v4(con: duckdb.DuckDBPyConnection) -> None:
    """Period close (``costlens.closing``): the closed months and their adjustments."""
    con.execute(create_table_sql("closed_periods", CLOSED_PERIODS))
    con.execute(create_table_sql("adjustments", ADJUSTMENTS))


def _v5(con: duckdb.DuckDBPyConnection) -> None:
    """Adjustments per invoice: ``invoice_id`` ('' on adjustments recorded before it existed,
    as on a month that is not final)."""
    con.execute("ALTER TABLE adjustments ADD COLUMN IF NOT EXISTS invoice_id VARCHAR DEFAULT ''")


def _v6(con: duckdb.DuckDBPyConnection) -> None:
    """Engines (``costlens.engines``): which engine loaded a delivery ('duckdb' before), and how
    many export lines a row of ``line_items`` sums (NULL: one, as delivered)."""
    con.execute("ALTER TABLE line_items ADD COLUMN IF NOT EXISTS source_lines BIGINT")
    con.execute(create_table_sql("deliveries", DELIVERIES))  # (a bare version 1 file: tests)
    con.execute("ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS engine VARCHAR DEFAULT 'duckdb'")


MIGRATIONS: tuple[Migration, ...] = (_v1, _v2, _v3, _v4, _v5, _v6)
"""Migration ``i`` brings the schema from version ``i`` to ``i + 1``. Append only."""

SCHEMA_VERSION = len(MIGRATIONS)


class FileLock:
    """An exclusive, non-blocking ``flock`` on a file that says who holds it (the writer lock of
    the warehouse, the sync lock). ``what`` names it in errors (``open the sync lock``); ``busy``
    makes the error raised when another process holds it, from the holder's line."""

    def __init__(self, path: Path, *, what: str, busy: Callable[[str], WarehouseBusyError]) -> None:
        self.path, self.what, self.busy = path, what, busy
        self._fh: IO[str] | None = None

    def acquire(self) -> None:
        try:
            fh = self.path.open("a+")
        except OSError as exc:
            raise data_dir_error(exc, self.path.parent, f"open the {self.what}") from exc
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            fh.close()
            raise self.busy(holder) from None
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(f"PID {os.getpid()} ({' '.join(_command())})")
            fh.flush()
        except OSError as exc:
            fh.close()
            raise data_dir_error(exc, self.path.parent, f"write the {self.what}") from exc
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            self._fh.seek(0)
            self._fh.truncate()
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _warehouse_busy(data_dir: Path) -> Callable[[str], WarehouseBusyError]:
    def busy(holder: str) -> WarehouseBusyError:
        return WarehouseBusyError(
            f"warehouse is in use by {holder}",
            where=str(data_dir / WAREHOUSE_FILE),
            fix="wait for that run to finish (cron: let the next run pick it up)",
        )

    return busy


def _command() -> list[str]:
    argv = [Path(sys.argv[0]).name, *sys.argv[1:]] if sys.argv and sys.argv[0] else ["python"]
    return argv[:6]


class Warehouse:
    """An open warehouse: a DuckDB connection plus the writer lock.

    Use as a context manager; ``con`` is the DuckDB connection.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path, lock: FileLock | None) -> None:
        self.con = con
        self.path = path
        self._lock = lock

    @property
    def schema_version(self) -> int:
        row = self.con.execute(
            "SELECT value FROM costlens_meta WHERE key = 'schema_version'"
        ).fetchone()
        return int(row[0]) if row else 0

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Run a block atomically: commit on success, roll back on any exception."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    def close(self) -> None:
        try:
            self.con.close()
        finally:
            if self._lock is not None:
                self._lock.release()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _migrate(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    con.execute("CREATE TABLE IF NOT EXISTS costlens_meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
    row = con.execute("SELECT value FROM costlens_meta WHERE key = 'schema_version'").fetchone()
    current = int(row[0]) if row else 0
    if current > SCHEMA_VERSION:
        raise WarehouseError(
            f"schema version {current} is newer than this costlens supports ({SCHEMA_VERSION})",
            where=str(path),
            fix="upgrade costlens, or point data_dir at another folder",
        )
    for version in range(current, SCHEMA_VERSION):
        con.execute("BEGIN TRANSACTION")
        try:
            MIGRATIONS[version](con)
            con.execute(
                "INSERT OR REPLACE INTO costlens_meta VALUES ('schema_version', ?)",
                [str(version + 1)],
            )
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")


def open_warehouse(data_dir: Path, *, read_only: bool = False) -> Warehouse:
    """Open (creating and migrating if needed) ``<data_dir>/warehouse.duckdb``.

    A writer takes the lock; ``read_only`` opens an existing warehouse without it (DuckDB still
    refuses while a writer has the file open, which is why readers use the serving snapshot).
    """
    path = data_dir / WAREHOUSE_FILE
    if read_only:
        if not path.is_file():
            raise WarehouseError(
                "no warehouse yet", where=str(path), fix="run `costlens sync` (or `costlens demo`)"
            )
        return Warehouse(_connect(path, read_only=True), path, None)
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise data_dir_error(exc, data_dir, "create the data folder") from exc
    lock = FileLock(data_dir / LOCK_FILE, what="warehouse lock", busy=_warehouse_busy(data_dir))
    lock.acquire()
    try:
        con = _connect(path, read_only=False)
    except BaseException:
        lock.release()
        raise
    try:
        _migrate(con, path)
    except BaseException:
        con.close()
        lock.release()
        raise
    return Warehouse(con, path, lock)


WRITER_MEMORY_LIMIT = "2GB"
"""DuckDB's memory limit on the warehouse writer (attribution, refresh; ingest lowers it to 1 GB
while it loads): with the Python process around it, a sync of 100M line items stays under 4 GiB
(BENCHMARKS.md, "Scale"). Beyond it DuckDB spills to the folder beside the warehouse file."""


def _connect(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise WarehouseBusyError(
                f"warehouse is in use by another process ({exc})",
                where=str(path),
                fix="close the other program that has it open, then try again",
            ) from exc
        raise WarehouseError(
            f"cannot open the warehouse ({exc})",
            where=str(path),
            fix="check the file is a DuckDB database and readable; move it aside to start anew",
        ) from exc
    # DuckDB draws its own progress bar on stdout for long queries: it would corrupt --json output.
    con.execute("SET enable_progress_bar = false")
    if not read_only:  # a bounded writer: beyond it DuckDB spills to <warehouse>.duckdb.tmp/
        con.execute(f"SET memory_limit = '{WRITER_MEMORY_LIMIT}'")
    # Billing times are UTC: text without an offset is read as UTC whatever the machine's zone.
    con.execute("SET TimeZone = 'UTC'")
    return con
