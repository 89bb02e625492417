"""Spend questions of ``costlens.queries``: spend over time by any allowlisted dimension, the
period windows and top movers, the date range and a dimension's values."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

import pandas as pd

from costlens.errors import QueryError
from costlens.queries._where import Where
from costlens.schema import cost_column
from costlens.serving.snapshot import (
    GRAINS,
    CostType,
    Grain,
    Snapshot,
    dimension_column,
)
from costlens.sql import quote

__all__ = [
    "PeriodWindows",
    "date_range",
    "dimension_values",
    "period_windows",
    "range_windows",
    "spend",
    "top_movers",
]


def _period_expr(grain: str) -> str:
    if grain == "day":
        return "usage_date"
    if grain == "week":
        return "CAST(date_trunc('week', usage_date) AS DATE)"
    if grain == "month":
        return "billing_period"
    raise QueryError(f"unknown grain {grain!r}", fix=f"use one of: {', '.join(GRAINS)}")


def _filters(
    snap: Snapshot,
    where: Mapping[str, Sequence[str]] | None,
    start: dt.date | None,
    end: dt.date | None,
    value_column: str | None = None,
    first: Where | None = None,
) -> Where:
    clauses = (first or Where()).dates(start, end)
    for i, (dim, values) in enumerate(sorted((where or {}).items())):
        clauses.among(value_column or dimension_column(snap, dim), f"w{i}", values)
    return clauses


def spend(
    snap: Snapshot,
    *,
    grain: Grain = "day",
    by: Sequence[str] = (),
    cost_type: CostType = "unblended",
    start: dt.date | None = None,
    end: dt.date | None = None,
    where: Mapping[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """Spend per period, grouped by ``by`` dimensions, for one cost type, with filters.

    ``start``/``end`` bound the usage date (inclusive); ``where`` maps a dimension to the values
    to keep. Returns columns ``period`` (a date: the day, the Monday of the week, or the billing
    period), the ``by`` dimensions and ``cost`` (exact ``Decimal``), ordered by period, then by
    cost descending.
    """
    column = quote(cost_column(cost_type))
    period = _period_expr(grain)
    keys = [dimension_column(snap, d) for d in by]
    for d in where or {}:
        dimension_column(snap, d)
    # A question about at most one rollup dimension is answered by its small rollup table.
    dims_used = set(by) | set(where or {})
    if len(dims_used) <= 1:
        dim = next(iter(dims_used), "owner")
        dated = start is not None or end is not None
        source = "rollup_monthly" if grain == "month" and not dated else "rollup_daily"
        keys_sql = [f"value AS {k}" for k in keys]
        first = Where().equals("dimension", "dimension", dim)
        clauses = _filters(snap, where, start, end, value_column="value", first=first)
    else:
        source = "daily"
        keys_sql = keys
        clauses = _filters(snap, where, start, end)
    select = ", ".join([f"{period} AS period", *keys_sql, f"SUM({column}) AS cost"])
    group = ", ".join(["1", *(str(i + 2) for i in range(len(keys)))])
    grouping = f"GROUP BY {group} "
    if source == "rollup_daily" and grain == "day" and len(keys) == 1 and snap.days_in_one_period:
        select, grouping = ", ".join([f"{period} AS period", *keys_sql, f"{column} AS cost"]), ""
    sql = (
        f"SELECT {select} FROM {source} WHERE {clauses.sql()} "  # noqa: S608
        f"{grouping}ORDER BY 1, cost DESC, {group}"
    )
    frame = snap.frame(sql, clauses.params)
    if frame.empty:  # no rows: Decimal money and dates stay objects (an empty sum is Decimal 0)
        frame = pd.DataFrame({"period": [], **{d: [] for d in by}, "cost": []}, dtype=object)
    return frame


_WINDOW_SQL = """
SELECT value,
       SUM(CASE WHEN usage_date BETWEEN $prev_start AND $prev_end THEN {cost} END) AS previous,
       SUM(CASE WHEN usage_date BETWEEN $cur_start AND $cur_end THEN {cost} END) AS current
