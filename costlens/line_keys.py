# ruff: noqa: S608  (SQL built from the fixed column list of costlens.schema; values are bound)
"""Line keys: every distinct description of a line item, numbered once, when it is loaded.

Attribution decides a line's microservice and owner from what describes it (account, service,
region, usage type, resource, tags, ...), never from its time or its money. So ingest gives each
line item the 64-bit ``line_key`` of its description (the ``KEY_COLUMNS``) and keeps one row per
key in ``line_keys``. Attribution then sums the line items per day and key, two fixed-width
columns, which is cheaper than a plain ``GROUP BY day, tags['app']`` (no tag is read per line),
and evaluates the rules once per key on ``line_keys``.

Exact by construction: a key stands for one description only. Keys are a hash of the key
columns (``key_sql``); before new keys are used, each one's description is compared column by
column with the other new descriptions and with the description already registered under that
key, and if any two differ (a 64-bit collision) the new lines are keyed again with a salted hash.
The same description may hold several keys (one per salt), never the reverse.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import duckdb

from costlens.errors import WarehouseError
from costlens.schema import LINE_ITEMS, LINE_KEYS, column_names, create_table_sql
from costlens.sql import has_column, has_table

__all__ = [
    "KEY_COLUMNS",
    "key_sql",
    "key_unkeyed_lines",
    "prune_line_keys",
    "register_line_keys",
    "unkeyed_lines",
]

KEY_COLUMNS: tuple[str, ...] = column_names(LINE_KEYS)[1:]
"""The columns a key stands for: every ``line_items`` column but time, quantity and money."""

assert set(KEY_COLUMNS) <= set(column_names(LINE_ITEMS))

_MAX_SALT = 16
"""Salts tried before giving up: reaching it would take 16 collisions in a row, i.e. a bug."""

_COLUMNS = ", ".join(f'"{c}"' for c in KEY_COLUMNS)
_PLAIN = ", ".join(f'"{c}"' for c in KEY_COLUMNS if c != "tags")
_TYPED = [(c.name, f'CAST("{c.name}" AS {c.sql_type})') for c in LINE_KEYS[1:]]
_SAME = " AND ".join(f'n."{c}" IS NOT DISTINCT FROM k."{c}"' for c in KEY_COLUMNS)

# One row per distinct description. Tags are compared through their JSON text, which is exact
# (keys and values escaped, order kept) and groups faster than the MAP itself.
_NEW_KEYS_SQL = """
CREATE OR REPLACE TEMP TABLE _new_line_keys AS
SELECT line_key, {plain}, any_value(tags) AS tags FROM (
  SELECT {key} AS line_key, {plain}, tags, to_json(tags) AS _tags FROM line_items WHERE {scope}
) GROUP BY line_key, {plain}, _tags
"""

_COLLISIONS_SQL = f"""
SELECT (SELECT count(*) - count(DISTINCT line_key) FROM _new_line_keys)
     + (SELECT count(*) FROM _new_line_keys n JOIN line_keys k ON n.line_key = k.line_key
        WHERE NOT ({_SAME}))
