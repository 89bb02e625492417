# ruff: noqa: S608  (SQL from fixed names; values are bound)
"""The KPI pre-aggregates: ``kpi_facts`` and its roll-ups, warehouse tables kept per period.

``allocations`` carry each row's ``line_key``; joined to ``line_keys`` they give the product
attributes of ``line_items`` (volume type, engine, processor, commitment, ...) per owner and
microservice without reading a line item again. ``FACTS_SELECT`` sums allocations per line key,
joins the keys once, sums again per billing period, owner, microservice, account, resource,
usage type and attributes, adds the instance family's generation and processor
(``data/instance_families.csv``, AWS CID's mapping table), the flags of AWS's KPI views (``EC2
usage``, ``Flexible`` purchase, ...) and, per KPI, the row's eligible cost, numerator and savings
(``kpi_columns``), in the three cost bases those views use:

- ``amortized``: the amortized cost (RI and Savings Plan fees spread to usage);
- ``adjusted``: the on-demand equivalent (CID's ``adjusted_amortized_cost``): the public
  on-demand cost of Spot usage and of usage an RI or Savings Plan covered, else amortized;
- ``unblended``: the invoiced cost (the EBS, snapshot and S3 views use it).

From it, per period: ``kpi_resources`` (each resource's best action, at most its spend) and
three roll-ups per owner, microservice and account (``kpi_partials``, ``kpi_resource_totals``,
``kpi_actions``), which is all ``costlens.scorecards.sums`` reads, whatever the bill's size.
Shared-cost splits carry their source line's key, so a split EC2 fleet keeps its instance
family in every owner's share. ``attribute`` marks the periods it re-writes stale
(``mark_stale``); ``ensure_facts`` (the refresh's scorecards step) rewrites them, fills in periods
attributed before these tables existed and drops periods no allocation holds any more.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import duckdb

from costlens.scorecards.model import Kpi
from costlens.scorecards.registry import SQL_KPIS
from costlens.sql import has_column, has_table

__all__ = [
    "ACTIONS",
    "ACTION_RESOURCES",
    "FACTS",
    "FACTS_SELECT",
    "FAMILIES",
    "FAMILIES_FILE",
    "OPEN_SOURCE_ENGINES",
    "PARTIALS",
    "PERIOD_DAYS",
    "RESOURCES",
    "RESOURCE_TOTALS",
    "ensure_facts",
    "kpi_columns",
    "mark_stale",
    "saving_sql",
    "write_facts",
]

FACTS = "kpi_facts"
"""The pre-aggregate (a warehouse table, written with ``allocations``)."""
RESOURCES = "kpi_resources"
"""Per period, owner, microservice, account and resource: its spend, whether an efficiency KPI
finds it eligible, its best action and that action's savings (at most its spend)."""
PARTIALS = "kpi_partials"
"""Per period, owner, microservice and account, the sums of every KPI's stored columns."""
RESOURCE_TOTALS = "kpi_resource_totals"
"""Per period, owner, microservice and account, the eligible resources' spend and the savings
of their best actions."""
ACTIONS = "kpi_actions"
"""Per period, owner, microservice and best KPI: the resources, savings and top ids."""
PERIOD_DAYS = "kpi_periods"
"""Per billing period, the days it has allocations (run rates of a month in progress)."""
FAMILIES = "_kpi_families"
_MONEY = "DECIMAL(38,10)"
_ZERO = f"CAST(0 AS {_MONEY})"
FAMILIES_FILE = Path(__file__).with_name("data") / "instance_families.csv"
"""AWS CID's instance-family table (its source and date are in its header)."""

OPEN_SOURCE_ENGINES = ("Aurora MySQL", "Aurora PostgreSQL", "MariaDB", "PostgreSQL", "MySQL")
"""RDS engines CID counts as open source (and as Graviton candidates)."""


_TEXT = ", ".join(
    f"COALESCE(k.{c}, '') AS {c}"
    for c in (
        "operation", "instance_type", "pricing_unit", "volume_api_name", "storage_class",
        "database_engine", "license_model", "operating_system", "physical_processor",
        "commitment_discount_id", "commitment_discount_type", "commitment_offering_type",
    )
)  # fmt: skip
"""The line keys' text columns the KPIs read, '' where a line written by other means has NULL."""
_OSS = ", ".join(f"'{e}'" for e in OPEN_SOURCE_ENGINES)