FROM rollup_daily
WHERE dimension = $dimension AND usage_date BETWEEN $prev_start AND $cur_end
GROUP BY value
"""


@dataclass(frozen=True)
class PeriodWindows:
    """The period to date and the window it is compared with, both inclusive and equally long."""

    previous_start: dt.date
    previous_end: dt.date
    current_start: dt.date
    current_end: dt.date

    @property
    def days(self) -> int:
        """Days in each window."""
        return (self.current_end - self.current_start).days + 1


def period_windows(grain: str, as_of: dt.date) -> PeriodWindows:
    """This week or month to date (through ``as_of``) and the as many days before it to compare.

    ``week``: Monday to ``as_of`` against the same days of last week. ``month``: the 1st to
    ``as_of`` against as many days ending on the same day of last month (its last day when it is
    shorter), so both windows always hold the same number of days: on 10 March, 1-10 March
    against 1-10 February; on 31 March (2023), 1-31 March against 29 January - 28 February.

    >>> w = period_windows("month", dt.date(2023, 3, 31))
    >>> (w.previous_start, w.previous_end, w.days)
    (datetime.date(2023, 1, 29), datetime.date(2023, 2, 28), 31)
    >>> period_windows("week", dt.date(2024, 3, 6)).previous_start  # a Wednesday
    datetime.date(2024, 2, 26)
    """
    if grain == "week":
        current_start = as_of - dt.timedelta(days=as_of.weekday())
    elif grain == "month":
        current_start = as_of.replace(day=1)
    else:
        raise QueryError(f"unknown grain {grain!r} for a comparison", fix="use week or month")
    if grain == "week":
        previous_end = as_of - dt.timedelta(days=7)
    else:
        last_month_end = current_start - dt.timedelta(days=1)
        previous_end = last_month_end.replace(day=min(as_of.day, last_month_end.day))
    previous_start = previous_end - (as_of - current_start)
    return PeriodWindows(previous_start, previous_end, current_start, as_of)


def range_windows(start: dt.date, end: dt.date) -> PeriodWindows:
    """``start``..``end`` (inclusive) and the window of as many days just before it.

    >>> w = range_windows(dt.date(2026, 11, 20), dt.date(2026, 11, 30))
    >>> (w.previous_start, w.previous_end, w.days)
    (datetime.date(2026, 11, 9), datetime.date(2026, 11, 19), 11)
    """
    if end < start:
        raise QueryError(
            f"the range {start} to {end} ends before it starts", fix="pass start <= end"
        )
    previous_end = start - dt.timedelta(days=1)
    return PeriodWindows(previous_end - (end - start), previous_end, start, end)


def top_movers(
    snap: Snapshot,
    *,
    dimension: str,
    grain: Literal["week", "month"] = "month",
    cost_type: CostType = "unblended",
    as_of: dt.date | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    limit: int = 10,
) -> pd.DataFrame:
    """The values of ``dimension`` whose spend changed most, period to date against as many days
    of the period before (``period_windows``: month to date vs. the same days of last month);
    or, given ``start`` and ``end``, those dates against the as many days just before them
    (``range_windows``).

    ``as_of`` defaults to the snapshot's last date. Returns ``value``, ``previous_cost``,
    ``current_cost``, ``delta_cost`` (exact ``Decimal``) and ``delta_percent`` (float; None when
    there was no previous spend), largest absolute change first.
    """
    dimension_column(snap, dimension)
    day = as_of or snap.info.last_date
    columns = ["value", "previous_cost", "current_cost", "delta_cost", "delta_percent"]
    if day is None:
        return pd.DataFrame({c: [] for c in columns}, dtype=object)
    if start is not None or end is not None:
        windows = range_windows(start or snap.info.first_date or day, end or day)
    else:
        windows = period_windows(grain, day)
    sql = _WINDOW_SQL.format(cost=quote(cost_column(cost_type)))
    rows = snap.con.execute(
        sql,
        {
            "dimension": dimension,
            "prev_start": windows.previous_start,
            "prev_end": windows.previous_end,
            "cur_start": windows.current_start,
            "cur_end": windows.current_end,
        },
    ).fetchall()
    out = []
    for value, previous, current in rows:
        prev, cur = Decimal(previous or 0), Decimal(current or 0)
        pct = float((cur - prev) / abs(prev) * 100) if prev else None
        out.append((value, prev, cur, cur - prev, pct))
    out.sort(key=lambda r: (-abs(r[3]), r[0]))
    return pd.DataFrame(out[: max(limit, 0)], columns=columns)


def date_range(snap: Snapshot) -> tuple[dt.date | None, dt.date | None]:
    """First and last usage date in the snapshot (None, None when it is empty)."""
    return snap.info.first_date, snap.info.last_date


def dimension_values(snap: Snapshot, dimension: str) -> list[str]:
    """The values of ``dimension``, most expensive (unblended) first."""
    dimension_column(snap, dimension)
    rows = snap.con.execute(
        "SELECT value FROM rollup_monthly WHERE dimension = $d "
        "GROUP BY value ORDER BY SUM(unblended_cost) DESC, value",
        {"d": dimension},
    ).fetchall()
    return [str(r[0]) for r in rows]
