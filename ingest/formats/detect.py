"""Tell an export file's kind (CSV, Parquet, zip) from its bytes and its format from its columns."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import duckdb

from costlens.errors import IngestError
from ingest.formats.readers import FileKind, reader_sql

__all__ = ["describe_columns", "detect_format", "file_kind"]

_GZIP = b"\x1f\x8b"
_ZIP = b"PK\x03\x04"
_PARQUET = b"PAR1"

DESCRIBE_SQL = "DESCRIBE SELECT * FROM {reader}"


def file_kind(path: Path) -> FileKind | Literal["zip"]:
    """``parquet``, ``zip`` or ``csv`` (plain or gzip) from the file's first bytes."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise IngestError(
            f"cannot read the file ({exc.strerror})",
            where=str(path),
            fix="check the path and its permissions",
        ) from exc
    if not head:
        raise IngestError(
            "the file is empty",
            where=str(path),
            fix="remove it, or wait for AWS to finish the delivery and run again",
        )
    if head == _PARQUET:
        return "parquet"
    if head == _ZIP:
        return "zip"
    return "csv"


def describe_columns(con: duckdb.DuckDBPyConnection, path: Path, kind: FileKind) -> dict[str, str]:
    """Column name → DuckDB type of one file (CSV columns are all VARCHAR)."""
    sql = DESCRIBE_SQL.format(reader=reader_sql(kind))
    try:
        rows = con.execute(sql, {"files": [str(path)]}).fetchall()
    except duckdb.Error as exc:
        raise IngestError(
            f"cannot read the {kind} file ({_first_line(exc)})",
            where=str(path),
            fix="the file is damaged or truncated: delete it (or its staged copy) and let AWS "
            "re-deliver, or re-download it",
        ) from exc
    return {str(r[0]): str(r[1]) for r in rows}


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def detect_format(columns: dict[str, str], path: Path) -> str:
    """``cur2``, ``cur1-csv``, ``cur1-parquet`` or ``focus`` from the column names."""
    names = set(columns)
    if any("/" in n for n in names) and any(
        n.split("/", 1)[0] in {"lineItem", "bill", "identity", "product", "pricing"} for n in names
    ):
        return "cur1-csv"
    if names & {"BilledCost", "ChargePeriodStart", "BillingPeriodStart"}:
        return "focus"
    cur_markers = {
        "line_item_unblended_cost",
        "line_item_line_item_type",
        "bill_billing_period_start_date",
        "identity_line_item_id",
    }
    if names & cur_markers:
        maps = {n for n, t in columns.items() if t.startswith("MAP")}
        if maps & {"resource_tags", "product"}:
            return "cur2"
        if any(n.startswith("resource_tags_") for n in names):
            return "cur1-parquet"
        if "/data/BILLING_PERIOD=" in path.as_posix() or "resource_tags" in names:
            return "cur2"
        return "cur1-parquet"
    shown = ", ".join(sorted(names)[:6]) or "none"
    raise IngestError(
        f"unknown export format (columns: {shown}...)",
        where=str(path),
        fix="give a CUR 2.0, legacy CUR (CSV or Parquet) or FOCUS export; set format = ... "
        "on the source if detection is wrong",
    )
