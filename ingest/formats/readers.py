"""DuckDB table functions reading a list of export files (bound as ``$files``)."""

from __future__ import annotations

from typing import Literal

FileKind = Literal["csv", "parquet"]

PARQUET_READER = "read_parquet($files, union_by_name = true)"
CSV_READER = (
    "read_csv($files, all_varchar = true, header = true, union_by_name = true,"
    " compression = 'auto')"
)
FOCUS_CSV_READER = (
    "read_csv($files, all_varchar = true, header = true, union_by_name = true,"
    " compression = 'auto', nullstr = ['NULL', ''])"
)


def reader_sql(kind: FileKind, *, focus: bool = False) -> str:
    """The table function for files of ``kind`` (CSV always as text, to parse money exactly)."""
    if kind == "parquet":
        return PARQUET_READER
    return FOCUS_CSV_READER if focus else CSV_READER