FACTS_SELECT = f"""
WITH per_key AS (
  -- allocations copy their description from the line key: sum per key first, join after
  SELECT billing_period, owner, microservice, basis, line_key,
         CAST(SUM(amortized_cost) AS DECIMAL(38,10)) AS amortized,
         CAST(SUM(unblended_cost) AS DECIMAL(38,10)) AS unblended,
         CAST(SUM(list_cost) AS DECIMAL(38,10)) AS list_cost,
         CAST(SUM(CASE
           WHEN usage_type LIKE '%Spot%' AND list_cost > 0 THEN list_cost
           WHEN line_item_type IN ('SavingsPlanCoveredUsage', 'DiscountedUsage') THEN list_cost
           ELSE amortized_cost END) AS DECIMAL(38,10)) AS adjusted,
         SUM(usage_amount) AS usage,
         MIN(usage_date) AS first_date
  FROM allocations WHERE {{in_periods}}
  GROUP BY ALL
),
sums AS (
  SELECT a.billing_period, a.owner, a.microservice, k.account_id, k.payer_account_id,
         k.service_code, k.region, k.resource_id, k.usage_type, k.line_item_type,
         k.purchase_option, a.basis, {_TEXT},
         CAST(SUM(a.amortized) AS DECIMAL(38,10)) AS amortized,
         CAST(SUM(a.unblended) AS DECIMAL(38,10)) AS unblended,
         CAST(SUM(a.list_cost) AS DECIMAL(38,10)) AS list_cost,
         CAST(SUM(a.adjusted) AS DECIMAL(38,10)) AS adjusted,
         SUM(a.usage) AS usage,
         MIN(a.first_date) AS first_date
  FROM per_key a JOIN line_keys k USING (line_key)
  GROUP BY ALL
),
described AS (
  SELECT s.*,
    CASE WHEN s.service_code IN ('AmazonRDS', 'AmazonElastiCache')
         THEN lower(split_part(s.instance_type, '.', 2))
         ELSE lower(split_part(s.instance_type, '.', 1)) END AS family
  FROM sums s
),
flagged AS (
  SELECT d.*,
    COALESCE(f.generation, '') AS generation,
    COALESCE(f.processor, '') AS instance_processor,
    COALESCE(f.latest_graviton, '') AS family_graviton,
    COALESCE(f.latest_amd, '') AS latest_amd,
    d.line_item_type LIKE '%Usage%' AND d.service_code = 'AmazonEC2' AND d.instance_type <> ''
      AND d.operation LIKE '%RunInstances%' AS ec2_usage,
    d.usage_type LIKE '%Spot%' AS spot,
    d.commitment_discount_type = 'Reservation' OR d.purchase_option = 'Reserved' AS reserved,
    d.purchase_option = 'OnDemand' OR d.commitment_offering_type = 'ComputeSavingsPlans'
      AS flexible,
    lower(d.operating_system) LIKE '%window%' AS windows,
    d.database_engine IN ({_OSS}) AS oss_engine,
    CASE
      WHEN d.line_item_type LIKE '%Usage%' AND d.physical_processor LIKE '%Graviton%'
        THEN 'Graviton'
      WHEN d.line_item_type LIKE '%Usage%' AND d.physical_processor LIKE '%AMD%' THEN 'AMD'
      WHEN d.service_code IN ('AmazonES', 'AmazonElastiCache') AND (d.instance_type LIKE '%6g%'
        OR d.instance_type LIKE '%7g%' OR d.instance_type LIKE '%4g%') THEN 'Graviton'
      WHEN d.service_code = 'AWSLambda' AND d.usage_type LIKE '%ARM%' THEN 'Graviton'
      WHEN d.usage_type LIKE '%Fargate%' AND d.usage_type LIKE '%ARM%' THEN 'Graviton'
      ELSE 'Other' END AS adjusted_processor,
    CASE
      WHEN d.service_code IN ('AmazonSageMaker', 'MachineLearningSavingsPlans')
        THEN 'Machine Learning'
      WHEN d.service_code IN ('AmazonEC2', 'AmazonECS', 'AmazonEKS', 'AWSLambda',
        'ComputeSavingsPlans') THEN 'Compute'
      WHEN d.service_code = 'AmazonElastiCache' THEN 'ElastiCache'
      WHEN d.service_code = 'AmazonES' THEN 'OpenSearch'
      WHEN d.service_code = 'AmazonRDS' THEN 'RDS'
      WHEN d.service_code = 'AmazonRedshift' THEN 'Redshift'
      WHEN d.service_code = 'AmazonDynamoDB' AND d.operation = 'CommittedThroughput'
        THEN 'DynamoDB'
      ELSE 'Other' END AS commit_group,
    d.resource_id <> '' AND d.service_code <> 'AWSDataTransfer'
      AND d.usage_type NOT LIKE '%DataXfer%'
      AND (d.line_item_type LIKE '%Usage%'
           OR d.line_item_type IN ('RIFee', 'SavingsPlanRecurringFee'))
      AND ((d.service_code = 'AmazonEC2' AND d.instance_type <> ''
            AND d.operation LIKE '%RunInstances%')
        OR (d.service_code IN ('AmazonElastiCache', 'AmazonES', 'AmazonRDS', 'AmazonRedshift',
            'AmazonSageMaker') AND d.instance_type <> '')
        OR (d.service_code = 'AmazonDynamoDB'
            AND d.operation IN ('CommittedThroughput', 'PayPerRequestThroughput')
            AND (d.usage_type LIKE '%ReadCapacityUnit-Hrs%'
                 OR d.usage_type LIKE '%WriteCapacityUnit-Hrs%')
            AND d.usage_type NOT LIKE '%Repl%')
        OR (d.service_code = 'AWSLambda' AND (d.usage_type LIKE '%Lambda-Provisioned-GB-Second%'
            OR d.usage_type LIKE '%Lambda-GB-Second%'
            OR d.usage_type LIKE '%Lambda-Provisioned-Concurrency%'))
        OR d.usage_type LIKE '%Fargate%'
        OR d.service_code IN ('ComputeSavingsPlans', 'MachineLearningSavingsPlans'))
      AS instance_row
  FROM described d
  LEFT JOIN {FAMILIES} f ON f.service_code = d.service_code AND f.family = d.family
),
graviton AS (
  SELECT *,
    -- CID keeps a Graviton target only where the workload can move: not Windows on EC2, an
    -- open-source engine on RDS, any OpenSearch or ElastiCache node
    CASE WHEN (service_code = 'AmazonEC2' AND NOT windows) OR (service_code = 'AmazonRDS'
      AND oss_engine) OR service_code IN ('AmazonES', 'AmazonElastiCache')
      THEN family_graviton ELSE '' END AS latest_graviton,
    resource_id <> '' AND line_item_type LIKE '%Usage%' AND service_code = 'AmazonEC2'
      AND usage_type LIKE '%EBS:Snapshot%' AND usage_type NOT LIKE '%EBS:SnapshotArchive%'
      AS snapshot_line
  FROM flagged
)
SELECT *, {{kpi_columns}} FROM graviton
"""
"""The rows of ``kpi_facts`` (``{in_periods}``: a condition on ``billing_period``;
``{kpi_columns}``: ``kpi_columns()``)."""


