"""Tell an export file's kind (CSV, Parquet, zip) from its bytes and its format from its columns.

Errors name a file as ``where`` (the loader passes its key: its path relative to the source's
folder, or its S3 key), the same way as the diagnosis of a failed load does.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Literal

import duckdb

from costlens.errors import IngestError, first_line
from ingest.formats.readers import FileKind, reader_sql

__all__ = [
    "DAMAGED_FIX",
    "describe_columns",
    "detail",
    "detect_format",
    "file_kind",
    "gzip_problem",
    "not_gzip",
]

_GZIP = b"\x1f\x8b"
_ZIP = b"PK\x03\x04"
_PARQUET = b"PAR1"

DESCRIBE_SQL = "DESCRIBE SELECT * FROM {reader}"


DAMAGED_FIX = (
    "the file is damaged or truncated: re-download it (from S3: delete its staged copy under "
    "<data_dir>/staging) or let AWS re-deliver it"
)


def file_kind(path: Path, where: str | None = None) -> FileKind | Literal["zip"]:
    """``parquet``, ``zip`` or ``csv`` (plain or gzip) from the file's first bytes."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise IngestError(
            f"cannot read the file ({exc.strerror})",
            where=where or str(path),
            fix="check the path and its permissions",
        ) from exc
    if not head:
        raise IngestError(
            "the file is empty",
            where=where or str(path),
            fix="remove it, or wait for AWS to finish the delivery and run again",
        )
    if head == _PARQUET:
        return "parquet"
    if head == _ZIP:
        return "zip"
    return "csv"


def describe_columns(
    con: duckdb.DuckDBPyConnection, path: Path, kind: FileKind, where: str | None = None
) -> dict[str, str]:
    """Column name → DuckDB type of one file (CSV columns are all VARCHAR)."""
    sql = DESCRIBE_SQL.format(reader=reader_sql(kind))
    try:
        rows = con.execute(sql, {"files": [str(path)]}).fetchall()
    except duckdb.Error as exc:
        named = where or str(path)
        broken = not_gzip(path, named)
        if broken is not None:
            raise broken from exc
        raise IngestError(
            f"cannot read the {kind} file ({detail(exc, path, named)})",
            where=named,
            fix=DAMAGED_FIX,
        ) from exc
    return {str(r[0]): str(r[1]) for r in rows}


def gzip_problem(path: Path) -> str | None:
    """What is wrong with ``path``'s gzip stream (damaged, truncated), or None when it is valid
    or not gzip at all. Reads the whole file: only after a failure.

    DuckDB reads a damaged stream without checking its CRC, so it reports the garbage it
    decompressed as a CSV error (``CSV Error on Line: 30948``); Python's gzip checks it.
    """
    try:
        with path.open("rb") as raw:
            if raw.read(2) != _GZIP:
                return None
            raw.seek(0)
            with gzip.GzipFile(fileobj=raw) as stream:
                while stream.read(1 << 20):
                    pass
    except EOFError:
        return "it is truncated (the compressed data ends before its end marker)"
    except (gzip.BadGzipFile, zlib.error) as exc:
        return f"it is damaged ({exc or type(exc).__name__})"
    except OSError:  # unreadable: the caller's own error says so
        return None
    return None


def not_gzip(path: Path, where: str) -> IngestError | None:
    """The error for a file that starts as gzip but is not valid gzip, else None."""
    problem = gzip_problem(path)
    if problem is None:
        return None
    return IngestError(f"the file is not valid gzip: {problem}", where=where, fix=DAMAGED_FIX)


def detail(exc: BaseException, path: Path, where: str) -> str:
    """The first line of DuckDB's message, naming the file as ``where`` rather than by the path
    it was read from (a staged or unzipped copy).

    >>> staged = Path("/tmp/s/cur.parquet")
    >>> detail(OSError(f"No magic bytes in '{staged}'\\nmore"), staged, "cur/cur.parquet")
    "No magic bytes in 'cur/cur.parquet'"
    """
    return first_line(exc).replace(str(path), where)


def detect_format(columns: dict[str, str], path: Path, where: str | None = None) -> str:
    """``cur2``, ``cur1-csv``, ``cur1-parquet`` or ``focus`` from the column names: the one
    format of ``ingest.formats.FORMATS`` whose ``recognizes`` says so."""
    from ingest.formats import FORMATS

    found = [name for name, module in FORMATS.items() if module.recognizes(columns, path)]
    if len(found) == 1:
        return found[0]
    shown = ", ".join(sorted(columns)[:6]) or "none"
    what = "unknown export format" if not found else f"columns of {' and '.join(found)} at once"
    raise IngestError(
        f"{what} (columns: {shown}...)",
        where=where or str(path),
        fix="give a CUR 2.0, legacy CUR (CSV or Parquet) or FOCUS export; set format = ... "
        "on the source if detection is wrong",
    )
