# ruff: noqa: S608  (SQL from fixed names; values are bound)
"""The one pre-aggregate every KPI reads: ``kpi_facts``, per billing period and resource.

``allocations`` carry each row's ``line_key``; joined to ``line_keys`` they give the product
attributes of ``line_items`` (volume type, engine, processor, commitment, ...) per owner and
microservice without reading a line item again. ``FACTS_SQL`` sums them per billing period,
owner, microservice, account, resource, usage type and attributes, adds the instance family's
generation and processor (``data/instance_families.csv``, AWS CID's mapping table) and the
flags of AWS's KPI views (``EC2 usage``, ``Flexible`` purchase, ...), and the three cost bases
those views use:

- ``amortized``: the amortized cost (RI and Savings Plan fees spread to usage);
- ``adjusted``: the on-demand equivalent (CID's ``adjusted_amortized_cost``): the public
  on-demand cost of Spot usage and of usage an RI or Savings Plan covered, else amortized;
- ``unblended``: the invoiced cost (the EBS, snapshot and S3 views use it).

Every KPI is then a few sums over this table (``costlens.scorecards.compute``), one pass for
all of them; shared-cost splits carry their source line's key, so a split EC2 fleet keeps its
instance family in every owner's share.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

__all__ = ["FACTS", "FACTS_SQL", "FAMILIES", "FAMILIES_FILE", "OPEN_SOURCE_ENGINES", "create_facts"]

FACTS = "_kpi_facts"
"""The temporary table ``create_facts`` writes."""
FAMILIES = "_kpi_families"
FAMILIES_FILE = Path(__file__).with_name("data") / "instance_families.csv"
"""AWS CID's instance-family table (its source and date are in its header)."""

OPEN_SOURCE_ENGINES = ("Aurora MySQL", "Aurora PostgreSQL", "MariaDB", "PostgreSQL", "MySQL")
"""RDS engines CID counts as open source (and as Graviton candidates)."""


_TEXT = ", ".join(
    f"COALESCE(k.{c}, '') AS {c}"
    for c in (
        "operation", "instance_type", "pricing_unit", "volume_api_name", "storage_class",
        "database_engine", "license_model", "operating_system", "physical_processor",
        "commitment_discount_type", "commitment_offering_type",
    )
)  # fmt: skip
"""The line keys' text columns the KPIs read, '' where a line written by other means has NULL."""
_OSS = ", ".join(f"'{e}'" for e in OPEN_SOURCE_ENGINES)

FACTS_SQL = f"""
CREATE OR REPLACE TEMP TABLE {FACTS} AS
WITH sums AS (
  SELECT a.billing_period, a.owner, a.microservice, a.account_id, a.payer_account_id,
         a.service_code, a.region, a.resource_id, a.usage_type, a.line_item_type,
         a.purchase_option, a.basis, {_TEXT},
         CAST(SUM(a.amortized_cost) AS DECIMAL(38,10)) AS amortized,
         CAST(SUM(a.unblended_cost) AS DECIMAL(38,10)) AS unblended,
         CAST(SUM(a.list_cost) AS DECIMAL(38,10)) AS list_cost,
         CAST(SUM(CASE
           WHEN a.usage_type LIKE '%Spot%' AND a.list_cost > 0 THEN a.list_cost
           WHEN a.line_item_type IN ('SavingsPlanCoveredUsage', 'DiscountedUsage')
             THEN a.list_cost
           ELSE a.amortized_cost END) AS DECIMAL(38,10)) AS adjusted,
         SUM(a.usage_amount) AS usage,
         MIN(a.usage_date) AS first_date
  FROM allocations a JOIN line_keys k USING (line_key)
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
)
SELECT *,
  -- CID keeps a Graviton target only where the workload can move: not Windows on EC2, an
  -- open-source engine on RDS, any OpenSearch or ElastiCache node
  CASE WHEN (service_code = 'AmazonEC2' AND NOT windows) OR (service_code = 'AmazonRDS'
    AND oss_engine) OR service_code IN ('AmazonES', 'AmazonElastiCache')
    THEN family_graviton ELSE '' END AS latest_graviton,
  -- the first usage of an EBS snapshot anywhere in the data (CID dates snapshots so)
  MIN(first_date) FILTER (WHERE usage_type LIKE '%EBS:Snapshot%'
    AND usage_type NOT LIKE '%EBS:SnapshotArchive%')
    OVER (PARTITION BY resource_id) AS snapshot_first_seen
FROM flagged
"""
"""``kpi_facts`` from the warehouse's ``allocations`` and ``line_keys`` (every period)."""


def create_facts(con: duckdb.DuckDBPyConnection) -> None:
    """Write the temporary ``kpi_facts`` (and the family table it joins) on ``con``."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {FAMILIES} AS SELECT * FROM"
        " read_csv($path, comment = '#', header = true, all_varchar = true)",
        {"path": str(FAMILIES_FILE)},
    )
    con.execute(FACTS_SQL)
