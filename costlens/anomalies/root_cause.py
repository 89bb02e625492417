"""Which drivers (service, account, region, usage type, resource) explain an anomaly.

For every value of every driver column, the average daily cost during a baseline window is
compared with its average daily cost during the event window; the difference times the number of
event days is its contribution (in dollars) to the change. Within one driver column the
contributions add up to the total change, so ``share`` (contribution / total change) is
comparable across columns. Pure: the caller fetches the daily rows (e.g. from DuckDB).

Costs given as ``Decimal`` (as DuckDB returns ``DECIMAL`` sums) are added exactly and the money
columns come back as ``Decimal``: ``event_cost`` is the exact sum over the event window,
``baseline_cost`` the baseline window's exact sum pro-rated to the event's days (``prorate``) and
``delta_cost`` their difference. Any other numeric costs are computed as floats.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

import pandas as pd

from costlens.errors import CostlensError

__all__ = ["DRIVERS", "MONEY_PLACES", "prorate", "root_cause"]

DRIVERS = ("service_code", "account_id", "region", "usage_type", "resource_id")
"""The default driver columns, as named in ``allocations``."""

MONEY_PLACES = Decimal("1E-10")
"""The scale of a pro-rated amount: that of ``DECIMAL(38,10)``."""

_Window = tuple[pd.Timestamp | str, pd.Timestamp | str]


def prorate(baseline_sum: Decimal, days: tuple[int, int]) -> Decimal:
    """A baseline window's exact cost scaled to the event's days (``days``: event days, baseline
    days), to ``MONEY_PLACES``, rounded half up.

    >>> prorate(Decimal("100.0000000001"), (1, 28))
    Decimal('3.5714285714')
    >>> prorate(Decimal("-0.00000000005"), (1, 1))
    Decimal('-1E-10')
    """
    event_days, baseline_days = days
    with localcontext() as ctx:
        ctx.prec = 80
        scaled = Decimal(baseline_sum) * event_days / baseline_days
        return scaled.quantize(MONEY_PLACES, rounding=ROUND_HALF_UP)


def _is_exact(values: pd.Series) -> bool:
    present = values.dropna()
    return (
        values.dtype == object and len(present) > 0 and all(isinstance(v, Decimal) for v in present)
    )


def _days(window: _Window) -> tuple[pd.Timestamp, pd.Timestamp, int]:
    start, end = pd.Timestamp(window[0]), pd.Timestamp(window[1])
    if end < start:
        raise CostlensError(
            f"window ends ({end.date()}) before it starts ({start.date()})",
            fix="pass (start, end) with start <= end; both days are included",
        )
    return start, end, (end - start).days + 1


def root_cause(
    frame: pd.DataFrame,
    event_window: _Window,
    baseline_window: _Window,
    *,
    drivers: Sequence[str] | None = None,
    date_column: str = "usage_date",
    cost_column: str = "unblended_cost",
    top: int | None = None,
) -> pd.DataFrame:
    """Rank driver values by their contribution to the change, largest absolute delta first.

    ``frame`` has one row per day and driver combination (more rows are summed). Windows are
    inclusive (start, end) days. Returns ``dimension``, ``value``, ``baseline_cost`` (baseline daily
    average times the event days), ``event_cost``, ``delta_cost`` and ``share`` of the total change.

    >>> df = pd.DataFrame({"usage_date": pd.to_datetime(["2024-01-01", "2024-01-01",
    ...                    "2024-01-02", "2024-01-02"]), "service_code": ["EC2", "S3", "EC2", "S3"],
    ...                    "unblended_cost": [10.0, 5.0, 30.0, 5.0]})
    >>> r = root_cause(df, ("2024-01-02", "2024-01-02"), ("2024-01-01", "2024-01-01"),
    ...                drivers=["service_code"])
    >>> r[["value", "delta_cost", "share"]].values.tolist()
    [['EC2', 20.0, 1.0], ['S3', 0.0, 0.0]]
    """
    dims = list(drivers) if drivers is not None else [d for d in DRIVERS if d in frame.columns]
    missing = [c for c in [date_column, cost_column, *dims] if c not in frame.columns]
    if missing or not dims:
        raise CostlensError(
            f"root_cause() input lacks column(s) {', '.join(missing) or '(no driver column)'}",
            fix=f"pass a frame with {date_column}, {cost_column} and driver columns "
            f"(any of {', '.join(DRIVERS)})",
        )
    e_start, e_end, e_days = _days(event_window)
    b_start, b_end, b_days = _days(baseline_window)
    dates = pd.to_datetime(frame[date_column])
    in_event = (dates >= e_start) & (dates <= e_end)
    in_base = (dates >= b_start) & (dates <= b_end)
    exact = _is_exact(frame[cost_column])
    zero: Any = Decimal(0) if exact else 0.0
    cost = frame[cost_column].fillna(zero) if exact else frame[cost_column].astype("float64")

    def scale(base: Any) -> Any:
        if exact:
            return base.map(lambda v: prorate(v, (e_days, b_days)))
        return base * (e_days / b_days)

    event_total = cost[in_event].sum() + zero
    total_delta = float(event_total - scale(pd.Series([cost[in_base].sum() + zero])).iloc[0])
    parts = []
    for dim in dims:
        key = frame[dim].astype("string").fillna("")
        event = cost[in_event].groupby(key[in_event]).sum()
        base = scale(cost[in_base].groupby(key[in_base]).sum())
        both = pd.concat({"baseline_cost": base, "event_cost": event}, axis=1).fillna(zero)
        both["delta_cost"] = both["event_cost"] - both["baseline_cost"]
        both["dimension"] = dim
        both["cardinality"] = len(both)
        parts.append(both.rename_axis("value").reset_index())
    out: pd.DataFrame = pd.concat(parts, ignore_index=True)
    delta = out["delta_cost"].map(float).astype("float64")
    out["share"] = delta / total_delta if total_delta else 0.0
    out["abs_delta"] = delta.abs().round(2)
    # Ties (a resource that is the whole service) go to the more specific dimension.
    out = out.sort_values(["abs_delta", "cardinality"], ascending=False, kind="stable")
    out = out[["dimension", "value", "baseline_cost", "event_cost", "delta_cost", "share"]]
    out = out.reset_index(drop=True)
    return out.head(top) if top is not None else out
