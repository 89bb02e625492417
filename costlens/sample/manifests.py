"""Delivery identities and manifest files shared by the export writers."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from costlens.progress import Task

__all__ = [
    "Delivery",
    "copy_to_file",
    "iso_z",
    "nullable_parquet_columns",
    "parquet_columns",
    "write_data_export_period",
    "write_json",
]


@dataclass(frozen=True)
class Delivery:
    """One delivery of one billing period: the first one, or a later restatement."""

    export: str
    period: date
    seed: int
    number: int
    """1 for the first delivery, 2 for the restatement."""
    files: int
    overwrite: bool

    @property
    def delivery_id(self) -> str:
        """The executionId (CUR 2.0, FOCUS) or assemblyId (legacy CUR) of this delivery."""
        key = f"costlens-sample/{self.export}/{self.seed}/{self.period}/{self.number}"
        return str(uuid.uuid5(uuid.NAMESPACE_URL, key))

    @property
    def delivered_at(self) -> datetime:
        """When AWS would have delivered it: the 2nd (restatement: the 5th) of the next month."""
        nxt = (self.period.replace(day=28) + timedelta(days=4)).replace(day=1)
        return datetime(nxt.year, nxt.month, 2 if self.number == 1 else 5, 6, 12, 41)

    @property
    def period_end(self) -> date:
        """First day of the month after the period."""
        return (self.period.replace(day=28) + timedelta(days=4)).replace(day=1)


def iso_z(value: date | datetime) -> str:
    """``2024-01-01T00:00:00.000Z``, AWS's timestamp spelling in manifests."""
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    return value.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def write_json(path: Path, payload: Any) -> Path:
    """Write ``payload`` as indented JSON (sorted keys: same bytes for the same input)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n")
    return path


def copy_to_file(
    con: duckdb.DuckDBPyConnection, projection: str, path: Path, options: str, file_no: int
) -> int:
    """``COPY`` the lines of ``canon`` with ``file_no``, projected, to ``path``; the row count.

    ``projection`` is a select list built by a writer from fixed column lists; ``options`` is a
    fixed COPY option string. DuckDB preserves the insertion order, so the bytes are the same
    for a seed.

    Every Parquet column is written nullable (``OPTIONAL``), as AWS writes every CUR and FOCUS
    column: DuckDB marks a column ``REQUIRED`` when the optimizer's statistics prove it has no
    NULL (a literal, a column no line leaves NULL), so the COPY runs without the
    ``statistics_propagation`` optimizer, which changes no value and no order.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    # A fixed projection and an escaped temporary path; the file number is bound.
    select = f"SELECT {projection} FROM canon WHERE file_no = $file_no"  # noqa: S608
    sql = f"COPY ({select}) TO '{_quote(tmp)}' ({options})"
    with nullable_parquet_columns(con):
        row = con.execute(sql, {"file_no": file_no}).fetchone()
    tmp.replace(path)
    return int(row[0]) if row else 0


_NO_STATISTICS = "statistics_propagation"


@contextmanager
def nullable_parquet_columns(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Disable DuckDB's ``statistics_propagation`` optimizer on ``con`` for the block, then put
    back the connection's own ``disabled_optimizers`` (only a Parquet file's schema differs)."""
    row = con.execute("SELECT current_setting('disabled_optimizers')").fetchone()
    before = str(row[0]) if row and row[0] is not None else ""
    names = [n.strip() for n in before.split(",") if n.strip()]
    if _NO_STATISTICS not in names:
        names.append(_NO_STATISTICS)
    con.execute("SET disabled_optimizers = $names", {"names": ", ".join(names)})
    try:
        yield
    finally:
        if before:
            con.execute("SET disabled_optimizers = $names", {"names": before})
        else:
            con.execute("RESET disabled_optimizers")


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")


def parquet_columns(con: duckdb.DuckDBPyConnection, path: Path) -> list[tuple[str, str]]:
    """``(name, type)`` of the columns of a Parquet file, in order."""
    rows = con.execute("DESCRIBE SELECT * FROM read_parquet($p)", {"p": str(path)}).fetchall()
    return [(str(r[0]), str(r[1])) for r in rows]


_PARQUET_OPTIONS = "FORMAT parquet, COMPRESSION snappy"


def write_data_export_period(
    con: duckdb.DuckDBPyConnection,
    out: Path,
    delivery: Delivery,
    task: Task,
    projection: str,
) -> tuple[list[Path], int]:
    """Write one delivery of one period the way AWS Data Exports does (CUR 2.0 and FOCUS alike):
    ``<export>/data/BILLING_PERIOD=YYYY-MM/*.snappy.parquet`` from ``projection``, then
    ``<export>/metadata/BILLING_PERIOD=YYYY-MM/<export>-Manifest.json`` listing exactly those
    files. Returns the files written (data, then manifest) and the rows."""
    period = f"BILLING_PERIOD={delivery.period:%Y-%m}"
    root = out / delivery.export
    data_dir = root / "data" / period
    for stale in sorted(data_dir.glob("*.parquet")) if data_dir.is_dir() else []:
        stale.unlink()
    files: list[Path] = []
    rows = 0
    for n in range(delivery.files):
        path = data_dir / f"{delivery.export}-{n + 1:05d}.snappy.parquet"
        rows += copy_to_file(con, projection, path, _PARQUET_OPTIONS, n)
        files.append(path)
        task.advance()
    keys = [f"{delivery.export}/data/{period}/{p.name}" for p in files]
    manifest = {
        "executionId": delivery.delivery_id,
        "exportArn": f"arn:aws:bcm-data-exports:us-east-1:210987654300:export/{delivery.export}",
        "exportName": delivery.export,
        "billingPeriod": {"start": iso_z(delivery.period), "end": iso_z(delivery.period_end)},
        "bucket": "",
        "reportKeys": keys,
        "dataFiles": keys,
        "columns": [{"name": n, "type": t} for n, t in parquet_columns(con, files[0])],
        "compression": "Parquet",
        "contentType": "application/x-parquet",
        "createdAt": iso_z(delivery.delivered_at),
        "rowCount": rows,
    }
    path = root / "metadata" / period / f"{delivery.export}-Manifest.json"
    files.append(write_json(path, manifest))
    return files, rows