def saving_sql(k: Kpi) -> str:
    """A ``kpi_facts`` row's savings for ``k``: its formula, never below 0 and never above the
    row's amortized cost (a credit row saves nothing)."""
    saved = f"COALESCE(CAST(({k.savings}) AS {_MONEY}), {_ZERO})"
    return f"GREATEST(LEAST({saved}, GREATEST(amortized, {_ZERO})), {_ZERO})"


def kpi_columns() -> str:
    """Per KPI ``i`` of ``SQL_KPIS``, a row's ``e<i>`` (its amortized cost where eligible),
    ``b<i>`` (its cost in the KPI's basis where eligible), ``n<i>`` (where it counts towards the
    value) and ``s<i>`` (its savings): NULL where they do not apply. A dated KPI's numerator and
    savings depend on every period (a snapshot's first use), a pooled KPI's on every scope (the
    commitments' use): they are left to ``costlens.scorecards.sums``."""
    cols = []
    for i, k in enumerate(SQL_KPIS):
        if k.pooled:
            continue
        cols += [
            f"CAST(CASE WHEN {k.eligible} THEN amortized END AS {_MONEY}) AS e{i}",
            f"CAST(CASE WHEN {k.eligible} THEN {k.eligible_cost} END AS {_MONEY}) AS b{i}",
        ]
        if not k.dated:
            cols.append(
                f"CAST(CASE WHEN {k.numerator} THEN {k.numerator_cost} END AS {_MONEY}) AS n{i}"
            )
            if k.savings:
                cols.append(f"NULLIF({saving_sql(k)}, {_ZERO}) AS s{i}")
    return ", ".join(cols)


def _in_periods(periods: Sequence[dt.date] | None) -> str:
    if periods is None:
        return "TRUE"
    return "list_contains(CAST($periods AS DATE[]), billing_period)"


