# ruff: noqa: S608  (SQL from fixed fragments and allowlisted, quoted columns; values are bound)
"""Showback questions of ``costlens.queries``: what a month-end finance export holds.

Every question takes billing periods ``start`` to ``end`` (first days of months, inclusive) and
one cost type, and answers in exact ``Decimal`` dollars from the snapshot's cube (``daily``) and
its finance tables (``costlens.refresh.finance``): the Summary per owner, the Detail by any
allowlisted dimensions, the shared splits, the unallocated cost, the reconciliation to the line
items and to the ledger, the bridge from unblended to another cost type, the closed periods and
their restatement adjustments. Every total here equals the sum of ``allocations`` (plus the
adjustments of a closed period, which are kept apart) for the same periods.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd

from costlens.errors import QueryError
from costlens.schema import cost_column
from costlens.serving.snapshot import CostType, Snapshot, dimension_column
from costlens.serving.tables import FINANCE_LAYOUTS
from costlens.sql import quote

__all__ = [
    "DETAIL_DIMENSIONS",
    "adjustments",
    "amortization_bridge",
    "finance_deliveries",
    "finance_periods",
    "reconciliation",
    "shared_costs",
    "showback_detail",
    "showback_summary",
    "unallocated_costs",
]

DETAIL_DIMENSIONS: tuple[str, ...] = ("owner", "microservice", "service_code", "account_id")
"""The dimensions every Detail row carries (``--by`` adds to them)."""


def _require(snap: Snapshot) -> None:
    if snap.layout not in FINANCE_LAYOUTS:
        raise QueryError(
            f"the snapshot (layout {snap.layout or 'unknown'}) predates the finance tables",
            fix="run `costlens refresh` (or `costlens sync`) to rebuild it",
        )


def _cost(cost_type: str) -> str:
    return quote(cost_column(cost_type))


def _range(start: dt.date, end: dt.date) -> dict[str, dt.date]:
    if end < start:
        raise QueryError(
            f"the range ends ({end:%Y-%m}) before it starts ({start:%Y-%m})",
            fix="give --to a month at or after --period",
        )
    return {"start": start, "end": end}


_PERIODS_SQL = """
WITH ledger AS (
  SELECT billing_period, list(DISTINCT invoice_id ORDER BY invoice_id) AS invoices,
         bool_and(invoice_id <> '') AS final, SUM({cost}) AS line_items
  FROM finance_ledger GROUP BY 1
), adjusted AS (
  SELECT billing_period, SUM({cost}) AS adjustments, max(recorded_at) AS last_adjusted
  FROM finance_adjustments GROUP BY 1
)
SELECT l.billing_period, array_to_string(list_filter(l.invoices, lambda i: i <> ''), ', ')
         AS invoice_ids,
       l.final, l.line_items, c.billing_period IS NOT NULL AS closed, c.closed_at, c.closed_by,
       c.{cost} AS closed_total, COALESCE(a.adjustments, 0) AS adjustments, a.last_adjusted
FROM ledger l
LEFT JOIN finance_closes c USING (billing_period)
LEFT JOIN adjusted a USING (billing_period)
ORDER BY l.billing_period
"""


def finance_periods(snap: Snapshot, *, cost_type: CostType = "unblended") -> pd.DataFrame:
    """Every billing period of the line items: ``billing_period``, ``invoice_ids`` (comma
    separated), ``final`` (every line has an invoice id), ``line_items`` (their total),
    ``closed``, ``closed_at``, ``closed_by``, ``closed_total`` (the frozen allocations' total at
    close), ``adjustments`` (restatements recorded since) and ``last_adjusted``, in
    ``cost_type``."""
    _require(snap)
    return snap.frame(_PERIODS_SQL.format(cost=_cost(cost_type)))


_SUMMARY_SQL = """
WITH spend AS (
  SELECT billing_period, owner,
         COALESCE(SUM({cost}) FILTER (WHERE allocation = 'direct'), 0) AS direct,
         COALESCE(SUM({cost}) FILTER (WHERE allocation = 'shared'), 0) AS shared,
         SUM({cost}) AS total, SUM({budget_cost}) AS budget_cost
  FROM daily WHERE billing_period BETWEEN $previous AND $end GROUP BY 1, 2
), adjusted AS (
  SELECT billing_period, owner, SUM({cost}) AS adjustments
  FROM finance_adjustments GROUP BY 1, 2
)
SELECT s.billing_period, s.owner, COALESCE(o.display_name, s.owner) AS display_name,
       s.direct, s.shared, s.total, COALESCE(a.adjustments, 0) AS adjustments,
       s.total + COALESCE(a.adjustments, 0) AS total_adjusted,
       o.monthly_budget AS budget, s.budget_cost, s.budget_cost - o.monthly_budget AS variance,
       CAST((s.budget_cost - o.monthly_budget) / NULLIF(o.monthly_budget, 0) AS DOUBLE)
         AS variance_share,
       p.total AS previous_total, s.total - p.total AS change,
       CAST((s.total - p.total) / NULLIF(abs(p.total), 0) AS DOUBLE) AS change_share
