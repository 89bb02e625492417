"""The tables of ``serving.duckdb``: the contract between the refresh that writes them and the
readers (``costlens.queries``, the pages, reports) that read them.

``SERVING_LAYOUT`` names the layout; a change to a table here that a reader can see bumps it
(readers check it, and a refresh never re-uses a snapshot of another layout). The cube and the
rollups (``daily``, ``rollup_daily``, ``rollup_monthly``) are built by
``costlens.refresh.rollups``; the tables below are every other table a snapshot holds:
``TABLES_SQL`` (anomalies, their root causes, days and caches, forecasts, budgets,
``snapshot_periods``, ``snapshot_info``), the small tables copied or aggregated from the
warehouse (deliveries, untagged resources, allocation coverage) and ``snapshot_info``'s insert,
run in order by ``costlens.refresh``.
"""

from __future__ import annotations

__all__ = [
    "ACCOUNT_NAMES_SQL",
    "ADDITIVE_CAUSE_LAYOUTS",
    "COVERAGE_SQL",
    "DELIVERIES_SQL",
    "FINANCE_LAYOUTS",
    "FINANCE_SQL",
    "FORECASTS_PER_COST_TYPE",
    "FORECAST_CACHE_SQL",
    "GRAIN_LAYOUTS",
    "INFO_SQL",
    "NO_ACCOUNT_NAMES_SQL",
    "NO_DELIVERIES_SQL",
    "PRESORTED_LAYOUTS",
    "SCORECARDS_SQL",
    "SCORECARD_LAYOUTS",
    "SERVING_LAYOUT",
    "SHARE_SQL",
    "TABLES_SQL",
    "UNTAGGED_SQL",
]

SERVING_LAYOUT = "serving-9"
"""Layout of the snapshot's tables, recorded in ``snapshot_info.layout``. ``serving-2``: the
small tables are stored in the order ``costlens.queries`` returns them, and
``allocation_coverage`` carries each cost type's share of its period. ``serving-3``: also
``forecasts`` has a row per cost type (``cost_type``), not only for the budget cost type.
``serving-4``: ``allocation_coverage`` carries each cost type's charges (its positive amounts)
and its ``<type>_share`` is of the period's charges, always in [0, 1], as the CLI's and
``tag_coverage``'s unallocated share is (a credit no longer makes a share negative or above 1).
``serving-5``: the scorecards (``scorecard_kpis``, ``scorecards``, ``scorecard_actions``).
``serving-6``: the finance tables (``FINANCE_SQL``). ``serving-7``: ``account_names``, each
account's name from the bill (``ACCOUNT_NAMES_SQL``). ``serving-8``: ``anomaly_root_causes``
splits each event's impact (``expected_cost``, ``actual_cost``, ``delta_cost`` per driver, and
``others`` on a row that folds the smallest values of a view), where it held a baseline
comparison (``baseline_cost``, ``event_cost``); ``anomalies`` follows each change to its end
(``follow_state``, ``followed_until``, ``settled_since``, ``total_impact``, ``daily_excess``).
``serving-9``: ``anomalies`` says which scan found each event (``grain``: day or hour) and, for
an hourly event, its first anomalous hour (``started_at``)."""
ADDITIVE_CAUSE_LAYOUTS = ("serving-8", SERVING_LAYOUT)
"""Layouts whose root causes add up to the impact and whose events are followed to their end
(``serving-8``)."""
GRAIN_LAYOUTS = (SERVING_LAYOUT,)
"""Layouts whose anomalies say which scan found them (``grain``, ``started_at``)."""
PRESORTED_LAYOUTS = (
    "serving-2", "serving-3", "serving-4", "serving-5", "serving-6", "serving-7", "serving-8",
    SERVING_LAYOUT,
)  # fmt: skip
"""Layouts whose small tables are stored in the order ``costlens.queries`` returns them."""
FORECASTS_PER_COST_TYPE = (
    "serving-3", "serving-4", "serving-5", "serving-6", "serving-7", "serving-8", SERVING_LAYOUT,
)  # fmt: skip
SCORECARD_LAYOUTS = ("serving-5", "serving-6", "serving-7", "serving-8", SERVING_LAYOUT)
"""Layouts with the scorecard tables."""
"""Layouts whose ``forecasts`` have a row per cost type."""