RESOURCES_SELECT = """
SELECT billing_period, owner, microservice, account_id,
       CASE WHEN resource_id <> '' THEN resource_id ELSE usage_type END AS resource,
       resource_id <> '' AS named,
       CAST(SUM(amortized) AS DECIMAL(38,10)) AS spend,
       bool_or({eligible}) AS eligible,
       {saves}
FROM kpi_facts WHERE NOT snapshot_line AND {in_periods}
GROUP BY ALL
"""


def _resources_sql(periods: Sequence[dt.date] | None) -> str:
    saving = [(i, k) for i, k in enumerate(SQL_KPIS) if k.savings and not k.dated]
    saves = [f"CAST(COALESCE(SUM(s{i}), 0) AS {_MONEY}) AS s{i}" for i, _ in saving]
    eligible = " OR ".join(f"e{i} IS NOT NULL" for i, _ in saving)
    best = f"GREATEST({', '.join(f's{i}' for i, _ in saving)})"
    arms = " ".join(f"WHEN s{i} = best AND best > 0 THEN '{k.name}'" for i, k in saving)
    inner = RESOURCES_SELECT.format(
        eligible=eligible, saves=", ".join(saves), in_periods=_in_periods(periods)
    )
    return f"""
INSERT INTO {RESOURCES}
SELECT billing_period, owner, microservice, account_id, resource, named, spend, eligible,
       CASE {arms} END AS best_kpi, LEAST(best, GREATEST(spend, {_ZERO})) AS savings
FROM (SELECT *, {best} AS best FROM ({inner}))
"""


_RESOURCES_DDL = f"""
CREATE TABLE IF NOT EXISTS {RESOURCES} (
  billing_period DATE, owner VARCHAR, microservice VARCHAR, account_id VARCHAR,
  resource VARCHAR, named BOOLEAN, spend {_MONEY}, eligible BOOLEAN, best_kpi VARCHAR,
  savings {_MONEY}
)
"""

_PERIODS_DDL = f"CREATE TABLE IF NOT EXISTS {PERIOD_DAYS} (billing_period DATE, days INTEGER)"
_PERIODS_SQL = f"""
INSERT INTO {PERIOD_DAYS}
SELECT billing_period, count(DISTINCT usage_date) FROM allocations WHERE {{in_periods}} GROUP BY 1
"""


_SUBJECT = "billing_period, owner, microservice, account_id"


def _partials_select() -> str:
    """Per period, owner, microservice and account: ``spend`` and the sums of every stored
    per-KPI column of ``kpi_facts``."""
    sums = ["CAST(SUM(amortized) AS DECIMAL(38,10)) AS spend"]
    for i, k in enumerate(SQL_KPIS):
        if k.pooled:
            continue
        names = ["e", "b"] + ([] if k.dated else ["n"] + (["s"] if k.savings else []))
        sums += [f"CAST(SUM({c}{i}) AS {_MONEY}) AS {c}{i}" for c in names]
    return f"SELECT {_SUBJECT}, {', '.join(sums)} FROM {FACTS} WHERE {{in_periods}} GROUP BY ALL"


TOTALS_SELECT = f"""
SELECT {_SUBJECT}, CAST(SUM(spend) FILTER (WHERE eligible) AS {_MONEY}) AS eligible_spend,
       CAST(SUM(savings) AS {_MONEY}) AS savings
FROM {RESOURCES} WHERE {{in_periods}} GROUP BY ALL
"""

ACTION_RESOURCES = 5
"""Resource ids an action names (the rest are counted)."""

ACTIONS_SELECT = f"""
SELECT billing_period, owner, microservice, best_kpi AS kpi, count(*) AS resources,
       CAST(SUM(savings) AS {_MONEY}) AS savings,
       max_by(resource, struct_pack(s := savings, r := resource), {ACTION_RESOURCES})
         FILTER (WHERE named) AS resource_ids
FROM {RESOURCES} WHERE savings > 0 AND {{in_periods}} GROUP BY ALL
"""
"""Per microservice and best KPI: the resources, their savings and the ids of the five that
save most (ties: the later id first)."""

_DERIVED: dict[str, str] = {
    PARTIALS: _partials_select(),
    RESOURCE_TOTALS: TOTALS_SELECT,
    ACTIONS: ACTIONS_SELECT,
}
"""The small pre-aggregates summed from ``kpi_facts`` and ``kpi_resources``, per period."""


_EXPECTED: list[list[str]] = []


