"""Plan questions of ``costlens.queries``: month-end forecasts with their interval, and the owners'
budgets against them."""

from __future__ import annotations

import pandas as pd

from costlens.schema import cost_column
from costlens.serving.snapshot import CostType, Snapshot
from costlens.serving.tables import FORECASTS_PER_COST_TYPE

__all__ = ["budgets", "forecasts"]


_FORECAST_COLUMNS = ("billing_period", "owner", "month_to_date", "projected", "lower", "upper")


def forecasts(snap: Snapshot, *, cost_type: CostType | None = None) -> pd.DataFrame:
    """Month-end projections per owner and in total (``owner`` = ``'*'``) in ``cost_type``
    (default: the budgets' cost type, ``snap.info.anomaly_cost_type``): ``billing_period``,
    ``owner``, ``month_to_date``, ``projected``, ``lower``, ``upper`` (``Decimal`` dollars)."""
    chosen = cost_type or snap.info.anomaly_cost_type
    cost_column(chosen)  # an unknown cost type is a QueryError
    select = f"SELECT {', '.join(_FORECAST_COLUMNS)} FROM forecasts"  # noqa: S608
    order = snap.order_by("owner = '*' DESC, projected DESC, owner")
    if snap.layout not in FORECASTS_PER_COST_TYPE:  # built before forecasts had one per type
        if chosen != snap.info.anomaly_cost_type:
            return pd.DataFrame({c: [] for c in _FORECAST_COLUMNS}, dtype=object)
        return snap.frame(select + order)
    return snap.frame(select + " WHERE cost_type = $cost_type" + order, {"cost_type": chosen})


def budgets(snap: Snapshot) -> pd.DataFrame:
    """Budget status per owner with a budget: ``owner``, ``display_name``, ``budget``,
    ``month_to_date``, ``projected``, ``lower``, ``upper`` and ``status`` (on track, at risk,
    over), all in the budgets' cost type (``snap.info.anomaly_cost_type``: amortized, as
    budgets are; a library caller of ``refresh`` may pass another)."""
    return snap.frame(
        "SELECT owner, display_name, budget, month_to_date, projected, lower, upper, status "
        "FROM budgets" + snap.order_by("status = 'over' DESC, status = 'at risk' DESC, owner")
    )