"""

_REGISTER_SQL = f"""
INSERT INTO line_keys (line_key, {_COLUMNS})
SELECT line_key, {_COLUMNS} FROM _new_line_keys n WHERE NOT EXISTS (
  SELECT 1 FROM line_keys k WHERE k.line_key = n.line_key
)
"""

_PERIODS = "($periods IS NULL OR list_contains(CAST($periods AS DATE[]), billing_period))"

_UNKEYED_SQL = f"SELECT count(*) FROM line_items WHERE line_key IS NULL AND {_PERIODS}"

_PRUNE_SQL = """
DELETE FROM line_keys WHERE billing_period = $period AND line_key NOT IN (
  SELECT DISTINCT line_key FROM line_items WHERE billing_period = $period AND line_key IS NOT NULL
){frozen}
"""

_FROZEN_KEYS = """ AND line_key NOT IN (
  SELECT DISTINCT line_key FROM allocations WHERE billing_period = $period AND line_key IS NOT NULL
)"""
"""The keys the frozen allocations of a closed period still hold (the scorecards and the finance
export join allocations to ``line_keys``): kept when the period is restated."""

_IS_CLOSED_SQL = "SELECT count(*) FROM closed_periods WHERE billing_period = $period"


def key_sql(salt: int = 0) -> str:
    """SQL of a line's key: a hash of its ``KEY_COLUMNS``, each cast to its ``line_items`` type so
    a key computed while inserting equals one computed from the stored line.

    With ``salt`` 0 (what ingest uses) it combines the columns' hashes. DuckDB combines them in
    order, so two descriptions whose hashes collide there would collide under any salt appended
    to them; other salts therefore hash the description's JSON text with the salt appended, a
    different function. (``salt`` is a small int of ours, never user input.)
    """
    if not salt:
        return f"hash({', '.join(sql for _, sql in _TYPED)})"
    fields = ", ".join(f'"{name}" := {sql}' for name, sql in _TYPED)
    return f"hash(to_json(struct_pack({fields})) || '#{int(salt)}')"


def _assign(
    con: duckdb.DuckDBPyConnection, scope: str, params: dict[str, Any], *, keyed: bool
) -> int:
    """Key the lines of ``scope`` (already keyed with salt 0 when ``keyed``) and register the
    keys; returns the salt used."""
    con.execute(create_table_sql("line_keys", LINE_KEYS))  # for bare connections (tests)
    try:
        for salt in range(_MAX_SALT):
            key = "line_key" if keyed and not salt else key_sql(salt)  # stored: not hashed again
            con.execute(_NEW_KEYS_SQL.format(key=key, plain=_PLAIN, scope=scope), params)
            row = con.execute(_COLLISIONS_SQL).fetchone()
            if row is not None and row[0] == 0:
                break
        else:
            raise WarehouseError(
                f"line keys collided under {_MAX_SALT} salts in a row",
                where="line_keys",
                fix="this is a bug in costlens: please report it",
            )
        if salt or not keyed:
            con.execute(f"UPDATE line_items SET line_key = {key_sql(salt)} WHERE {scope}", params)
        con.execute(_REGISTER_SQL)
    finally:
        con.execute("DROP TABLE IF EXISTS _new_line_keys")
    return salt


def register_line_keys(con: duckdb.DuckDBPyConnection, delivery_id: str) -> int:
    """Register the keys of a delivery's lines, inserted with ``key_sql()`` as their
    ``line_key``; re-keys them with another salt on a collision. Returns the salt used."""
    return _assign(con, "delivery_id = $delivery_id", {"delivery_id": delivery_id}, keyed=True)


def unkeyed_lines(con: duckdb.DuckDBPyConnection, periods: Sequence[date] | None = None) -> int:
    """Line items of ``periods`` (all when None) without a key (not loaded by ingest)."""
    row = con.execute(_UNKEYED_SQL, {"periods": None if periods is None else list(periods)})
    found = row.fetchone()
    return int(found[0]) if found else 0


def key_unkeyed_lines(con: duckdb.DuckDBPyConnection, periods: Sequence[date] | None = None) -> int:
    """Key the line items of ``periods`` that have no key yet (written by other means than
    ingest, or before keys existed); returns how many were keyed."""
    count = unkeyed_lines(con, periods)
    if count:
        params = {"periods": None if periods is None else list(periods)}
        _assign(con, f"line_key IS NULL AND {_PERIODS}", params, keyed=False)
    return count


def prune_line_keys(con: duckdb.DuckDBPyConnection, period: date) -> None:
    """Forget ``period``'s keys that no line item holds any more (after a restatement); of a
    closed period (``costlens.closing``), only those its frozen allocations do not hold either."""
    frozen = ""
    if has_table(con, "closed_periods") and has_column(con, "allocations", "line_key"):
        row = con.execute(_IS_CLOSED_SQL, {"period": period}).fetchone()
        frozen = _FROZEN_KEYS if row and row[0] else ""
    con.execute(_PRUNE_SQL.format(frozen=frozen), {"period": period})
