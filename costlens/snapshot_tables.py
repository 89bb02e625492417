"""The serving snapshot's fixed tables and the helpers that write them during a refresh.

``SNAPSHOT`` and ``PREVIOUS`` name the snapshot being built and the published one while they are
attached to the warehouse connection (``attach``). The DDL of the tables every snapshot holds
besides the cube (``TABLES_SQL``: anomalies, forecasts, budgets, ``snapshot_periods``,
``snapshot_info``), the small tables copied or aggregated from the warehouse (deliveries,
untagged resources, allocation coverage) and ``snapshot_info``'s insert are module-level
constants that ``costlens.refresh`` runs in order. ``drop_derived`` clears a copy of the
previous snapshot down to the tables an incremental refresh updates in place.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from pathlib import Path

import duckdb
import pandas as pd

from costlens.snapshot_periods import PeriodState
from costlens.sql import has_table, insert_rows, quote, sorted_rows

__all__ = [
    "COVERAGE_SQL",
    "DELIVERIES_SQL",
    "INFO_SQL",
    "NO_DELIVERIES_SQL",
    "PREVIOUS",
    "SHARE_SQL",
    "SNAPSHOT",
    "TABLES_SQL",
    "UNTAGGED_SQL",
    "attach",
    "drop_derived",
    "has_table",
    "insert_frame",
    "insert_rows",
    "last_period",
    "record_periods",
    "sorted_rows",
]

SNAPSHOT = "snapshot"
"""Name under which the snapshot being built is attached to the warehouse connection."""
PREVIOUS = "previous_snapshot"
"""Name under which the published snapshot is attached (read-only) while the next is built."""

TABLES_SQL = """
CREATE TABLE snapshot.anomalies (
  anomaly_id VARCHAR PRIMARY KEY, dimension VARCHAR, value VARCHAR, owner VARCHAR,
  start_date DATE, end_date DATE, last_seen DATE, ongoing BOOLEAN, direction VARCHAR,
  actual_cost DECIMAL(38,10), expected_cost DECIMAL(18,2), impact_cost DECIMAL(38,10),
  impact_percent DOUBLE, max_score DOUBLE, days INTEGER, top_driver VARCHAR, cost_type VARCHAR,
  incident_id VARCHAR, also_seen VARCHAR, feedback VARCHAR, marked_as VARCHAR
);
CREATE TABLE snapshot.anomaly_root_causes (
  anomaly_id VARCHAR, rank INTEGER, dimension VARCHAR, value VARCHAR,
  baseline_cost DECIMAL(38,10), event_cost DECIMAL(38,10), delta_cost DECIMAL(38,10),
  share DOUBLE
);
CREATE TABLE snapshot.anomaly_series (
  dimension VARCHAR, value VARCHAR, series_hash VARCHAR, events VARCHAR, state VARCHAR
);
CREATE TABLE snapshot.anomaly_cause_keys (anomaly_id VARCHAR, cause_key VARCHAR);
CREATE TABLE snapshot.anomaly_days (
  anomaly_id VARCHAR, usage_date DATE, actual_cost DECIMAL(38,10), expected_cost DECIMAL(18,2),
  anomalous BOOLEAN
);
CREATE TABLE snapshot.forecasts (
  billing_period DATE, owner VARCHAR, month_to_date DECIMAL(38,10),
  projected DECIMAL(18,2), lower DECIMAL(18,2), upper DECIMAL(18,2), cost_type VARCHAR
);
CREATE TABLE snapshot.budgets (
  owner VARCHAR, display_name VARCHAR, budget DECIMAL(18,2), month_to_date DECIMAL(38,10),
  projected DECIMAL(18,2), lower DECIMAL(18,2), upper DECIMAL(18,2), status VARCHAR
);
CREATE TABLE snapshot.snapshot_periods (
  billing_period DATE, fingerprint VARCHAR, allocation_rows BIGINT, rule_versions VARCHAR,
  deliveries INTEGER, rebuilt BOOLEAN
);
CREATE TABLE snapshot.snapshot_info (
  built_at TIMESTAMP, first_date DATE, last_date DATE, deliveries INTEGER,
  rule_set_version VARCHAR, allocation_rows BIGINT, extra_dimensions VARCHAR,
  anomaly_cost_type VARCHAR, anomaly_series INTEGER, seconds DOUBLE, layout VARCHAR,
  inputs VARCHAR, days_in_one_period BOOLEAN
);
"""

DELIVERIES_SQL = """
CREATE TABLE snapshot.snapshot_deliveries AS
SELECT delivery_id, source, report, format, billing_period, assembly_id, row_count, ingested_at
FROM deliveries WHERE status = 'current' ORDER BY billing_period, delivery_id
"""

NO_DELIVERIES_SQL = """
CREATE TABLE snapshot.snapshot_deliveries (
  delivery_id VARCHAR, source VARCHAR, report VARCHAR, format VARCHAR, billing_period DATE,
  assembly_id VARCHAR, row_count BIGINT, ingested_at TIMESTAMP
)
"""

UNTAGGED_SQL = """
CREATE TABLE snapshot.untagged_resources AS
SELECT resource_id, service_code, account_id, region,
       CAST(SUM(unblended_cost) AS DECIMAL(38,10)) AS unblended_cost
