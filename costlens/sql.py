"""SQL helpers shared by every layer: the one identifier quoter and the catalog probes.

Values are always bound as parameters; only identifiers are spliced into SQL text, and only
through ``quote``, which accepts names from an allowlisted shape.

>>> quote("owner"), quote("tag:app", allow=TAGGED), quote('lineItem/Unblended"Cost', allow=None)
('"owner"', '"tag:app"', '"lineItem/Unblended""Cost"')
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import duckdb
import pandas as pd

from costlens.errors import QueryError

__all__ = [
    "PLAIN",
    "TAGGED",
    "fetch_one",
    "has_column",
    "has_table",
    "insert_rows",
    "quote",
    "sorted_rows",
]

PLAIN = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
"""A snake_case column or table name of ours (at most 63 characters)."""
TAGGED = re.compile(r"^[a-z_][a-z0-9_:]*$")
"""Also ``tag:app``: the attribution compiler's tag columns."""


def quote(name: str, *, allow: re.Pattern[str] | None = PLAIN) -> str:
    """``name`` quoted as an SQL identifier. ``allow`` is the shape it must have (``None``: any
    name, such as an export's header, with its double quotes doubled).

    >>> quote("Owner")
    Traceback (most recent call last):
    ...
    costlens.errors.QueryError: 'Owner' is not a valid column name. Fix: use a snake_case name \
of letters, digits and underscores
    """
    if allow is not None and not allow.match(name):
        raise QueryError(
            f"{name!r} is not a valid column name",
            fix="use a snake_case name of letters, digits and underscores",
        )
    return '"' + name.replace('"', '""') + '"'


_HAS_TABLE_SQL = """
SELECT count(*) FROM duckdb_tables()
WHERE database_name = COALESCE($database, current_database()) AND table_name = $table
"""
_HAS_COLUMN_SQL = """
SELECT count(*) FROM duckdb_columns()
WHERE database_name = COALESCE($database, current_database()) AND table_name = $table
  AND column_name = $column
"""


def fetch_one(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None
) -> tuple[Any, ...] | None:
    """The first row of ``sql`` (None when empty), with the result fully consumed.

    DuckDB keeps a half-read result open on the connection, which blocks its next query; this
    reads to the end.
    """
    rows = con.execute(sql, params or {}).fetchall()
    return tuple(rows[0]) if rows else None


def has_table(con: duckdb.DuckDBPyConnection, table: str, database: str | None = None) -> bool:
    """Whether ``table`` exists in ``database`` (an attached one; default: the current one)."""
    row = fetch_one(con, _HAS_TABLE_SQL, {"table": table, "database": database})
    return bool(row and row[0])


def has_column(
    con: duckdb.DuckDBPyConnection, table: str, column: str, database: str | None = None
) -> bool:
    """Whether ``table`` of ``database`` (default: the current one) has ``column``."""
    params = {"table": table, "column": column, "database": database}
    row = fetch_one(con, _HAS_COLUMN_SQL, params)
    return bool(row and row[0])


def insert_rows(con: duckdb.DuckDBPyConnection, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """``con.executemany(sql, rows)``, which DuckDB refuses for no rows (an empty warehouse)."""
    if rows:
        con.executemany(sql, rows)


def sorted_rows(frame: pd.DataFrame, key: Callable[[dict[Any, Any]], Any]) -> pd.DataFrame:
    """``frame``'s rows in the order of ``key`` over each row (exact Decimal comparisons)."""
    rows = frame.to_dict("records")
    order = sorted(range(len(rows)), key=lambda i: key(rows[i]))
    return frame.iloc[order]
