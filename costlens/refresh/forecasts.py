"""The refresh's forecasts and budgets step: month-end forecasts per owner and budget status.

``write_forecasts_and_budgets`` reads the owners' daily series from the snapshot's
``rollup_daily``, projects the month of the last usage date (``costlens.forecast``) for every
owner and in total, in each cost type, and writes ``snapshot.forecasts`` (one row per cost type
and owner) and ``snapshot.budgets`` (in the budget cost type). A series equal to one the previous
snapshot forecast (kept in ``forecast_cache``) re-uses that forecast.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from costlens.attribution.owners import OwnersRegistry
from costlens.refresh.context import BuildContext, Step
from costlens.schema import COST_TYPES, cost_column
from costlens.serving.tables import FORECAST_CACHE_SQL
from costlens.sql import insert_rows, quote

__all__ = ["STEP", "write", "write_forecasts_and_budgets"]

_OWNER_SERIES_SQL = """
SELECT value AS owner, usage_date, {sums} FROM snapshot.rollup_daily
WHERE dimension = 'owner' GROUP BY ALL
"""

_MONTH_TO_DATE_SQL = """
SELECT value AS owner, {sums} FROM snapshot.rollup_daily
WHERE dimension = 'owner' AND usage_date >= $month_start GROUP BY ALL
"""
_DOUBLE_SUM = "CAST(SUM({column}) AS DOUBLE) AS {cost_type}"
_EXACT_SUM = "SUM({column}) AS {cost_type}"


Plan = tuple[Decimal, Decimal, Decimal, Decimal]
"""Month to date, projected, lower and upper, in dollars."""


def _series_key(daily: pd.Series, cost_type: str) -> str:
    digest = hashlib.sha256(cost_type.encode())
    digest.update(daily.index.to_numpy(dtype="datetime64[ns]").view(np.int64).tobytes())
    digest.update(daily.to_numpy(np.float64).tobytes())
    return digest.hexdigest()[:32]


def _forecasts(
    con: duckdb.DuckDBPyConnection, series: dict[tuple[str, str], pd.Series]
) -> dict[tuple[str, str], tuple[float, float, float, float]]:
    """(projected, lower, upper, actual to date) per (cost type, owner); a series equal to the
    one the previous snapshot forecast (kept in ``forecast_cache``) re-uses its result."""
    from costlens.forecast import forecast_month_end

    con.execute(FORECAST_CACHE_SQL)
    known = {
        (str(cost_type), str(owner)): (str(key), tuple(float(v) for v in values))
        for cost_type, owner, key, *values in con.execute(
            "SELECT * FROM snapshot.forecast_cache"
        ).fetchall()
    }
    con.execute("DELETE FROM snapshot.forecast_cache")
    out, rows = {}, []
    for (cost_type, owner), daily in series.items():
        key = _series_key(daily, cost_type)
        hit = known.get((cost_type, owner))
        if hit is not None and hit[0] == key:
            out[cost_type, owner] = (hit[1][0], hit[1][1], hit[1][2], hit[1][3])
        else:
            f = forecast_month_end(daily)
            out[cost_type, owner] = (f.projected, f.lower, f.upper, f.actual_to_date)
        rows.append((cost_type, owner, key, *out[cost_type, owner]))
    insert_rows(con, "INSERT INTO snapshot.forecast_cache VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    return out


def _sums(template: str) -> str:
    return ", ".join(
        template.format(column=quote(cost_column(t)), cost_type=quote(t)) for t in COST_TYPES
    )


def _owner_series(
    con: duckdb.DuckDBPyConnection,
) -> tuple[dict[tuple[str, str], pd.Series], dict[tuple[str, str], Decimal]] | None:
    """Each owner's daily series and the total's (``'*'``) over every day of the snapshot, and
    the exact month to date of each, per (cost type, owner); None when there is no data."""
    frame = con.execute(_OWNER_SERIES_SQL.format(sums=_sums(_DOUBLE_SUM))).df()
    if frame.empty:
        return None
    frame["usage_date"] = pd.to_datetime(frame["usage_date"])
    days = pd.date_range(frame["usage_date"].min(), frame["usage_date"].max(), freq="D")
    month_start = days[-1].date().replace(day=1)
    series: dict[tuple[str, str], pd.Series] = {}
    exact: dict[tuple[str, str], Decimal] = {}
    for cost_type in COST_TYPES:
        wide = frame.pivot_table(
            index="usage_date", columns="owner", values=cost_type, aggfunc="sum", fill_value=0.0
        ).reindex(days, fill_value=0.0)
        series[cost_type, "*"] = wide.sum(axis=1)
        series.update({(cost_type, str(owner)): wide[owner] for owner in wide.columns})
        exact[cost_type, "*"] = Decimal(0)
    mtd = con.execute(
        _MONTH_TO_DATE_SQL.format(sums=_sums(_EXACT_SUM)), {"month_start": month_start}
    ).fetchall()
    for owner, *sums in mtd:
        for cost_type, value in zip(COST_TYPES, sums, strict=True):
            exact[cost_type, str(owner)] = Decimal(value or 0)
            exact[cost_type, "*"] += Decimal(value or 0)
    return series, exact


def _plan(mtd: Decimal, forecast: tuple[float, float, float, float]) -> Plan:
    """The exact month to date plus the forecast's remaining days and interval, in cents."""
    f_projected, f_lower, f_upper, f_actual = forecast
    if not np.isfinite([f_projected, f_lower, f_upper, f_actual]).all():
        # No spend to learn a pattern from (an owner gone before this month): nothing more.
        return mtd, mtd, mtd, mtd
    rest = Decimal(repr(round(f_projected - f_actual, 2)))
    spread = (Decimal(repr(round(f_projected - f_lower, 2))),
              Decimal(repr(round(f_upper - f_projected, 2))))  # fmt: skip
    projected = mtd + rest
    return mtd, projected, projected - spread[0], projected + spread[1]


