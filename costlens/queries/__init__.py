"""The one read API of the dashboard, the finance exports and the digests.

Everything here reads the serving snapshot (``serving.duckdb``), never the warehouse, so a reader
never waits on ``costlens sync``. Dimensions come from an allowlist (``DIMENSIONS`` plus the extra
dimensions the rules declared, see ``Snapshot.dimensions``) and are quoted; values are always
bound parameters. Money comes back as exact ``decimal.Decimal`` (read through Arrow, never through
float) and every total equals the sum of ``allocations`` for the same filter.

Typical use::

    snap = open_snapshot(settings.data_dir)
    spend(snap, grain="month", by=("owner",), cost_type="amortized")
    anomalies(snap, owner="payments")
    if snap.is_stale():          # a newer snapshot was published
        snap = snap.reopen()

One module per family of questions: spend (``_spend``), anomalies (``_anomalies``), forecasts
and budgets (``_plans``), allocation health (``_health``), scorecards (``_scorecards``), the
finance export's showback (``_showback``); the open snapshot is
``costlens.serving.snapshot``. Import them from here: this is the one module callers import.
"""

from __future__ import annotations

from costlens.queries._accounts import account_names
from costlens.queries._anomalies import anomalies, anomaly_days, anomaly_root_cause
from costlens.queries._freshness import Freshness, freshness
from costlens.queries._health import allocation_health, untagged_resources
from costlens.queries._plans import budgets, forecasts
from costlens.queries._scorecards import (
    grade_trend,
    kpi_resources,
    owner_ranking,
    scorecard,
    scorecard_kpis,
    scorecard_periods,
    top_actions,
)
from costlens.queries._showback import (
    DETAIL_DIMENSIONS,
    adjustments,
    amortization_bridge,
    finance_deliveries,
    finance_periods,
    reconciliation,
    shared_costs,
    showback_detail,
    showback_summary,
    unallocated_costs,
)
from costlens.queries._spend import (
    PeriodWindows,
    date_range,
    dimension_values,
    period_windows,
    range_windows,
    spend,
    top_movers,
)
from costlens.schema import COST_TYPES, DIMENSION_LABELS, DIMENSIONS
from costlens.serving.snapshot import (
    GRAINS,
    CostType,
    Grain,
    Snapshot,
    SnapshotInfo,
    dimension_column,
    open_snapshot,
)

__all__ = [
    "COST_TYPES",
    "DETAIL_DIMENSIONS",
    "DIMENSIONS",
    "DIMENSION_LABELS",
    "GRAINS",
    "CostType",
    "Freshness",
    "Grain",
    "PeriodWindows",
    "Snapshot",
    "SnapshotInfo",
    "account_names",
    "adjustments",
    "allocation_health",
    "amortization_bridge",
    "anomalies",
    "anomaly_days",
    "anomaly_root_cause",
    "budgets",
    "date_range",
    "dimension_column",
    "dimension_values",
    "finance_deliveries",
    "finance_periods",
    "forecasts",
    "freshness",
    "grade_trend",
    "kpi_resources",
    "open_snapshot",
    "owner_ranking",
    "period_windows",
    "range_windows",
    "reconciliation",
    "scorecard",
    "scorecard_kpis",
    "scorecard_periods",
    "shared_costs",
    "showback_detail",
    "showback_summary",
    "spend",
    "top_actions",
    "top_movers",
    "unallocated_costs",
    "untagged_resources",
]