FROM allocations
WHERE owner = 'unallocated' AND resource_id <> ''
  AND billing_period = (SELECT max(billing_period) FROM snapshot.daily)
GROUP BY ALL ORDER BY unblended_cost DESC, resource_id LIMIT 200
"""

COVERAGE_SQL = """
CREATE TABLE snapshot.allocation_coverage AS
WITH coverage AS (
  SELECT billing_period,
         CASE WHEN owner = 'unallocated' THEN 'unallocated' ELSE allocation END AS allocation,
         CAST(SUM(unblended_cost) AS DECIMAL(38,10)) AS unblended_cost,
         CAST(SUM(amortized_cost) AS DECIMAL(38,10)) AS amortized_cost,
         CAST(SUM(net_amortized_cost) AS DECIMAL(38,10)) AS net_amortized_cost
  FROM snapshot.daily GROUP BY ALL
)
SELECT *, {shares} FROM coverage ORDER BY billing_period, unblended_cost DESC, allocation
"""
SHARE_SQL = (
    "CAST({c} / NULLIF(SUM({c}) OVER (PARTITION BY billing_period), 0) AS DOUBLE) AS {share}"
)
"""A cost type's share of its billing period (what ``queries.allocation_health`` returns)."""

INFO_SQL = """
INSERT INTO snapshot.snapshot_info
SELECT $built_at, min(usage_date), max(usage_date), $deliveries, $rule_set_version,
       COALESCE(SUM(line_items), 0), $extra, $cost_type, $series, $seconds, $layout,
       $inputs, (SELECT count(*) = 0 FROM (
         SELECT usage_date FROM snapshot.rollup_daily WHERE dimension = 'owner'
         GROUP BY usage_date HAVING count(DISTINCT billing_period) > 1))
FROM snapshot.daily
"""


def attach(
    con: duckdb.DuckDBPyConnection, path: Path, name: str = SNAPSHOT, read_only: bool = False
) -> None:
    """Attach the DuckDB file at ``path`` to ``con`` as ``name`` (read-only if asked)."""
    mode = " (READ_ONLY)" if read_only else ""
    con.execute(f"ATTACH $path AS {quote(name)}{mode}", {"path": str(path)})


_SNAPSHOT_TABLES_SQL = """
SELECT table_name FROM duckdb_tables() WHERE database_name = $name ORDER BY table_name
"""
_KEPT_TABLES = frozenset({"daily", "rollup_daily", "forecast_cache"})
"""Tables of the copied previous snapshot that the refresh updates instead of rebuilding."""


def drop_derived(con: duckdb.DuckDBPyConnection, also_keep: Collection[str] = ()) -> None:
    """In a copy of the previous snapshot, drop every table but ``_KEPT_TABLES`` (and
    ``also_keep``: tables still right as they are)."""
    for (table,) in con.execute(_SNAPSHOT_TABLES_SQL, {"name": SNAPSHOT}).fetchall():
        if table not in _KEPT_TABLES and table not in also_keep:
            con.execute(f"DROP TABLE {quote(SNAPSHOT)}.{quote(str(table))}")


def last_period(periods: dict[dt.date, PeriodState]) -> dt.date | None:
    """The latest billing period of ``periods`` (None when there is none)."""
    known = [p for p in periods if p is not None]
    return max(known) if known else None


def record_periods(
    con: duckdb.DuckDBPyConnection, periods: dict[dt.date, PeriodState], reused: set[dt.date]
) -> None:
    """Write ``snapshot_periods``: each period's fingerprint and whether it was rebuilt."""
    rows = [
        (p, s.fingerprint, s.rows, ",".join(s.rule_versions), len(s.deliveries), p not in reused)
        for p, s in sorted(periods.items(), key=lambda item: (item[0] is None, item[0]))
    ]
    insert_rows(con, "INSERT INTO snapshot.snapshot_periods VALUES (?, ?, ?, ?, ?, ?)", rows)


def insert_frame(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> None:
    """Append ``frame`` to the snapshot's ``table`` in the frame's row order."""
    if frame.empty:
        return
    con.register("_incoming", frame)
    try:
        cols = ", ".join(quote(c) for c in frame.columns)
        con.execute(
            f"INSERT INTO {quote(SNAPSHOT)}.{quote(table)} ({cols}) "  # noqa: S608
            f"SELECT {cols} FROM _incoming"
        )
    finally:
        con.unregister("_incoming")
