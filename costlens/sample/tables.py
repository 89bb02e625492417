"""Small Python-built tables (meters, anomalies, monthly lines) loaded into DuckDB.

Values travel as bound list parameters, one per column, as text cast to the column's type in
SQL: decimals stay exact, and no Arrow/pandas conversion is needed (importing pandas alone would
cost about a second of a demo's start-up).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import duckdb

__all__ = ["create_temp_table"]

_MAP = "MAP(VARCHAR, VARCHAR)"


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _quoted(name: str) -> str:
    assert name.replace("_", "").isalnum(), name
    return f'"{name}"'


def create_temp_table(
    con: duckdb.DuckDBPyConnection,
    name: str,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Mapping[str, Any]],
) -> None:
    """``CREATE OR REPLACE TEMP TABLE name`` with ``columns`` (name, DuckDB type) and ``rows``.

    A ``MAP(VARCHAR, VARCHAR)`` value is a ``dict`` or a list of (key, value) pairs; names and
    types come from the caller's fixed column lists, values are bound.
    """
    params: dict[str, Any] = {}
    inner: list[str] = []
    outer: list[str] = []
    for i, (col, type_) in enumerate(columns):
        if type_ == _MAP:
            pairs = [list(dict(r[col]).items()) for r in rows]
            params[f"k{i}"] = [[k for k, _ in p] for p in pairs]
            params[f"v{i}"] = [[v for _, v in p] for p in pairs]
            inner.append(f"unnest(CAST($k{i} AS VARCHAR[][])) AS k{i}")
            inner.append(f"unnest(CAST($v{i} AS VARCHAR[][])) AS v{i}")
            outer.append(f"CAST(map(k{i}, v{i}) AS {_MAP}) AS {_quoted(col)}")
        else:
            params[f"c{i}"] = [_text(r[col]) for r in rows]
            inner.append(f"unnest(CAST($c{i} AS VARCHAR[])) AS c{i}")
            outer.append(f"CAST(c{i} AS {type_}) AS {_quoted(col)}")
    # Names and types come from fixed column lists (checked above); every value is bound.
    sql = (
        f"CREATE OR REPLACE TEMP TABLE {_quoted(name)} AS "  # noqa: S608
        f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(inner)})"
    )
    con.execute(sql, params)
