# ruff: noqa: S608  (SQL from the fixed column list of costlens.schema)
"""The finance step of the refresh: what a month-end export reconciles and shows beside the cube.

Per billing period: the line items' totals per payer account, invoice, line item type and
delivery (``finance_ledger``, one scan of ``line_items``), the allocations' per payer account,
invoice (through the line keys: every allocation row carries the ``line_key`` of the line it came
from) and kind (``finance_allocated``: direct, shared, unallocated), the ledger's delivered totals
(``finance_deliveries``), each shared split's shares per owner and its method
(``finance_shared``, ``finance_splits``), the unallocated resources (``finance_unallocated``),
the owners' budgets (``finance_owners``) and the closed periods with their restatement
adjustments (``finance_closes``, ``finance_adjustments``, from the warehouse's
``closed_periods`` and ``adjustments``).

Rebuilt whole on every refresh that builds a snapshot: they are small beside ``allocations``, and
a line item changed after attribution must show in the next reconciliation.
"""

from __future__ import annotations

from typing import Any

import duckdb

from costlens.attribution.owners import UNALLOCATED
from costlens.refresh.context import BuildContext, Step
from costlens.refresh.fingerprints import inputs_key
from costlens.schema import COST_COLUMNS
from costlens.serving.tables import FINANCE_SQL
from costlens.sql import has_column, has_table, insert_rows

__all__ = ["STEP", "TABLES", "finance_key", "write"]

TABLES = (
    "finance_ledger",
    "finance_allocated",
    "finance_deliveries",
    "finance_shared",
    "finance_unallocated",
    "finance_splits",
    "finance_owners",
    "finance_closes",
    "finance_adjustments",
)

_SUMS = ", ".join(f"SUM({c})" for c in COST_COLUMNS)
_SUMS_AS = ", ".join(f"SUM({c}) AS {c}" for c in COST_COLUMNS)
_COSTS = ", ".join(COST_COLUMNS)

_LEDGER = "_finance_ledger"
"""Temporary table of the line items' totals: computed once per refresh, for its reuse key
(``finance_key``) and, when the snapshot is rebuilt, as ``finance_ledger``."""

_LEDGER_SQL = f"""
CREATE OR REPLACE TEMP TABLE {_LEDGER} AS
SELECT billing_period, payer_account_id, invoice_id, line_item_type,
       COALESCE(delivery_id, '') AS delivery_id,
       SUM(COALESCE(source_lines, 1)) AS line_items, {_SUMS_AS}
FROM line_items GROUP BY ALL
"""

_KEY_SQL = f"""
SELECT billing_period, SUM(line_items), {_SUMS} FROM {_LEDGER} GROUP BY 1 ORDER BY 1
"""

_ALLOCATED_SQL = f"""
INSERT INTO snapshot.finance_allocated
SELECT a.billing_period, a.payer_account_id, COALESCE(k.invoice_id, ''),
       CASE WHEN a.owner = $unallocated THEN 'unallocated' ELSE a.allocation END,
       {", ".join(f"SUM(a.{c})" for c in COST_COLUMNS)}
FROM allocations a {{join}}
GROUP BY ALL ORDER BY ALL
"""
_JOIN_KEYS = "LEFT JOIN line_keys k ON k.line_key = a.line_key"
_NO_KEYS = "LEFT JOIN (SELECT NULL AS invoice_id) k ON FALSE"

_DELIVERIES_SQL = f"""
INSERT INTO snapshot.finance_deliveries
SELECT billing_period, delivery_id, source, report, format, assembly_id, row_count, ingested_at,
       {", ".join(f"total_{c}" for c in COST_COLUMNS)}
FROM deliveries WHERE status = 'current' ORDER BY billing_period, delivery_id
"""

_SHARED_SQL = f"""
INSERT INTO snapshot.finance_shared
SELECT billing_period, rule, owner, {_SUMS}
FROM allocations WHERE allocation = 'shared' GROUP BY ALL ORDER BY ALL
"""

_UNALLOCATED_SQL = f"""
INSERT INTO snapshot.finance_unallocated
SELECT billing_period, account_id, service_code, resource_id, {_SUMS}
FROM allocations WHERE owner = $unallocated GROUP BY ALL ORDER BY ALL
"""

_CLOSES_SQL = f"""
INSERT INTO snapshot.finance_closes
SELECT billing_period, closed_at, closed_by, rule_version,
       {", ".join(f"total_{c}" for c in COST_COLUMNS)}
FROM closed_periods ORDER BY billing_period
"""

_ADJUSTMENTS_SQL = f"""
INSERT INTO snapshot.finance_adjustments
SELECT adjustment_id, billing_period, owner, microservice, payer_account_id, invoice_id,
       account_id, service_code, delivery_id, recorded_at, {_COSTS}
FROM adjustments ORDER BY billing_period, recorded_at, owner, adjustment_id
"""


def finance_key(con: duckdb.DuckDBPyConnection) -> str:
    """What the finance tables depend on beyond the periods' fingerprints: the line items' totals
    (a line changed after attribution must show in the reconciliation), the closed periods and
    their adjustments. One scan of ``line_items``, kept as the ``finance_ledger`` the step
    writes."""
    parts: list[Any] = []
    if has_table(con, "line_items"):
        con.execute(_LEDGER_SQL)
        parts.append(con.execute(_KEY_SQL).fetchall())
    for table in ("closed_periods", "adjustments"):
        if has_table(con, table):
            parts.append(con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall())
    return inputs_key(*parts)


def write(ctx: BuildContext) -> dict[str, Any]:
    """Write the finance tables (``TABLES``)."""
    con = ctx.con
    con.execute(FINANCE_SQL)
    if has_table(con, "line_items"):
        if not has_table(con, _LEDGER, "temp"):  # (a step run on its own, without the key)
            con.execute(_LEDGER_SQL)
        con.execute(f"INSERT INTO snapshot.finance_ledger SELECT * FROM {_LEDGER} ORDER BY ALL")
        con.execute(f"DROP TABLE {_LEDGER}")
    join = _JOIN_KEYS if has_column(con, "allocations", "line_key") else _NO_KEYS
    join = join if has_table(con, "line_keys") else _NO_KEYS
    con.execute(_ALLOCATED_SQL.format(join=join), {"unallocated": UNALLOCATED})
    if has_table(con, "deliveries"):
        con.execute(_DELIVERIES_SQL)
    con.execute(_SHARED_SQL)
    con.execute(_UNALLOCATED_SQL, {"unallocated": UNALLOCATED})
    splits = [
        (s.name, s.method, s.cost_column.removesuffix("_cost"), ", ".join(s.targets),
         s.description)
        for s in ctx.inputs.splits
    ]  # fmt: skip
    insert_rows(con, "INSERT INTO snapshot.finance_splits VALUES (?, ?, ?, ?, ?)", splits)
    owners = ctx.owners
    if owners is not None:
        rows = [
            (o.id, o.display_name, None if o.monthly_budget is None else str(o.monthly_budget))
            for o in sorted(owners.owners.values(), key=lambda o: o.id)
        ]
        insert_rows(con, "INSERT INTO snapshot.finance_owners VALUES (?, ?, ?)", rows)
    if has_table(con, "closed_periods"):
        con.execute(_CLOSES_SQL)
    if has_table(con, "adjustments"):
        con.execute(_ADJUSTMENTS_SQL)
    return {}


STEP = Step("finance", write, tables=TABLES)
