"""Delivery identities and manifest files shared by the export writers."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

__all__ = ["Delivery", "copy_to_file", "iso_z", "parquet_columns", "write_json"]


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
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    # A fixed projection and an escaped temporary path; the file number is bound.
    select = f"SELECT {projection} FROM canon WHERE file_no = $file_no"  # noqa: S608
    sql = f"COPY ({select}) TO '{_quote(tmp)}' ({options})"
    row = con.execute(sql, {"file_no": file_no}).fetchone()
    tmp.replace(path)
    return int(row[0]) if row else 0


def _quote(path: Path) -> str:
    return str(path).replace("'", "''")


def parquet_columns(con: duckdb.DuckDBPyConnection, path: Path) -> list[tuple[str, str]]:
    """``(name, type)`` of the columns of a Parquet file, in order."""
    rows = con.execute("DESCRIBE SELECT * FROM read_parquet($p)", {"p": str(path)}).fetchall()
    return [(str(r[0]), str(r[1])) for r in rows]