TABLES_SQL = """
CREATE TABLE snapshot.anomalies (
  anomaly_id VARCHAR PRIMARY KEY, dimension VARCHAR, value VARCHAR, owner VARCHAR,
  start_date DATE, end_date DATE, last_seen DATE, ongoing BOOLEAN, direction VARCHAR,
  actual_cost DECIMAL(38,10), expected_cost DECIMAL(18,2), impact_cost DECIMAL(38,10),
  impact_percent DOUBLE, max_score DOUBLE, days INTEGER, top_driver VARCHAR,
  follow_state VARCHAR, followed_until DATE, settled_since DATE, total_impact DECIMAL(38,10),
  daily_excess DECIMAL(18,2), cost_type VARCHAR,
  incident_id VARCHAR, also_seen VARCHAR, feedback VARCHAR, marked_as VARCHAR,
  grain VARCHAR, started_at TIMESTAMP
);
CREATE TABLE snapshot.anomaly_root_causes (
  anomaly_id VARCHAR, rank INTEGER, dimension VARCHAR, value VARCHAR,
  expected_cost DECIMAL(38,10), actual_cost DECIMAL(38,10), delta_cost DECIMAL(38,10),
  share DOUBLE, others INTEGER
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

ACCOUNT_NAMES_SQL = """
CREATE TABLE snapshot.account_names AS
SELECT account_id, arg_max(account_name, billing_period) AS account_name
FROM line_items WHERE account_name <> '' GROUP BY account_id ORDER BY account_id
"""
"""Each usage account's name as the bill gives it (the latest period's), for the pages."""
NO_ACCOUNT_NAMES_SQL = """
CREATE TABLE snapshot.account_names (account_id VARCHAR, account_name VARCHAR)
"""

COVERAGE_SQL = """
CREATE TABLE snapshot.allocation_coverage AS
WITH coverage AS (
  SELECT billing_period,
         CASE WHEN owner = 'unallocated' THEN 'unallocated' ELSE allocation END AS allocation,
         CAST(SUM(unblended_cost) AS DECIMAL(38,10)) AS unblended_cost,
         CAST(SUM(amortized_cost) AS DECIMAL(38,10)) AS amortized_cost,
         CAST(SUM(net_amortized_cost) AS DECIMAL(38,10)) AS net_amortized_cost,
         CAST(COALESCE(SUM(unblended_cost) FILTER (WHERE unblended_cost > 0), 0)
              AS DECIMAL(38,10)) AS unblended_charges,
         CAST(COALESCE(SUM(amortized_cost) FILTER (WHERE amortized_cost > 0), 0)
              AS DECIMAL(38,10)) AS amortized_charges,
         CAST(COALESCE(SUM(net_amortized_cost) FILTER (WHERE net_amortized_cost > 0), 0)
              AS DECIMAL(38,10)) AS net_amortized_charges
  FROM snapshot.daily GROUP BY ALL
)
SELECT *, {shares} FROM coverage ORDER BY billing_period, unblended_cost DESC, allocation
"""
SHARE_SQL = (
    "CAST({charges} / NULLIF(SUM({charges}) OVER (PARTITION BY billing_period), 0) AS DOUBLE)"
    " AS {share}"
)
"""An allocation's share of its billing period's charges, per cost type (what
``queries.allocation_health`` returns): the one coverage definition, the same as the CLI's
unallocated share (``attribution.coverage``): positive amounts only, so a credit moves the
dollars but no share leaves [0, 1]. Charges are taken per cube row (a day's usage, fee or tax
of one owner, service, account...; a credit is a row of its own)."""

INFO_SQL = """
INSERT INTO snapshot.snapshot_info
SELECT $built_at, min(usage_date), max(usage_date), $deliveries, $rule_set_version,
       COALESCE(SUM(line_items), 0), $extra, $cost_type, $series, $seconds, $layout,
       $inputs, (SELECT count(*) = 0 FROM (
         SELECT usage_date FROM snapshot.rollup_daily WHERE dimension = 'owner'
         GROUP BY usage_date HAVING count(DISTINCT billing_period) > 1))
