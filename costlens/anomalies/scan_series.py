"""The series an anomaly scan runs on (``costlens.anomalies.scan``): a temporary table of the
exact ``DECIMAL(38,10)`` daily cost per scanned dimension and value (one ``GROUPING SETS`` query
over the snapshot's ``daily`` cube), read back as floats into one zero-filled daily series per
dimension and value for the detector. Exact amounts are summed from the same table
(``scan_amounts``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["SERIES_FLOAT_SQL", "SERIES_SQL", "SERIES_TABLE", "daily_series"]

SERIES_TABLE = "_costlens_scan_series"
"""Temporary table of the scanned series: exact ``DECIMAL(38,10)`` cost per dimension, value and
day (a day without cost has no row)."""

SERIES_SQL = """
CREATE OR REPLACE TEMP TABLE {table} AS
SELECT CASE GROUPING(owner, microservice, service_code)
         WHEN 3 THEN 'owner' WHEN 5 THEN 'microservice' WHEN 6 THEN 'service_code'
         ELSE 'account_id' END AS dimension,
       COALESCE(owner, microservice, service_code, account_id) AS value,
       usage_date, CAST(SUM({cost}) AS DECIMAL(38,10)) AS cost
FROM {schema}.daily
WHERE charge_category = $charge_category
GROUP BY GROUPING SETS ((owner, usage_date), (microservice, usage_date),
                        (service_code, usage_date), (account_id, usage_date))
"""

SERIES_FLOAT_SQL = "SELECT dimension, value, usage_date, CAST(cost AS DOUBLE) AS cost FROM {table}"


def daily_series(frame: pd.DataFrame, days: pd.DatetimeIndex) -> dict[tuple[str, str], pd.Series]:
    """One zero-filled daily series per (dimension, value), sorted; ``frame`` has one row per
    dimension, value and day (the scan's query groups by them)."""
    keys = list(zip(frame["dimension"].astype(str), frame["value"].astype(str), strict=True))
    names = sorted(set(keys))
    row = {k: i for i, k in enumerate(names)}
    matrix = np.zeros((len(names), len(days)))
    cols = days.get_indexer(pd.DatetimeIndex(frame["usage_date"]))
    rows = np.fromiter((row[k] for k in keys), dtype=np.intp, count=len(keys))
    np.add.at(matrix, (rows, cols), frame["cost"].to_numpy(np.float64))
    return {k: pd.Series(matrix[i], index=days) for i, k in enumerate(names)}
