"""The money of a scanned event (``costlens.anomalies.scan``): the detector's estimates rounded
half up to the cent, observed costs summed exactly by DuckDB from the scanned series (each day
around an event kept for its chart, and the event's anomalous days), and the impact as a
percentage of the expected cost."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from costlens.anomalies.events import AnomalyEvent
from costlens.anomalies.scan_result import DAY_COLUMNS
from costlens.anomalies.scan_result import empty_frame as _empty_frame
from costlens.anomalies.scan_series import SERIES_TABLE as _SERIES_TABLE
from costlens.sql import quote

__all__ = [
    "DAYS_AFTER",
    "DAYS_BEFORE",
    "cents",
    "event_days",
    "exact_days",
    "followed_amounts",
    "money",
    "percent",
]

DAYS_BEFORE = 21
"""Days before an event whose scanned cost and expectation are kept for its chart."""
DAYS_AFTER = 7
"""Days after an event's last anomalous day kept for its chart."""
_CENT = Decimal("0.01")
_MONEY_PLACES = Decimal("1E-10")

_EXACT_DAYS_SQL = """
SELECT d.anomaly_id, d.usage_date, CAST(COALESCE(s.cost, 0) AS DECIMAL(38,10)) AS actual_cost,
       CAST(SUM(CASE WHEN d.anomalous THEN COALESCE(s.cost, 0) ELSE 0 END)
            OVER (PARTITION BY d.anomaly_id) AS DECIMAL(38,10)) AS event_cost
FROM _scan_event_days d
LEFT JOIN {table} s
  ON s.dimension = d.dimension AND s.value = d.value AND s.usage_date = d.usage_date
"""

_FOLLOWED_SQL = """
SELECT f.anomaly_id,
       CAST(COALESCE(SUM(s.cost), 0) AS DECIMAL(38,10)) AS total,
       CAST(COALESCE(SUM(s.cost) FILTER (WHERE s.usage_date >= f.recent_from), 0)
            AS DECIMAL(38,10)) AS recent
FROM _scan_followed f
LEFT JOIN {table} s
  ON s.dimension = f.dimension AND s.value = f.value
 AND s.usage_date BETWEEN f.start_date AND f.until
GROUP BY f.anomaly_id
"""


def cents(estimate: float) -> Decimal | None:
    """A model estimate in dollars, rounded half up to the cent (None when not finite).

    >>> cents(1234.565), cents(float("nan"))
    (Decimal('1234.57'), None)
    """
    if not np.isfinite(estimate):
        return None
    return Decimal(repr(float(estimate))).quantize(_CENT, rounding=ROUND_HALF_UP)


def event_days(
    event: AnomalyEvent, series: pd.Series, verdicts: pd.DataFrame
) -> list[tuple[dt.date, Decimal | None, bool]]:
    """The event's days with ``DAYS_BEFORE`` days before and ``DAYS_AFTER`` after it: the day,
    the detector's expectation (None in its quiet period) in cents, and whether it is one of
    the event's anomalous days. The scanned cost is added exactly from SQL (``exact_days``)."""
    index = series.index
    lo = max(0, int(index.searchsorted(event.start)) - DAYS_BEFORE)
    hi = min(len(index) - 1, int(index.searchsorted(event.last_seen)) + DAYS_AFTER)
    expected = verdicts["expected"].to_numpy(np.float64)
    flags = verdicts["is_anomaly"].to_numpy(dtype=bool)
    return [
        (index[t].date(), cents(float(expected[t])),
         bool(flags[t]) and event.start <= index[t] <= event.last_seen)
        for t in range(lo, hi + 1)
    ]  # fmt: skip


def money(value: Any) -> Decimal:
    """An amount read back from SQL (or a cache) as a ``Decimal`` with the 10 places of
    ``DECIMAL(38,10)``."""
    return Decimal(value).quantize(_MONEY_PLACES)


def percent(impact: Decimal, expected: Decimal) -> float | None:
    """Impact as a percentage of the expected cost (None when nothing was expected).

    >>> percent(Decimal("50.0000000001"), Decimal("-200.00")), percent(Decimal(1), Decimal(0))
    (25.0, None)
    """
    if expected == 0:
        return None if impact else 0.0
    return round(float(100 * impact / abs(expected)), 2)


def exact_days(
    con: duckdb.DuckDBPyConnection, day_rows: list[tuple[Any, ...]]
) -> tuple[pd.DataFrame, dict[str, Decimal]]:
    """``DAY_COLUMNS`` rows with each day's exact scanned cost, and per event the exact sum over
    its anomalous days, both summed by DuckDB from the scanned series."""
    if not day_rows:
        return _empty_frame(DAY_COLUMNS), {}
    rows = pd.DataFrame(
        day_rows,
        columns=["anomaly_id", "dimension", "value", "usage_date", "expected_cost", "anomalous"],
    )
    keys = rows[["anomaly_id", "dimension", "value", "usage_date", "anomalous"]].astype(
        {"usage_date": "datetime64[us]", "anomalous": bool}
    )
    con.register("_scan_event_days", keys)
    try:
        exact = con.execute(_EXACT_DAYS_SQL.format(table=quote(_SERIES_TABLE))).fetchall()
    finally:
        con.unregister("_scan_event_days")
    by_day = {(str(a), pd.Timestamp(d).date()): Decimal(c) for a, d, c, _ in exact}
    by_event = {str(a): Decimal(e) for a, _, _, e in exact}
    out = pd.DataFrame({
        "anomaly_id": rows["anomaly_id"].astype(str),
        "usage_date": [pd.Timestamp(d).date() for d in rows["usage_date"]],
        "actual_cost": [by_day[(str(a), pd.Timestamp(d).date())]
                        for a, d in zip(rows["anomaly_id"], rows["usage_date"], strict=True)],
        "expected_cost": [None if v is None or v != v else money(v).quantize(_CENT)
                          for v in rows["expected_cost"]],
        "anomalous": rows["anomalous"].astype(bool),
    })  # fmt: skip
    return out[list(DAY_COLUMNS)], by_event


def followed_amounts(
    con: duckdb.DuckDBPyConnection, rows: list[tuple[str, str, str, dt.date, dt.date, dt.date]]
) -> dict[str, tuple[Decimal, Decimal]]:
    """Per followed event (``anomaly_id, dimension, value, start, until, recent_from``), the
    exact scanned cost from ``start`` to ``until`` and from ``recent_from`` to ``until``."""
    if not rows:
        return {}
    keys = pd.DataFrame(
        rows, columns=["anomaly_id", "dimension", "value", "start_date", "until", "recent_from"]
    ).astype({c: "datetime64[us]" for c in ("start_date", "until", "recent_from")})
    con.register("_scan_followed", keys)
    try:
        found = con.execute(_FOLLOWED_SQL.format(table=quote(_SERIES_TABLE))).fetchall()
    finally:
        con.unregister("_scan_followed")
    return {str(a): (Decimal(t), Decimal(r)) for a, t, r in found}
