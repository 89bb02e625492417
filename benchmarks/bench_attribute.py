"""Benchmark: ``attribute`` on N line items with 200 rules and 3 split rules.

Measured in the same run, on the same DuckDB file:

- baseline: ``CREATE TABLE ... AS SELECT day, tags['app'], SUM(cost) ... GROUP BY 1, 2`` over all
  rows (target: attribute at most 3x its time);
- pandas: ``benchmarks/pandas_attribution.py`` on the first ``--pandas-rows`` line items (loaded
  into pandas before timing), compared per row with attribute's throughput on all rows
  (target: attribute at least 20x faster per row).

The line items are generated with their ``line_key`` computed in the insert and then registered
in ``line_keys`` (``costlens.line_keys.register_line_keys``), exactly as ``costlens ingest`` does at
load; that registration is timed and printed too, as ingest's share of the work.

Baseline and attribute are each run ``--repeat`` times, alternating, and the medians compared.

With ``--stages`` it also times, in the same run, the parts of attribute's one pass over
``line_items`` on their own: extracting the tags the rules read (no grouping), and the daily
aggregation per line key (``daily_sql``), the floor no rule evaluation, split or write goes below.

Usage: ``python benchmarks/bench_attribute.py [--rows 10000000] [--pandas-rows 200000]
[--repeat 3] [--keep DIR [--reuse]] [--stages]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pandas_attribution import attribute_pandas

from costlens.attribution import attribute, check_conservation, parse_owners, parse_rules
from costlens.attribution._sql import Bind, quote_ident
from costlens.attribution.compile import daily_sql
from costlens.attribution.rules import RuleSet
from costlens.line_keys import key_sql, key_unkeyed_lines, register_line_keys
from costlens.schema import LINE_ITEMS, create_table_sql

APPS, TEAMS, ACCOUNTS, HOURS = 200, 20, 10, 720

# Line items: `resources` resources, each with one line per hour for 30 days (one period).
# 8% untagged, 10% tagged with the legacy keys (owner/service, capitalized, trailing space).
GENERATE = """
INSERT INTO line_items
SELECT *, <key>, NULL AS source_lines FROM (
SELECT DATE '2024-03-01' AS billing_period,
  TIMESTAMP '2024-03-01' + INTERVAL (h) HOUR AS usage_start,
  TIMESTAMP '2024-03-01' + INTERVAL (h + 1) HOUR AS usage_end,
  '900000000000' AS payer_account_id,
  printf('%012d', 100 + r % $accounts) AS account_id,
  'acct-' || (r % $accounts) AS account_name,
  '' AS invoice_id,
  CASE WHEN r % 997 = 0 THEN 'Tax' ELSE 'Usage' END AS line_item_type,
  CASE WHEN r % 997 = 0 THEN 'Tax' ELSE 'Usage' END AS charge_category,
  ['AmazonEC2', 'AmazonS3', 'AmazonRDS', 'AWSLambda', 'AmazonDynamoDB', 'AmazonEKS',
   'AWSDataTransfer', 'AmazonCloudFront'][1 + r % 8] AS service_code,
  '' AS service_name,
  ['us-east-1', 'us-west-2', 'eu-west-1'][1 + r % 3] AS region,
  CASE WHEN r % 50 = 7 THEN 'USE1-NatGateway-Bytes' ELSE 'USE1-BoxUsage:m5.large' END AS usage_type,
  CASE WHEN r % 50 = 7 THEN 'NatGateway' ELSE 'RunInstances' END AS operation,
  CASE WHEN r % 40 = 3 THEN 'arn:aws:eks:us-east-1:1:cluster/shared-' || (r % 7)
       ELSE 'i-' || lpad(CAST(r AS VARCHAR), 10, '0') END AS resource_id,
  'm5.large' AS instance_type,
  '' AS volume_api_name, '' AS storage_class, '' AS database_engine, '' AS license_model,
  'Linux' AS operating_system, 'Intel Xeon Platinum 8175' AS physical_processor,
  '' AS commitment_discount_id, '' AS commitment_discount_type, '' AS commitment_offering_type,
  ['OnDemand', 'Spot', 'SavingsPlan'][1 + r % 3] AS purchase_option,
  1.0 AS usage_amount, 'Hrs' AS pricing_unit,
  CAST((r * 7919 + h * 104729) % 100000 AS DECIMAL(18,0)) * CAST(0.0000123457 AS DECIMAL(11,10))
    AS unblended_cost,
  CAST((r * 7919 + h * 104729) % 90000 AS DECIMAL(18,0)) * CAST(0.0000123457 AS DECIMAL(11,10))
    AS amortized_cost,
  CAST((r * 7919 + h * 104729) % 90000 AS DECIMAL(18,0)) * CAST(0.0000123457 AS DECIMAL(11,10))
    AS net_amortized_cost,
  CAST((r * 7919 + h * 104729) % 110000 AS DECIMAL(18,0)) * CAST(0.0000123457 AS DECIMAL(11,10))
    AS list_cost,
  CASE
    WHEN r % 100 < 8 THEN MAP {}
    WHEN r % 100 < 18
      THEN MAP {'service': 'svc-' || (r % $apps), 'owner': 'Team-' || (r % $teams) || ' '}
    WHEN r % 40 = 3 THEN MAP {'eks_cluster_name': 'shared-' || (r % 7), 'team': 'team-0'}
    ELSE MAP {'app': 'svc-' || (r % $apps), 'team': 'team-' || (r % $teams),
              'env': ['prod', 'staging', 'dev'][1 + r % 3], 'cost_center': 'cc-' || (r % 13)}
  END AS tags,
  'bench' AS delivery_id
FROM range($resources) a(r), range($hours) b(h)
)
"""

BASELINE_SELECT = """
SELECT CAST(usage_start AS DATE) AS day, tags['app'] AS app, SUM(unblended_cost) AS cost
FROM line_items GROUP BY 1, 2
"""
BASELINE = "CREATE OR REPLACE TABLE baseline AS" + BASELINE_SELECT


def owners_yaml() -> str:
    lines = ["owners:"]
    for t in range(TEAMS):
        lines += [f"  - id: team-{t}", f"    cost_center: CC-{t}", "    microservices:"]
        lines += [f"      - svc-{a}" for a in range(APPS) if a % TEAMS == t]
    return "\n".join(lines) + "\n"


def rules_yaml() -> str:
    """200 rules: 170 per-app rules, 10 account rules, 10 regex/glob rules, 10 tag rules."""
    rules = []
    for a in range(170):
        rules.append(f"  - {{name: app-{a}, match: {{tag: {{key: app | service,"
                     f" equals: svc-{a}}}}}, set: {{microservice: svc-{a}}}}}")  # fmt: skip
    for a in range(10):
        rules.append(f"  - {{name: res-{a}, match: {{resource: {{regex: '^i-0+{a}7[0-9]*$'}}}},"
                     f" set: {{microservice: svc-{170 + a}}}}}")  # fmt: skip
    for t in range(10):
        rules.append(f"  - {{name: team-{t}, match: {{tag: {{key: team | owner,"
                     f" glob: '*-{t}*', ignore_case: true}}}},"
                     f" set: {{owner: '{{tag:team | owner}}'}}}}")  # fmt: skip
    for acct in range(10):
        rules.append(f"  - {{name: acct-{acct}, match: {{all: [{{account_name: acct-{acct}}},"
                     f" {{not: {{service: AmazonS3}}}}]}}, set: {{owner: team-{acct},"
                     f" environment: '{{tag:env}}'}}}}")  # fmt: skip
    return (
        "dimensions: [environment, cost_center]\n"
        "defaults: {environment: unknown}\n"
        "rules:\n" + "\n".join(rules) + "\n"
        "shared:\n"
        "  - {name: eks, match: {tag: eks_cluster_name}, to: all, by: proportional}\n"
        "  - {name: nat, match: {operation: NatGateway}, to: [team-1, team-2, team-3], by: even}\n"
        "  - {name: tax, match: {line_item_type: Tax}, by: fixed,"
        " weights: {team-4: 3, team-5: 1.5}}\n"
    )


def time_stages(con: duckdb.DuckDBPyConnection, rules: RuleSet, baseline: float) -> None:
    """Print the tag extraction and the exact daily aggregation alone, as multiples of baseline."""
    bind = Bind()
    tags = ", ".join(f"COUNT(tags[{bind(k)}])" for k in sorted(rules.tag_keys()))
    stages = {
        f"extract {len(rules.tag_keys())} tags (no GROUP BY)": f"SELECT {tags} FROM line_items",
        "daily aggregation per line key (daily_sql)": daily_sql(bind, None),
    }
    con.execute("SET preserve_insertion_order = false")  # as attribute does
    for label, sql in stages.items():
        t = time.perf_counter()
        con.execute(f"CREATE OR REPLACE TEMP TABLE stage AS {sql}", bind.used(sql))
        took = time.perf_counter() - t
        print(f"  stage {label}: {took:.2f}s = {took / baseline:.2f}x baseline", flush=True)
    con.execute(f"DROP TABLE {quote_ident('stage')}")
    con.execute("SET preserve_insertion_order = true")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--pandas-rows", type=int, default=200_000)
    ap.add_argument("--keep", type=Path, help="Folder to keep the DuckDB file in.")
    ap.add_argument("--reuse", action="store_true", help="Reuse the line items kept in --keep.")
    ap.add_argument("--repeat", type=int, default=3, help="Runs of each; medians compared.")
    ap.add_argument("--stages", action="store_true", help="Also time attribute's scan alone.")
    args = ap.parse_args()
    resources = max(1, args.rows // HOURS)
    rows = resources * HOURS
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-attribute-"))
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "bench.duckdb"
    reuse = args.reuse and args.keep is not None and db.is_file()
    if not reuse:
        db.unlink(missing_ok=True)
    con = duckdb.connect(str(db))
    if reuse:
        con.execute("DROP TABLE IF EXISTS allocations")
        (rows,) = con.execute("SELECT COUNT(*) FROM line_items").fetchone() or (0,)
        print(f"reusing {rows:,} line items ({db})", flush=True)
        con.execute("ALTER TABLE line_items ADD COLUMN IF NOT EXISTS line_key UBIGINT")
        key_unkeyed_lines(con)  # files kept by an older version of this benchmark
    else:
        con.execute(create_table_sql("line_items", LINE_ITEMS))
        t = time.perf_counter()
        con.execute(GENERATE.replace("<key>", key_sql()), {"resources": resources, "hours": HOURS,
                    "apps": APPS, "teams": TEAMS, "accounts": ACCOUNTS})  # fmt: skip
        print(f"generated {rows:,} line items in {time.perf_counter() - t:.1f}s ({db})", flush=True)
        t = time.perf_counter()
        con.execute("BEGIN TRANSACTION")
        register_line_keys(con, "bench")
        con.execute("COMMIT")
        (keys,) = con.execute("SELECT count(*) FROM line_keys").fetchone() or (0,)
        print(f"ingest's share: registering {keys:,} line keys took"
              f" {time.perf_counter() - t:.2f}s", flush=True)  # fmt: skip
        con.execute("CHECKPOINT")
    owners = parse_owners(owners_yaml(), "bench-owners.yaml")
    rules = parse_rules(rules_yaml(), "bench-rules.yaml", owners)
    print(f"{len(rules.rules)} rules, {len(rules.splits)} split rules", flush=True)

    baselines, attributes = [], []
    for _ in range(args.repeat):
        t = time.perf_counter()
        con.execute(BASELINE)
        baselines.append(time.perf_counter() - t)
        t = time.perf_counter()
        result = attribute(con, rules)
        attributes.append(time.perf_counter() - t)
    baseline, attributed = statistics.median(baselines), statistics.median(attributes)
    check_conservation(con)
    left = result.unallocated_share("unblended_cost")
    runs = ", ".join(f"{b:.2f}/{a:.2f}" for b, a in zip(baselines, attributes, strict=True))
    print(f"runs (baseline/attribute, s): {runs}", flush=True)
    print(f"baseline GROUP BY day, tags['app']: {baseline:.2f}s (median)", flush=True)
    print(f"attribute: {attributed:.2f}s (median; {result.rows:,} allocation rows,"
          f" {left:.2%} unallocated, conservation exact) ="
          f" {attributed / baseline:.2f}x baseline (target <= 3x)")  # fmt: skip
    if args.stages:
        time_stages(con, rules, baseline)

    n = min(args.pandas_rows, rows)
    keys = sorted(rules.tag_keys())
    tag_cols = ", ".join(f"tags['{k}'] AS \"tag:{k}\"" for k in keys)
    frame = con.execute(
        "SELECT * EXCLUDE (tags), "
        + tag_cols
        + " FROM line_items ORDER BY usage_start, resource_id"
        f" LIMIT {n}"
    ).df()
    for c in ("unblended_cost", "amortized_cost", "net_amortized_cost", "list_cost"):
        frame[c] = frame[c].astype(float)
    t = time.perf_counter()
    out = attribute_pandas(frame, rules)
    pandas_s = time.perf_counter() - t
    per_row_pandas = pandas_s / n
    per_row_duck = attributed / rows
    print(f"pandas on {n:,} rows: {pandas_s:.2f}s ({len(out):,} rows out) ="
          f" {n / pandas_s:,.0f} rows/s; attribute: {rows / attributed:,.0f} rows/s;"
          f" attribute is {per_row_pandas / per_row_duck:.1f}x faster per row"
          " (target >= 20x)")  # fmt: skip
    con.close()
    if args.keep is None:
        db.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
