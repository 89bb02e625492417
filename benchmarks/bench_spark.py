"""The same attribution on DuckDB and on Spark local mode (issue #19 §6): both times, no target.

Generates one month of ``--rows`` distinct CUR 2.0 line items (``bench_scale.generate``: a
resource per 100 lines, 50 accounts, thousands of tag values), loads it with ``costlens ingest``
and attributes it with ``bench_attribute.py``'s 200 rules and 3 splits:

- DuckDB: ``attribute`` on the warehouse (``--repeat`` runs, median), against its own plain
  ``GROUP BY day, tags['app']`` of the same line items;
- Spark, local mode on this machine's cores (``costlens.engines.spark``): the same compiled
  rules in Spark SQL over ``line_items`` and ``line_keys`` read from Parquet, every allocation
  row computed (Spark's ``noop`` sink), against Spark's own plain ``GROUP BY`` of the same
  files. Handing the two tables to Spark (DuckDB's ``COPY ... TO`` Parquet) is timed apart: on
  a cluster the engine reads the export where it lies.

With ``--end-to-end``, also the whole of ``costlens attribute --engine spark EXPORT``
(``ingest.on_spark``: the export read, normalized and attributed on Spark, the daily lines and
allocations written home) into a second data folder, against ``costlens ingest`` + ``attribute``
on DuckDB (the ingest timed when this run did it).

The totals of both engines' allocations are compared per cost column, exactly; the script exits
1 when they differ. There is no time target: Spark's advantage is many machines, and on 2 cores
it pays for its JVM and its shuffles (see docs/scale.md).

    .venv/bin/python benchmarks/bench_spark.py --rows 10000000 --keep /tmp/spark10 --reuse
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_attribute import BASELINE, owners_yaml, rules_yaml
from bench_scale import EXPORT, generate

from costlens.attribution import attribute, parse_owners, parse_rules
from costlens.schema import COST_COLUMNS
from costlens.warehouse import open_warehouse

_SPARK_BASELINE = (
    "SELECT CAST(usage_start AS DATE) AS day, tags['app'] AS app, SUM(unblended_cost) AS cost "
    "FROM line_items GROUP BY 1, 2"
)
"""``bench_attribute.BASELINE`` in Spark SQL."""

_SUMS = ", ".join(f"SUM({c})" for c in COST_COLUMNS)


def ingest(root: Path, export: Path, reuse: bool) -> tuple[Path, float | None]:
    """``costlens ingest EXPORT`` into a new data folder (with the benchmark's rules) and its
    seconds; with ``reuse``, the warehouse already there (no seconds)."""
    data = root / "data"
    if reuse and (data / "warehouse.duckdb").is_file():
        return data, None
    (data / "warehouse.duckdb").unlink(missing_ok=True)
    data.mkdir(parents=True, exist_ok=True)
    (root / "rules.yaml").write_text(rules_yaml())
    (root / "owners.yaml").write_text(owners_yaml())
    env = {**os.environ, "COSTLENS_DATA_DIR": str(data), "PYTHONWARNINGS": "ignore"}
    env |= {
        "COSTLENS_RULES": str(root / "rules.yaml"),
        "COSTLENS_OWNERS": str(root / "owners.yaml"),
    }
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "costlens", "ingest", str(export)], env=env, check=True)
    return data, time.perf_counter() - started


def _timed(run: Any) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def on_duckdb(root: Path, data: Path, parquet: Path, repeat: int) -> dict[str, Any]:
    """DuckDB's attribution and baseline (medians), its totals, and the hand-over's seconds."""
    owners = parse_owners((root / "owners.yaml").read_text(), "owners.yaml")
    rules = parse_rules((root / "rules.yaml").read_text(), "rules.yaml", owners)
    baseline, attributed = [], []
    with open_warehouse(data) as wh:
        for _ in range(repeat):
            baseline.append(_timed(lambda: wh.con.execute(BASELINE)))
            attributed.append(_timed(lambda: attribute(wh.con, rules)))
        wh.con.execute("DROP TABLE IF EXISTS baseline")
        totals = wh.con.execute(f"SELECT {_SUMS} FROM allocations").fetchone()
        rows = wh.con.execute("SELECT count(*) FROM allocations").fetchone()
        parquet.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        for table in ("line_items", "line_keys"):
            path = parquet / f"{table}.parquet"
            wh.con.execute(f"COPY {table} TO '{path}' (FORMAT parquet)")
        handover = time.perf_counter() - started
    return {
        "rules": rules,
        "baseline": statistics.median(baseline),
        "attribute": statistics.median(attributed),
        "totals": tuple(Decimal(t) for t in totals or ()),
        "rows": int(rows[0]) if rows else 0,
        "handover": handover,
    }


def _compute(frame: Any) -> None:
    """Every row of ``frame`` computed and dropped (Spark's ``noop`` sink)."""
    frame.write.format("noop").mode("overwrite").save()


def on_spark(rules: Any, parquet: Path, repeat: int) -> dict[str, Any]:
    """Spark's attribution and baseline over the Parquet files (medians) and its totals."""
    from costlens.engines.spark import run_attribution, spark_session

    started = time.perf_counter()
    spark = spark_session()
    session_s = time.perf_counter() - started
    for table in ("line_items", "line_keys"):
        spark.read.parquet(str(parquet / f"{table}.parquet")).createOrReplaceTempView(table)
    baseline, attributed = [], []
    for _ in range(repeat):
        baseline.append(_timed(lambda: _compute(spark.sql(_SPARK_BASELINE))))
        attributed.append(_timed(lambda: _compute(run_attribution(spark, rules))))
    sums = run_attribution(spark, rules).selectExpr(
        *(f"SUM({c})" for c in COST_COLUMNS), "count(*)"
    )
    *totals, rows = sums.collect()[0]
    spark.stop()
    return {
        "session": session_s,
        "baseline": statistics.median(baseline),
        "attribute": statistics.median(attributed),
        "totals": tuple(Decimal(t) for t in totals),
        "rows": int(rows),
    }


def end_to_end(rules: Any, export: Path, root: Path) -> dict[str, Any]:
    """``attribute_on_spark`` of the export into ``root/spark-data``: its seconds (per step),
    the rows it brought home and its allocations' totals."""
    from costlens.config import Settings
    from costlens.engines.spark import spark_session
    from ingest.on_spark import attribute_on_spark

    data = root / "spark-data"
    (data / "warehouse.duckdb").unlink(missing_ok=True)
    started = time.perf_counter()
    spark = spark_session()
    run = attribute_on_spark(Settings(data_dir=data), rules, spark, str(export))
    seconds = time.perf_counter() - started
    spark.stop()
    with open_warehouse(data) as wh:
        totals = wh.con.execute(f"SELECT {_SUMS} FROM allocations").fetchone()
    return {
        "seconds": seconds,
        "steps": run.seconds,
        "lines": sum(d.lines for d in run.loaded),
        "home": sum(d.rows for d in run.loaded),
        "rows": run.rows,
        "totals": tuple(Decimal(t) for t in totals or ()),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000, help="line items of the month")
    ap.add_argument("--lines-per-resource", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=1, help="runs of each engine's work (median)")
    ap.add_argument("--keep", type=Path, help="work in this folder (kept) instead of a temporary")
    ap.add_argument(
        "--reuse", action="store_true", help="re-use the export and warehouse in --keep"
    )
    ap.add_argument("--jobs", type=int, default=2, help="processes writing the data files")
    ap.add_argument(
        "--end-to-end", action="store_true", help="also time `attribute --engine spark EXPORT`"
    )
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="costlens-spark-") as tmp:
        root = args.keep or Path(tmp)
        export = root / "exports"
        if not (args.reuse and (export / EXPORT / "metadata").is_dir()):
            generate(export, args.rows, args.lines_per_resource, args.jobs)
        data, ingest_s = ingest(root, export, args.reuse)
        duck = on_duckdb(root, data, root / "parquet", args.repeat)
        spark = on_spark(duck["rules"], root / "parquet", args.repeat)
        whole = end_to_end(duck["rules"], export, root) if args.end_to_end else None
    same = duck["totals"] == spark["totals"] and duck["rows"] == spark["rows"]
    if whole is not None:
        same = same and whole["totals"] == duck["totals"] and whole["rows"] == duck["rows"]
    print(f"\n{args.rows:,} distinct line items, 200 rules and 3 splits, {os.cpu_count()} cores\n")
    print("| engine | plain GROUP BY day, tags['app'] | attribution | ratio |")
    print("|---|---|---|---|")
    for name, r in (("DuckDB", duck), ("Spark local", spark)):
        ratio = r["attribute"] / r["baseline"]
        print(f"| {name} | {r['baseline']:.2f} s | {r['attribute']:.2f} s | {ratio:.2f}x |")
    print(f"\nSpark / DuckDB: attribution {spark['attribute'] / duck['attribute']:.2f}x, plain "
          f"GROUP BY {spark['baseline'] / duck['baseline']:.2f}x; Spark's session started in "
          f"{spark['session']:.1f} s; handing line_items and line_keys to it as Parquet "
          f"{duck['handover']:.1f} s (none on a cluster)")  # fmt: skip
    print(
        f"allocation rows {duck['rows']:,} (DuckDB) / {spark['rows']:,} (Spark); totals per "
        f"cost column {'identical' if same else 'DIFFERENT'}: "
        + ", ".join(f"{c} {t}" for c, t in zip(COST_COLUMNS, duck["totals"], strict=True))
    )
    if whole is not None:
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in whole["steps"].items())
        local = (
            f"DuckDB ingest {ingest_s:.1f} s + attribution {duck['attribute']:.1f} s"
            if ingest_s is not None
            else f"DuckDB attribution {duck['attribute']:.1f} s (ingest re-used, not timed)"
        )
        print(
            f"attribute --engine spark EXPORT: {whole['seconds']:.1f} s with the session ({steps})"
            f"; {local}; {whole['lines']:,} line items came home as {whole['home']:,} daily "
            f"rows ({whole['home'] / max(whole['lines'], 1):.1%}), {whole['rows']:,} allocation "
            f"rows, totals {'identical' if whole['totals'] == duck['totals'] else 'DIFFERENT'}"
        )
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