FROM spend s
LEFT JOIN spend p
  ON p.owner = s.owner AND p.billing_period = CAST(s.billing_period - INTERVAL 1 MONTH AS DATE)
LEFT JOIN finance_owners o ON o.owner = s.owner
LEFT JOIN adjusted a ON a.billing_period = s.billing_period AND a.owner = s.owner
WHERE s.billing_period BETWEEN $start AND $end
ORDER BY s.billing_period, s.total DESC, s.owner
"""


def showback_summary(
    snap: Snapshot, start: dt.date, end: dt.date, *, cost_type: CostType = "unblended"
) -> pd.DataFrame:
    """Per billing period and owner (``unallocated`` included): ``display_name``, ``direct``,
    ``shared``, ``total``, ``adjustments`` (restatements of a closed period) and
    ``total_adjusted`` in ``cost_type``; ``budget`` (``owners.yaml``), ``budget_cost`` (the
    total in the budgets' cost type, ``snap.info.anomaly_cost_type``), ``variance`` and
    ``variance_share`` of it against the budget; ``previous_total``, ``change`` and
    ``change_share`` against the month before. Ordered by period, then total descending."""
    _require(snap)
    params = _range(start, end)
    previous = (start.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    sql = _SUMMARY_SQL.format(cost=_cost(cost_type), budget_cost=_cost(snap.info.anomaly_cost_type))
    return snap.frame(sql, {**params, "previous": previous})


def showback_detail(
    snap: Snapshot,
    start: dt.date,
    end: dt.date,
    *,
    cost_type: CostType = "unblended",
    by: Sequence[str] = (),
) -> pd.DataFrame:
    """Per billing period, owner, microservice, service, account, the ``by`` dimensions (any of
    ``snap.dimensions``) and allocation (direct or shared): ``cost`` in ``cost_type``. Ordered by
    period, then cost descending."""
    _require(snap)
    params = _range(start, end)
    dims = [*DETAIL_DIMENSIONS, *(d for d in by if d not in DETAIL_DIMENSIONS)]
    if "allocation" not in dims:
        dims.append("allocation")
    keys = [dimension_column(snap, d) for d in dims]
    group = ", ".join(["billing_period", *keys])
    sql = (
        f"SELECT {group}, SUM({_cost(cost_type)}) AS cost FROM daily "
        f"WHERE billing_period BETWEEN $start AND $end GROUP BY {group} "
        f"ORDER BY billing_period, cost DESC, {', '.join(keys)}"
    )
    return snap.frame(sql, params)


_SHARED_SQL = """
WITH shares AS (
  SELECT billing_period, rule, owner, SUM({cost}) AS amount
  FROM finance_shared WHERE billing_period BETWEEN $start AND $end GROUP BY 1, 2, 3
)
SELECT s.billing_period, s.rule, COALESCE(p.method, '') AS method,
       COALESCE(p.cost_column, '') AS basis, COALESCE(p.description, '') AS description,
       SUM(s.amount) OVER (PARTITION BY s.billing_period, s.rule) AS source_cost,
       s.owner, s.amount,
       CAST(s.amount / NULLIF(SUM(s.amount) OVER (PARTITION BY s.billing_period, s.rule), 0)
            AS DOUBLE) AS share
FROM shares s LEFT JOIN finance_splits p USING (rule)
ORDER BY s.billing_period, source_cost DESC, s.rule, s.amount DESC, s.owner
"""


def shared_costs(
    snap: Snapshot, start: dt.date, end: dt.date, *, cost_type: CostType = "unblended"
) -> pd.DataFrame:
    """Each shared split per billing period and owner: ``rule``, ``method`` (proportional, even,
    fixed), ``basis`` (the cost type its shares are computed on), ``description``,
    ``source_cost`` (what the split distributed), the owner's ``amount`` and ``share`` of it,
    all in ``cost_type``."""
    _require(snap)
    return snap.frame(_SHARED_SQL.format(cost=_cost(cost_type)), _range(start, end))


_UNALLOCATED_SQL = """
WITH resources AS (
  SELECT billing_period, account_id, service_code, resource_id, SUM({cost}) AS cost
  FROM finance_unallocated WHERE billing_period BETWEEN $start AND $end GROUP BY 1, 2, 3, 4
), ranked AS (
  SELECT *, row_number() OVER (PARTITION BY billing_period, account_id, service_code,
                                            resource_id <> ''
                               ORDER BY cost DESC, resource_id) AS rank
  FROM resources
)
SELECT billing_period, account_id, service_code, SUM(cost) AS cost,
       count(*) FILTER (WHERE resource_id <> '') AS resources,
       list(struct_pack(resource_id := resource_id, cost := cost)
            ORDER BY cost DESC, resource_id) FILTER (WHERE resource_id <> '' AND rank <= $top)
         AS top
FROM ranked GROUP BY 1, 2, 3
ORDER BY billing_period, cost DESC, account_id, service_code
"""
"""Only the ``$top`` costliest resources of a group are listed: a month can leave tens of
thousands unallocated, and the list is what is slow to bring into Python."""


def unallocated_costs(
    snap: Snapshot,
    start: dt.date,
    end: dt.date,
    *,
    cost_type: CostType = "unblended",
    top: int = 3,
) -> pd.DataFrame:
    """What no rule caught, per billing period, account and service: ``cost``, ``resources``
    (how many resource ids) and ``top_resources`` (the ``top`` costliest, as
    "id ($amount)" joined by "; "), in ``cost_type``."""
    _require(snap)
    params = {**_range(start, end), "top": top}
    frame = snap.frame(_UNALLOCATED_SQL.format(cost=_cost(cost_type)), params)
    frame["top_resources"] = [
        "; ".join(f"{r['resource_id']} (${r['cost']:,.2f})" for r in items)
        if items is not None
        else ""
        for items in frame["top"]
    ]
    return frame.drop(columns=["top"])


_RECONCILIATION_SQL = """
WITH lines AS (
  SELECT billing_period, payer_account_id, invoice_id, SUM({cost}) AS line_items
  FROM finance_ledger GROUP BY 1, 2, 3
), allocated AS (
  SELECT billing_period, payer_account_id, invoice_id,
         COALESCE(SUM({cost}) FILTER (WHERE allocation = 'direct'), 0) AS direct,
         COALESCE(SUM({cost}) FILTER (WHERE allocation = 'shared'), 0) AS shared,
         COALESCE(SUM({cost}) FILTER (WHERE allocation = 'unallocated'), 0) AS unallocated
  FROM finance_allocated GROUP BY 1, 2, 3
), adjusted AS (
  SELECT billing_period, payer_account_id, invoice_id, SUM({cost}) AS adjustments
  FROM finance_adjustments GROUP BY 1, 2, 3
), invoices AS (
  SELECT billing_period, payer_account_id, invoice_id FROM lines
  UNION SELECT billing_period, payer_account_id, invoice_id FROM allocated
  UNION SELECT billing_period, payer_account_id, invoice_id FROM adjusted
), by_invoice AS (
  SELECT i.billing_period, 'allocations' AS "check", i.payer_account_id, i.invoice_id,
         '' AS delivery_id, COALESCE(l.line_items, 0) AS line_items,
         COALESCE(a.direct, 0) AS direct, COALESCE(a.shared, 0) AS shared,
         COALESCE(a.unallocated, 0) AS unallocated, COALESCE(j.adjustments, 0) AS adjustments
  FROM invoices i
  LEFT JOIN lines l USING (billing_period, payer_account_id, invoice_id)
  LEFT JOIN allocated a USING (billing_period, payer_account_id, invoice_id)
  LEFT JOIN adjusted j USING (billing_period, payer_account_id, invoice_id)
), loaded AS (
  SELECT billing_period, delivery_id, SUM({cost}) AS line_items
  FROM finance_ledger GROUP BY 1, 2
), delivered AS (
  SELECT billing_period, delivery_id, SUM({cost}) AS delivered FROM finance_deliveries
  GROUP BY 1, 2
), by_delivery AS (
  SELECT billing_period, 'ledger' AS "check", '' AS payer_account_id, '' AS invoice_id,
         delivery_id, COALESCE(l.line_items, 0) AS line_items, d.delivered
  FROM delivered d FULL JOIN loaded l USING (billing_period, delivery_id)
)
SELECT billing_period, "check", payer_account_id, invoice_id, delivery_id, line_items,
       direct, shared, unallocated, adjustments,
       direct + shared + unallocated + adjustments AS compared,
       line_items - (direct + shared + unallocated + adjustments) AS difference
FROM by_invoice WHERE billing_period BETWEEN $start AND $end
UNION ALL
SELECT billing_period, "check", payer_account_id, invoice_id, delivery_id, line_items,
       NULL, NULL, NULL, NULL, COALESCE(delivered, 0), line_items - COALESCE(delivered, 0)
FROM by_delivery WHERE billing_period BETWEEN $start AND $end
ORDER BY billing_period, "check", payer_account_id, invoice_id, delivery_id
"""


def reconciliation(
    snap: Snapshot, start: dt.date, end: dt.date, *, cost_type: CostType = "unblended"
) -> pd.DataFrame:
    """The proof, in ``cost_type``, per billing period:

    - ``check`` = ``allocations``, per payer account and invoice id: ``line_items`` (their sum)
      against ``direct + shared + unallocated + adjustments`` (``compared``; adjustments are the
      restatements of a closed period), ``difference`` = ``line_items - compared``;
    - ``check`` = ``ledger``, per delivery: ``line_items`` loaded from it against the total
      recorded when its files were read (``compared``), ``difference``.

    Every ``difference`` is exactly 0 unless a line item changed after it was loaded or
    attributed."""
    _require(snap)
    return snap.frame(_RECONCILIATION_SQL.format(cost=_cost(cost_type)), _range(start, end))


_BRIDGE_SQL = """
SELECT billing_period, line_item_type, SUM(unblended_cost) AS unblended, SUM({cost}) AS cost,
       SUM({cost}) - SUM(unblended_cost) AS difference
FROM finance_ledger WHERE billing_period BETWEEN $start AND $end GROUP BY 1, 2
ORDER BY billing_period, abs(difference) DESC, line_item_type
"""


def amortization_bridge(
    snap: Snapshot, start: dt.date, end: dt.date, *, cost_type: CostType = "amortized"
) -> pd.DataFrame:
    """From the invoice (unblended) to ``cost_type`` by line item type, per billing period:
    ``unblended``, ``cost`` and their ``difference`` (RI and Savings Plan fees spread over the
    usage they cover, negations, covered usage), largest difference first."""
    _require(snap)
    return snap.frame(_BRIDGE_SQL.format(cost=_cost(cost_type)), _range(start, end))


_ADJUSTMENTS_SQL = """
SELECT billing_period, recorded_at, owner, microservice, payer_account_id, invoice_id,
       account_id, service_code, {cost} AS amount, delivery_id, adjustment_id
FROM finance_adjustments
WHERE billing_period BETWEEN $start AND $end
   OR (billing_period < $start AND recorded_at >= CAST($start AS TIMESTAMP))
ORDER BY billing_period, recorded_at, owner, microservice, adjustment_id
"""


def adjustments(
    snap: Snapshot, start: dt.date, end: dt.date, *, cost_type: CostType = "unblended"
) -> pd.DataFrame:
    """Restatements of closed periods that an export of ``start`` to ``end`` reports: those of
    the periods themselves, and those of earlier closed periods recorded on or after ``start``
    (prior-period adjustments). ``billing_period`` (the closed one), ``recorded_at``, ``owner``,
    ``microservice``, ``payer_account_id``, ``invoice_id``, ``account_id``, ``service_code``,
    ``amount`` in ``cost_type``, ``delivery_id`` (the delivery that restated it)."""
    _require(snap)
    return snap.frame(_ADJUSTMENTS_SQL.format(cost=_cost(cost_type)), _range(start, end))


_DELIVERIES_SQL = """
SELECT billing_period, delivery_id, source, report, format, assembly_id, row_count, ingested_at,
       {cost} AS total
FROM finance_deliveries WHERE billing_period BETWEEN $start AND $end
ORDER BY billing_period, delivery_id
"""


def finance_deliveries(
    snap: Snapshot, start: dt.date, end: dt.date, *, cost_type: CostType = "unblended"
) -> pd.DataFrame:
    """The current deliveries of the periods (what an export is made from): ``billing_period``,
    ``delivery_id``, ``source``, ``report``, ``format``, ``assembly_id``, ``row_count``,
    ``ingested_at`` and the ``total`` recorded when its files were read, in ``cost_type``."""
    _require(snap)
    return snap.frame(_DELIVERIES_SQL.format(cost=_cost(cost_type)), _range(start, end))