FROM snapshot.daily
"""

FORECAST_CACHE_SQL = """
CREATE TABLE IF NOT EXISTS snapshot.forecast_cache (
  cost_type VARCHAR, owner VARCHAR, series_hash VARCHAR, projected DOUBLE, lower DOUBLE,
  upper DOUBLE, actual_to_date DOUBLE
)
"""
"""Each owner series' hash and forecast, per cost type: what the next refresh re-uses (kept
across incremental refreshes, so created only where missing)."""

SCORECARDS_SQL = """
CREATE TABLE snapshot.scorecard_kpis (
  billing_period DATE, scope VARCHAR, scope_id VARCHAR, owner VARCHAR, kpi VARCHAR,
  detail VARCHAR, value DOUBLE, goal DECIMAL(18,6), direction VARCHAR, unit VARCHAR,
  eligible_spend DECIMAL(38,10), numerator DECIMAL(38,10), denominator DECIMAL(38,10),
  potential_savings DECIMAL(38,10), savings_at_goal DECIMAL(38,10), trend DOUBLE, score DOUBLE,
  grade VARCHAR
);
CREATE TABLE snapshot.scorecards (
  billing_period DATE, scope VARCHAR, scope_id VARCHAR, owner VARCHAR, spend DECIMAL(38,10),
  eligible_spend DECIMAL(38,10), potential_savings DECIMAL(38,10),
  savings_at_goal DECIMAL(38,10), score DOUBLE, grade VARCHAR, previous_grade VARCHAR,
  rank INTEGER
);
CREATE TABLE snapshot.scorecard_actions (
  billing_period DATE, owner VARCHAR, microservice VARCHAR, kpi VARCHAR, resources INTEGER,
  resource_ids VARCHAR, savings DECIMAL(38,10), text VARCHAR, rank INTEGER
);
CREATE TABLE snapshot.scorecard_resources (
  billing_period DATE, owner VARCHAR, microservice VARCHAR, kpi VARCHAR, resource VARCHAR,
  spend DECIMAL(38,10), savings DECIMAL(38,10)
);
"""
"""The scorecards of every period and scope (``costlens.scorecards.compute``): each KPI's row
(``value`` NULL is n/a), each scorecard's overall grade and savings counting each resource once,
the owners' actions by dollars (``resource_ids``: a JSON list) and, per KPI, owner and
microservice, the resources behind its savings (the 20 that save most)."""

FINANCE_LAYOUTS = ("serving-6", "serving-7", "serving-8", SERVING_LAYOUT)
"""Layouts with the finance tables (``FINANCE_SQL``)."""

_MONEY_COLUMNS = (
    "unblended_cost DECIMAL(38,10), amortized_cost DECIMAL(38,10), "
    "net_amortized_cost DECIMAL(38,10), list_cost DECIMAL(38,10)"
)

FINANCE_SQL = f"""
CREATE TABLE snapshot.finance_ledger (
  billing_period DATE, payer_account_id VARCHAR, invoice_id VARCHAR, line_item_type VARCHAR,
  delivery_id VARCHAR, line_items BIGINT, {_MONEY_COLUMNS}
);
CREATE TABLE snapshot.finance_allocated (
  billing_period DATE, payer_account_id VARCHAR, invoice_id VARCHAR, allocation VARCHAR,
  {_MONEY_COLUMNS}
);
CREATE TABLE snapshot.finance_deliveries (
  billing_period DATE, delivery_id VARCHAR, source VARCHAR, report VARCHAR, format VARCHAR,
  assembly_id VARCHAR, row_count BIGINT, ingested_at TIMESTAMP, {_MONEY_COLUMNS}
);
CREATE TABLE snapshot.finance_shared (
  billing_period DATE, rule VARCHAR, owner VARCHAR, {_MONEY_COLUMNS}
);
CREATE TABLE snapshot.finance_unallocated (
  billing_period DATE, account_id VARCHAR, service_code VARCHAR, resource_id VARCHAR,
  {_MONEY_COLUMNS}
);
CREATE TABLE snapshot.finance_splits (
  rule VARCHAR, method VARCHAR, cost_column VARCHAR, targets VARCHAR, description VARCHAR
);
CREATE TABLE snapshot.finance_owners (
  owner VARCHAR, display_name VARCHAR, monthly_budget DECIMAL(38,10)
);
CREATE TABLE snapshot.finance_closes (
  billing_period DATE, closed_at TIMESTAMP, closed_by VARCHAR, rule_version VARCHAR,
  {_MONEY_COLUMNS}
);
CREATE TABLE snapshot.finance_adjustments (
  adjustment_id VARCHAR, billing_period DATE, owner VARCHAR, microservice VARCHAR,
  payer_account_id VARCHAR, invoice_id VARCHAR, account_id VARCHAR, service_code VARCHAR,
  delivery_id VARCHAR, recorded_at TIMESTAMP, {_MONEY_COLUMNS}
);
"""
"""The finance export's tables (``costlens.refresh.finance``): the line items' totals per payer
account, invoice, line item type and delivery (``finance_ledger``) and the allocations' per payer
account, invoice and kind (``finance_allocated``: direct, shared, unallocated), the ledger's
delivered totals, the shared splits per owner and their methods, the unallocated resources, the
owners' budgets, and the closed periods with their restatement adjustments."""
