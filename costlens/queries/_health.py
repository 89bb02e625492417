"""Allocation-health questions of ``costlens.queries``: how each period's cost was attributed
(direct, shared, unallocated) and the costliest resources no rule attributed."""

from __future__ import annotations

import pandas as pd

from costlens.schema import cost_column
from costlens.serving.snapshot import CostType, Snapshot
from costlens.sql import quote

__all__ = ["allocation_health", "untagged_resources"]


def allocation_health(snap: Snapshot, *, cost_type: CostType = "unblended") -> pd.DataFrame:
    """How the cost was attributed, per billing period: ``billing_period``, ``allocation``
    (direct, shared or unallocated), ``cost`` and ``share`` of the period's cost (float)."""
    column = quote(cost_column(cost_type))
    if snap.presorted:  # shares computed at refresh with the expression below
        share = quote(f"{cost_type}_share")
        order = " ORDER BY 1, 3 DESC" if cost_type != "unblended" else ""
        return snap.frame(
            f"SELECT billing_period, allocation, {column} AS cost, {share} AS share "  # noqa: S608
            f"FROM allocation_coverage{order}"
        )
    return snap.frame(
        f"SELECT billing_period, allocation, {column} AS cost, "  # noqa: S608
        f"CAST({column} / NULLIF(SUM({column}) OVER (PARTITION BY billing_period), 0) AS DOUBLE)"
        f" AS share FROM allocation_coverage ORDER BY 1, 3 DESC"
    )


def untagged_resources(
    snap: Snapshot, *, limit: int = 20, costing_only: bool = False
) -> pd.DataFrame:
    """The most expensive resources no rule attributed (owner ``unallocated``), computed at
    refresh time: ``resource_id``, ``service_code``, ``account_id``, ``region`` and
    ``unblended_cost`` over the snapshot's last billing period. ``costing_only`` leaves out
    the resources that cost nothing (or were credited) that period."""
    where = " WHERE unblended_cost > 0" if costing_only else ""
    return snap.frame(
        "SELECT resource_id, service_code, account_id, region, unblended_cost "  # noqa: S608
        f"FROM untagged_resources{where}{snap.order_by('unblended_cost DESC, resource_id')} "
        "LIMIT $limit",
        {"limit": limit},
    )
