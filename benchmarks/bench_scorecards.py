"""Benchmark: ``compute_scorecards`` (every KPI) on N line items against a plain GROUP BY.

Target (issue #13 §6): computing all KPIs, ``costlens.scorecards.compute.compute_scorecards(con)``
(it reads the pre-aggregates the refresh wrote for the periods attribute changed,
``costlens.scorecards.facts``, timed on their own: every KPI's sums, the savings counting each
resource once, the cards and the actions), takes at most 2x
one plain DuckDB ``SELECT account_id, service_code, usage_type, billing_period,
SUM(unblended_cost) FROM line_items GROUP BY ALL`` over the same line items, measured in the
same run on the same connection. Both are run ``--repeat`` times, alternating; the medians are
compared (the best of each is printed too). The exit status is 1 when the target is missed.

The line items (one billing month, hourly ``usage_start``, ~N/20 resources with 20 lines each)
are written in DuckDB from ``range()`` with hash-based choices: EC2 instance hours (m4, m5,
m6i, m7g, c5a, c6g, r5, t3; Intel, AMD and Graviton processors; OnDemand, Spot and Savings Plan
covered; some Windows), EBS volumes (gp2 / gp3, GB-Mo) and snapshots, S3 storage (Standard and
Standard - Infrequent Access), RDS instances (five engines), Lambda (x86 and ARM), data transfer
without a resource and a little tax. Tags name ~50 microservices of 10 owners (8% untagged, 5%
tagged only with a team). They are keyed as ingest keys them (``key_sql`` in the insert, then
``register_line_keys``) and attributed once (``attribute``, timed and printed, not compared).

With ``--stages`` it also times, in the same run, the statements of ``compute_scorecards`` on
their own (the KPI sums, the totals, the actions).

Usage: ``python benchmarks/bench_scorecards.py [--rows 10000000] [--repeat 3]
[--keep DIR [--reuse]] [--stages]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from costlens.attribution import attribute, parse_owners, parse_rules
from costlens.line_keys import key_sql, register_line_keys
from costlens.schema import LINE_ITEMS, create_table_sql
from costlens.scorecards.compute import compute_scorecards
from costlens.scorecards.facts import FACTS, write_facts
from costlens.scorecards.sums import ACTIONS_SQL, DATED_SQL, TOTALS_SQL, kpi_sums_sql

SERVICES, OWNERS, ACCOUNTS, HOURS, LINES_PER_RESOURCE = 50, 10, 12, 720, 20
TARGET = 2.0

# r: the resource (r < $resources), j: its j-th line (j < 20). `k` picks the kind of resource,
# `v` a variant (instance type, volume type, engine, ...), `p` its purchase option.
GENERATE = """
INSERT INTO line_items BY NAME
SELECT *, <key> AS line_key FROM (
SELECT
  DATE '2024-03-01' AS billing_period,
  TIMESTAMP '2024-03-01' + INTERVAL (h) HOUR AS usage_start,
  TIMESTAMP '2024-03-01' + INTERVAL (h + 1) HOUR AS usage_end,
  '900000000000' AS payer_account_id,
  printf('%012d', 100 + r % $accounts) AS account_id,
  'acct-' || (r % $accounts) AS account_name,
  '' AS invoice_id,
  line_item_type,
  CASE WHEN line_item_type = 'Tax' THEN 'Tax' ELSE 'Usage' END AS charge_category,
  service_code,
  '' AS service_name,
  ['us-east-1', 'us-west-2', 'eu-west-1'][1 + r % 3] AS region,
  usage_type, operation, resource_id, instance_type, volume_api_name, storage_class,
  database_engine, license_model, operating_system, physical_processor,
  CASE WHEN p = 'SavingsPlan' THEN 'arn:aws:savingsplans::900000000000:savingsplan/sp-1'
       ELSE '' END AS commitment_discount_id,
  CASE WHEN p = 'SavingsPlan' THEN 'Savings Plan' ELSE '' END AS commitment_discount_type,
  CASE WHEN p = 'SavingsPlan' THEN 'ComputeSavingsPlans' ELSE '' END
    AS commitment_offering_type,
  p AS purchase_option,
  usage_amount, pricing_unit,
  CAST(CASE WHEN p = 'Spot' THEN list * 0.3 ELSE list END AS DECIMAL(18,10)) AS unblended_cost,
  CAST(CASE WHEN p = 'Spot' THEN list * 0.3 WHEN p = 'SavingsPlan' THEN list * 0.72
       ELSE list END AS DECIMAL(18,10)) AS amortized_cost,
  CAST(CASE WHEN p = 'Spot' THEN list * 0.3 WHEN p = 'SavingsPlan' THEN list * 0.70
       ELSE list END AS DECIMAL(18,10)) AS net_amortized_cost,
  CAST(list AS DECIMAL(18,10)) AS list_cost,
  CASE
    WHEN t < 8 THEN MAP {}
    WHEN t < 13 THEN MAP {'team': 'team-' || (r % $owners)}
    ELSE MAP {'app': 'svc-' || (r % $services), 'team': 'team-' || (r % $owners),
              'env': ['prod', 'staging', 'dev'][1 + r % 3]}
  END AS tags,
  'bench' AS delivery_id
FROM (
  SELECT *,
    CASE
      WHEN k = 'ec2' THEN
        CASE WHEN p = 'SavingsPlan' THEN 'SavingsPlanCoveredUsage' ELSE 'Usage' END
      WHEN k = 'tax' THEN 'Tax' ELSE 'Usage' END AS line_item_type,
    CASE k WHEN 'ec2' THEN 'AmazonEC2' WHEN 'ebs' THEN 'AmazonEC2' WHEN 'snap' THEN 'AmazonEC2'
      WHEN 's3' THEN 'AmazonS3' WHEN 'rds' THEN 'AmazonRDS' WHEN 'lambda' THEN 'AWSLambda'
      WHEN 'dt' THEN 'AWSDataTransfer' ELSE 'AmazonEC2' END AS service_code,
    CASE k
      WHEN 'ec2' THEN CASE WHEN p = 'Spot' THEN 'USE1-SpotUsage:' ELSE 'USE1-BoxUsage:' END
        || itype
      WHEN 'ebs' THEN 'USE1-EBS:VolumeUsage.' || vol
      WHEN 'snap' THEN 'USE1-EBS:SnapshotUsage'
      WHEN 's3' THEN CASE WHEN v % 3 = 0 THEN 'USE1-TimedStorage-SIA-ByteHrs'
                          ELSE 'USE1-TimedStorage-ByteHrs' END
      WHEN 'rds' THEN 'USE1-InstanceUsage:db.' || itype
      WHEN 'lambda' THEN CASE WHEN v % 4 = 0 THEN 'USE1-Lambda-GB-Second-ARM'
                              ELSE 'USE1-Lambda-GB-Second' END
      WHEN 'dt' THEN 'USE1-DataTransfer-Out-Bytes'
      ELSE 'USE1-BoxUsage:m5.large' END AS usage_type,
    CASE k
      WHEN 'ec2' THEN CASE WHEN windows THEN 'RunInstances:0002' ELSE 'RunInstances' END
      WHEN 'ebs' THEN 'CreateVolume-' || upper(vol[1]) || vol[2:]
      WHEN 'snap' THEN 'CreateSnapshot'
      WHEN 's3' THEN CASE WHEN v % 3 = 0 THEN 'StandardIAStorage' ELSE 'StandardStorage' END
      WHEN 'rds' THEN 'CreateDBInstance:' || ['0014', '0002', '0004', '0012', '0016'][1 + v % 5]
      WHEN 'lambda' THEN 'Invoke'
      WHEN 'dt' THEN 'RunInstances'
      ELSE '' END AS operation,
    CASE k
      WHEN 'ec2' THEN 'i-' || lpad(to_hex(r), 16, '0')
      WHEN 'ebs' THEN 'vol-' || lpad(to_hex(r), 16, '0')
      WHEN 'snap' THEN 'arn:aws:ec2:us-east-1:1:snapshot/snap-' || lpad(to_hex(r), 16, '0')
      WHEN 's3' THEN 'bucket-' || r
      WHEN 'rds' THEN 'arn:aws:rds:us-east-1:1:db:db-' || r
      WHEN 'lambda' THEN 'arn:aws:lambda:us-east-1:1:function:fn-' || r
      ELSE '' END AS resource_id,
    CASE k WHEN 'ec2' THEN itype WHEN 'rds' THEN 'db.' || itype ELSE '' END AS instance_type,
    CASE WHEN k = 'ebs' THEN vol ELSE '' END AS volume_api_name,
    CASE WHEN k = 's3' THEN CASE WHEN v % 3 = 0 THEN 'Standard - Infrequent Access'
                                 ELSE 'Standard' END ELSE '' END AS storage_class,
    CASE WHEN k = 'rds' THEN ['PostgreSQL', 'MySQL', 'Aurora PostgreSQL', 'Oracle',
                              'SQL Server'][1 + v % 5] ELSE '' END AS database_engine,
    CASE WHEN k = 'rds' THEN CASE WHEN v % 5 = 4 THEN 'License included'
                                  ELSE 'No license required' END ELSE '' END AS license_model,
    CASE WHEN k = 'ec2' THEN CASE WHEN windows THEN 'Windows' ELSE 'Linux' END ELSE '' END
      AS operating_system,
    CASE WHEN k IN ('ec2', 'rds') THEN CASE
      WHEN itype LIKE '%g.%' THEN ['AWS Graviton2', 'AWS Graviton3'][1 + v % 2]
      WHEN itype LIKE 'c5a%' THEN 'AMD EPYC 7R32'
      ELSE 'Intel Xeon Platinum 8175' END ELSE '' END AS physical_processor,
    CASE k WHEN 'ec2' THEN 1.0 WHEN 'rds' THEN 1.0
      WHEN 'ebs' THEN (20 + v % 1000) / 720.0 WHEN 'snap' THEN (5 + v % 200) / 720.0
      WHEN 's3' THEN (1 + v % 5000) / 720.0 WHEN 'lambda' THEN 3600.0 * (1 + v % 8)
      ELSE (1 + v % 100) / 10.0 END AS usage_amount,
    CASE k WHEN 'ec2' THEN 'Hrs' WHEN 'rds' THEN 'Hrs' WHEN 'ebs' THEN 'GB-Mo'
      WHEN 'snap' THEN 'GB-Mo' WHEN 's3' THEN 'GB-Mo' WHEN 'lambda' THEN 'Lambda-GB-Second'
      WHEN 'dt' THEN 'GB' ELSE '' END AS pricing_unit,
    -- instances and functions run for 20 consecutive hours; storage and databases have one
    -- line every 36 hours through the month
    CASE WHEN k IN ('ec2', 'lambda', 'dt', 'tax') THEN (v % (720 - 20)) + j
         ELSE j * 36 + v % 36 END AS h,
    CAST((hash(i) % 100000) AS DECIMAL(18,0)) * CAST(0.000005 AS DECIMAL(7,6))
      + CAST(0.01 AS DECIMAL(3,2)) AS list
  FROM (
    SELECT *,
      CASE WHEN k = 'ec2' THEN CASE WHEN v % 10 < 6 THEN 'OnDemand' WHEN v % 10 < 8 THEN 'Spot'
                                    ELSE 'SavingsPlan' END
           WHEN k = 'rds' THEN 'OnDemand' ELSE '' END AS p,
      k = 'ec2' AND v % 13 = 0 AS windows,
      ['m4.large', 'm5.xlarge', 'm5.large', 'm6i.large', 'm7g.large', 'c5a.xlarge',
       'c6g.large', 'r5.large', 't3.medium', 'r6g.xlarge'][1 + (v // 7) % 10] AS itype,
      CASE WHEN v % 5 < 3 THEN 'gp2' ELSE 'gp3' END AS vol
    FROM (
      SELECT i, r, j, v, t,
        CASE WHEN c < 50 THEN 'ec2' WHEN c < 65 THEN 'ebs' WHEN c < 70 THEN 'snap'
             WHEN c < 80 THEN 's3' WHEN c < 88 THEN 'rds' WHEN c < 95 THEN 'lambda'
             WHEN c < 99 THEN 'dt' ELSE 'tax' END AS k
      FROM (
        SELECT i, i % $resources AS r, i // $resources AS j,
               CAST(hash(i % $resources) % 1000000007 AS BIGINT) AS v,
               CAST(hash(i % $resources) % 100 AS BIGINT) AS c,
               CAST(hash(i % $resources + 7) % 100 AS BIGINT) AS t
        FROM range($rows) a(i)
      )
    )
  )
)
)
"""

BASELINE_SELECT = """
SELECT account_id, service_code, usage_type, billing_period, SUM(unblended_cost) AS cost
FROM line_items GROUP BY ALL
"""
BASELINE = "CREATE OR REPLACE TEMP TABLE baseline AS" + BASELINE_SELECT


def owners_yaml() -> str:
    lines = ["owners:"]
    for t in range(OWNERS):
        lines += [f"  - id: team-{t}", f"    cost_center: CC-{t}", "    microservices:"]
        lines += [f"      - svc-{a}" for a in range(SERVICES) if a % OWNERS == t]
    return "\n".join(lines) + "\n"


def rules_yaml() -> str:
    """One tag rule per microservice, a team-tag rule, two account rules, one split."""
    rules = [
        f"  - {{name: app-{a}, match: {{tag: {{key: app, equals: svc-{a}}}}},"
        f" set: {{microservice: svc-{a}}}}}"
        for a in range(SERVICES)
    ]
    rules.append("  - {name: team, match: {tag: team}, set: {owner: '{tag:team}'}}")
    rules += [
        f"  - {{name: acct-{n}, match: {{account_name: acct-{n}}}, set: {{owner: team-{n}}}}}"
        for n in (3, 7)
    ]
    return (
        "dimensions: [environment]\n"
        "defaults: {environment: unknown}\n"
        "rules:\n" + "\n".join(rules) + "\n"
        "shared:\n"
        "  - {name: data-transfer, match: {service: AWSDataTransfer}, to: all,"
        " by: proportional}\n"
    )


def _timed(con: duckdb.DuckDBPyConnection, sql: str) -> float:
    t = time.perf_counter()
    con.execute(sql)
    return time.perf_counter() - t


def stages(con: duckdb.DuckDBPyConnection, baseline: float) -> None:
    """Time the statements of ``compute_scorecards`` alone."""
    for label, sql, params in (
        ("DATED_SQL (the EBS snapshots' rows, dated by their first use)", DATED_SQL, {}),
        ("kpi_sums_sql() (every KPI of every scope)", kpi_sums_sql(), {}),
        ("TOTALS_SQL (savings counting each resource once)", TOTALS_SQL, {}),
        ("ACTIONS_SQL (the owners' actions)", ACTIONS_SQL, {"unallocated": "unallocated"}),
    ):
        t = time.perf_counter()
        con.execute(sql, params)
        took = time.perf_counter() - t
        print(f"  stage {label}: {took:.2f}s = {took / baseline:.2f}x baseline", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--keep", type=Path, help="Folder to keep the DuckDB file in.")
    ap.add_argument("--reuse", action="store_true", help="Reuse the data kept in --keep.")
    ap.add_argument("--repeat", type=int, default=3, help="Runs of each; medians compared.")
    ap.add_argument("--stages", action="store_true", help="Also time compute_scorecards' parts.")
    args = ap.parse_args()
    resources = max(1, args.rows // LINES_PER_RESOURCE)
    rows = resources * LINES_PER_RESOURCE
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-scorecards-"))
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "bench.duckdb"
    reuse = args.reuse and args.keep is not None and db.is_file()
    if not reuse:
        db.unlink(missing_ok=True)
    con = duckdb.connect(str(db))
    owners = parse_owners(owners_yaml(), "bench-owners.yaml")
    rules = parse_rules(rules_yaml(), "bench-rules.yaml", owners)
    if reuse:
        (rows,) = con.execute("SELECT COUNT(*) FROM line_items").fetchone() or (0,)
        print(f"reusing {rows:,} line items and their allocations ({db})", flush=True)
    else:
        con.execute(create_table_sql("line_items", LINE_ITEMS))
        t = time.perf_counter()
        params = {"rows": rows, "resources": resources, "accounts": ACCOUNTS,
                  "services": SERVICES, "owners": OWNERS}  # fmt: skip
        con.execute(GENERATE.replace("<key>", key_sql()), params)
        print(f"generated {rows:,} line items in {time.perf_counter() - t:.1f}s ({db})", flush=True)
        t = time.perf_counter()
        con.execute("BEGIN TRANSACTION")
        register_line_keys(con, "bench")
        con.execute("COMMIT")
        (keys,) = con.execute("SELECT count(*) FROM line_keys").fetchone() or (0,)
        print(f"registered {keys:,} line keys in {time.perf_counter() - t:.1f}s", flush=True)
        con.execute("CHECKPOINT")
        t = time.perf_counter()
        result = attribute(con, rules)
        left = result.unallocated_share("amortized_cost")
        print(f"attribute (once, not compared): {time.perf_counter() - t:.2f}s,"
              f" {result.rows:,} allocation rows, {left:.2%} unallocated", flush=True)  # fmt: skip
        con.execute("CHECKPOINT")
    # the pre-aggregates are written by the refresh for the periods attribute re-wrote
    # (costlens.scorecards.facts.ensure_facts), timed here on their own
    t = time.perf_counter()
    con.execute("BEGIN TRANSACTION")
    write_facts(con)
    con.execute("COMMIT")
    facts_seconds = time.perf_counter() - t
    print(f"pre-aggregates (kpi_facts and roll-ups, written by the refresh): {facts_seconds:.2f}s",
          flush=True)  # fmt: skip
    (resource_ids,) = con.execute(
        "SELECT count(DISTINCT resource_id) FROM line_keys WHERE resource_id <> ''"
    ).fetchone() or (0,)
    (allocations,) = con.execute("SELECT count(*) FROM allocations").fetchone() or (0,)
    print(f"{resource_ids:,} distinct resource ids, {allocations:,} allocation rows", flush=True)

    baselines, scorecards = [], []
    for _ in range(args.repeat):
        baselines.append(_timed(con, BASELINE))
        t = time.perf_counter()
        cards = compute_scorecards(con)
        scorecards.append(time.perf_counter() - t)
    (facts,) = con.execute(f"SELECT count(*) FROM {FACTS}").fetchone() or (0,)
    (groups,) = con.execute("SELECT count(*) FROM baseline").fetchone() or (0,)
    runs = ", ".join(f"{b:.2f}/{s:.2f}" for b, s in zip(baselines, scorecards, strict=True))
    baseline, scored = statistics.median(baselines), statistics.median(scorecards)
    ratio = scored / baseline
    print(f"runs (baseline/scorecards, s): {runs}", flush=True)
    print(f"baseline GROUP BY account, service, usage type, period over {rows:,} line items:"
          f" {baseline:.2f}s (median; best {min(baselines):.2f}s; {groups:,} groups)")  # fmt: skip
    print(f"compute_scorecards: {scored:.2f}s (median; best {min(scorecards):.2f}s;"
          f" {facts:,} facts rows from {allocations:,} allocation rows; {len(cards.kpis):,} KPI"
          f" rows, {len(cards.cards):,} cards, {len(cards.actions):,} actions)")  # fmt: skip
    print(f"ratio scorecards / baseline: {ratio:.2f}x (medians; best of each:"
          f" {min(scorecards) / min(baselines):.2f}x); target <= {TARGET:.1f}x:"
          f" {'met' if ratio <= TARGET else 'MISSED'}", flush=True)  # fmt: skip
    if args.stages:
        stages(con, baseline)
    con.close()
    if args.keep is None:
        db.unlink(missing_ok=True)
        (db.parent / (db.name + ".wal")).unlink(missing_ok=True)
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