def write_forecasts_and_budgets(
    con: duckdb.DuckDBPyConnection, owners: OwnersRegistry | None, budget_cost_type: str
) -> int:
    """Month-end forecasts per owner and in total (``'*'``) in every cost type, and budget
    status of ``owners`` (``owners.yaml``, None without one) in ``budget_cost_type``; returns
    the number of budgets written."""
    from costlens.forecast import budget_status

    found = _owner_series(con)
    if found is None:
        return 0
    series, exact = found
    month_start = next(iter(series.values())).index[-1].date().replace(day=1)
    plans: dict[tuple[str, str], Plan] = {
        key: _plan(exact.get(key, Decimal(0)), forecast)
        for key, forecast in _forecasts(con, series).items()
    }
    rows = [(month_start, owner, *plan, cost_type) for (cost_type, owner), plan in plans.items()]
    # as queries.forecasts orders them, per cost type
    rows.sort(key=lambda r: (r[6], r[1] != "*", -r[3], r[1]))
    insert_rows(con, "INSERT INTO snapshot.forecasts VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    if owners is None:
        return 0
    budgets = []
    for entry in owners.owners.values():
        budget = entry.monthly_budget
        if budget is None:
            continue
        mtd, projected, lower, upper = plans.get((budget_cost_type, entry.id), (Decimal(0),) * 4)
        status = budget_status(
            float(projected), float(min(lower, projected)), float(max(upper, projected)),
            float(budget),
        )  # fmt: skip
        budgets.append((entry.id, entry.display_name, budget, mtd, projected, lower, upper, status))
    budgets.sort(key=lambda b: (b[7] != "over", b[7] != "at risk", b[0]))  # queries.budgets
    insert_rows(con, "INSERT INTO snapshot.budgets VALUES (?, ?, ?, ?, ?, ?, ?, ?)", budgets)
    return len(budgets)


def write(ctx: BuildContext) -> dict[str, Any]:
    """The refresh step: ``write_forecasts_and_budgets``; returns ``budgets``."""
    return {"budgets": write_forecasts_and_budgets(ctx.con, ctx.owners, ctx.cost_type)}


STEP = Step("forecasts", write, tables=("forecasts", "budgets", "forecast_cache"),
            keeps=("forecast_cache",))  # fmt: skip
