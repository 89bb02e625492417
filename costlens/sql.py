"""SQL helpers shared by every layer: the one identifier quoter and the catalog probes.

Values are always bound as parameters; only identifiers are spliced into SQL text, and only
through ``quote``, which accepts names from an allowlisted shape.

>>> quote("owner"), quote("tag:app", allow=TAGGED), quote('lineItem/Unblended"Cost', allow=None)
('"owner"', '"tag:app"', '"lineItem/Unblended""Cost"')
"""

from __future__ import annotations

import re

import duckdb

from costlens.errors import QueryError

__all__ = ["PLAIN", "TAGGED", "has_column", "has_table", "quote"]

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


_HAS_TABLE_SQL = (
    "SELECT count(*) FROM duckdb_tables() WHERE table_name = $table "
    "AND ($schema IS NULL OR database_name = $schema)"
)
_HAS_COLUMN_SQL = (
    "SELECT count(*) FROM duckdb_columns() WHERE table_name = $table AND column_name = $column "
    "AND ($schema IS NULL OR database_name = $schema)"
)


def has_table(con: duckdb.DuckDBPyConnection, table: str, schema: str | None = None) -> bool:
    """Whether ``table`` exists (in the attached database ``schema``, or in any)."""
    row = con.execute(_HAS_TABLE_SQL, {"table": table, "schema": schema}).fetchone()
    return bool(row and row[0])


def has_column(
    con: duckdb.DuckDBPyConnection, table: str, column: str, schema: str | None = None
) -> bool:
    """Whether ``table`` has ``column`` (in the attached database ``schema``, or in any)."""
    params = {"table": table, "column": column, "schema": schema}
    row = con.execute(_HAS_COLUMN_SQL, params).fetchone()
    return bool(row and row[0])