def _expected_columns(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The columns ``kpi_facts`` has in this costlens (bound once per process)."""
    if not _EXPECTED:
        sql = FACTS_SELECT.format(in_periods="FALSE", kpi_columns=kpi_columns())
        _EXPECTED.append([d[0] for d in con.execute(f"SELECT * FROM ({sql}) LIMIT 0").description])
    return _EXPECTED[0]


def _families(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {FAMILIES} AS SELECT * FROM"
        " read_csv($path, comment = '#', header = true, all_varchar = true)",
        {"path": str(FAMILIES_FILE)},
    )


def write_facts(con: duckdb.DuckDBPyConnection, periods: Sequence[dt.date] | None = None) -> None:
    """Re-write the KPI pre-aggregates of ``periods`` (None: all) from ``allocations`` and
    ``line_keys``, in the caller's transaction (``ensure_facts``'s). A table
    of another shape (an older costlens) is re-created whole."""
    _families(con)
    expected = _expected_columns(con)
    if has_table(con, FACTS) and _columns(con, FACTS) != expected:
        for table in (FACTS, RESOURCES, PERIOD_DAYS, *_DERIVED):
            con.execute(f"DROP TABLE IF EXISTS {table}")
        periods = None
    params = {} if periods is None else {"periods": list(periods)}
    where = _in_periods(periods)
    select = FACTS_SELECT.format(in_periods=where, kpi_columns=kpi_columns())
    if not has_table(con, FACTS):
        empty = FACTS_SELECT.format(in_periods="FALSE", kpi_columns=kpi_columns())
        con.execute(f"CREATE TABLE {FACTS} AS SELECT * FROM ({empty}) LIMIT 0")
    con.execute(_RESOURCES_DDL)
    con.execute(_PERIODS_DDL)
    for table in (FACTS, RESOURCES, PERIOD_DAYS):
        con.execute(f"DELETE FROM {table} WHERE {where}", params)
    con.execute(f"INSERT INTO {FACTS} {select}", params)
    con.execute(_resources_sql(periods), params)
    con.execute(_PERIODS_SQL.format(in_periods=where), params)
    for table, derived in _DERIVED.items():
        if not has_table(con, table):
            con.execute(f"CREATE TABLE {table} AS {derived.format(in_periods='FALSE')}")
        con.execute(f"DELETE FROM {table} WHERE {where}", params)
        con.execute(f"INSERT INTO {table} {derived.format(in_periods=where)}", params)


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [d[0] for d in con.execute(f"SELECT * FROM {table} LIMIT 0").description]


def mark_stale(con: duckdb.DuckDBPyConnection, periods: Sequence[dt.date] | None) -> None:
    """Mark the pre-aggregates of ``periods`` (None: all) stale, in the caller's transaction
    (``attribute`` re-wrote their allocations): ``ensure_facts`` rewrites them."""
    if has_table(con, PERIOD_DAYS):
        params = {} if periods is None else {"periods": list(periods)}
        con.execute(f"DELETE FROM {PERIOD_DAYS} WHERE {_in_periods(periods)}", params)


def ensure_facts(con: duckdb.DuckDBPyConnection) -> bool:
    """Make the pre-aggregates match ``allocations``, in one transaction: rewrite the periods
    ``attribute`` marked stale (or attributed before these tables existed), drop those no
    allocation has any more. False when the allocations carry no line keys (attributed by a
    costlens before them): no scorecards until ``costlens attribute`` runs again."""
    if not (has_column(con, "allocations", "line_key") and has_table(con, "line_keys")):
        return False
    tables = (FACTS, RESOURCES, PERIOD_DAYS, *_DERIVED)
    _families(con)  # the facts' query joins it (and so does binding it, for its columns)
    current = {r[0] for r in con.execute(_ALLOCATION_PERIODS).fetchall()}
    missing: list[dt.date] | None = None
    gone: list[dt.date] = []
    if all(has_table(con, t) for t in tables) and _columns(con, FACTS) == _expected_columns(con):
        fresh = {r[0] for r in con.execute(f"SELECT billing_period FROM {PERIOD_DAYS}").fetchall()}
        stored = {r[0] for r in con.execute(f"SELECT DISTINCT billing_period FROM {PARTIALS}")
                  .fetchall()}  # fmt: skip
        missing, gone = sorted(current - fresh), sorted(stored - current)
        if not missing and not gone:
            return True
    con.execute("BEGIN TRANSACTION")
    try:
        if gone:
            for table in tables:
                con.execute(f"DELETE FROM {table} WHERE {_in_periods(gone)}", {"periods": gone})
        if missing is None or missing:
            write_facts(con, missing)
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
    return True


_ALLOCATION_PERIODS = "SELECT DISTINCT billing_period FROM allocations"
