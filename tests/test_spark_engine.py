"""``costlens attribute --engine spark SOURCE`` on a real Spark (PySpark, local mode).

The same generated export is loaded twice: by ``costlens sync``'s path (DuckDB ingest, then
attribution) into one data folder, and read, normalized and attributed on Spark into another.
The two warehouses must hold the same allocations row for row (line keys included; money to the
last decimal, ``usage_amount`` to 1e-12), the same ledger and line keys, and after a refresh the
same finance tables and scorecards. Bad input fails in one error and leaves the warehouse as it
was.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pytest
import sqlglot
from app_snapshot import generate_sample
from attribution_fixtures import EVERY_KIND_RULES, owners
from helpers import free_port
from moto.server import ThreadedMotoServer
from sqlglot import exp

from costlens.attribution import attribute, load_owners, load_rules, parse_rules
from costlens.attribution.rules import RuleSet
from costlens.config import AnomalySettings, Settings, SourceSettings
from costlens.errors import CostlensError
from costlens.refresh.build import refresh
from costlens.warehouse import open_warehouse
from ingest import ingest
from ingest.athena import attribution_over_table, create_view_sql

pytest.importorskip(
    "pyspark", reason="PySpark is not installed (make test installs it: pip install '.[spark]')"
)
if shutil.which("java") is None:
    pytest.skip(
        "no java on PATH: Spark needs Java 17 (.ci/run installs it)", allow_module_level=True
    )

from ingest.formats import FORMATS
from ingest.formats.detect import describe_columns, detect_format
from ingest.on_spark import attribute_on_spark, spark_columns

ROOT = Path(__file__).resolve().parents[1]
DEMO_RULES = ROOT / "data" / "rules.yaml"
DEMO_OWNERS = ROOT / "data" / "owners.yaml"

SAME_AFTER_REFRESH = (
    "finance_ledger",
    "finance_allocated",
    "finance_shared",
    "finance_splits",
    "finance_unallocated",
    "finance_owners",
    "scorecards",
    "scorecard_kpis",
    "scorecard_resources",
    "scorecard_actions",
    "rollup_monthly",
)
"""Snapshot tables the finance export and the scorecards read (``usage_amount`` left out)."""


def _sample(out: Path, fmt: str) -> Path:
    return generate_sample(
        out, "--format", fmt, "--months", "1", "--seed", "7", "--scale", "0.01",
        "--end-month", "2025-03",
    )  # fmt: skip


def _local(data_dir: Path, exports: Path, rules: RuleSet) -> Settings:
    """What ``costlens sync`` does before its refresh: ingest, then attribute, on DuckDB."""
    settings = Settings(data_dir=data_dir)
    ingest(settings, str(exports))
    with open_warehouse(data_dir) as wh:
        attribute(wh, rules)
    return settings


def _columns(con: duckdb.DuckDBPyConnection, table: str, schema: str) -> str:
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND "
        "table_name = ? AND column_name NOT IN ('usage_amount', 'ingested_at', 'engine') "
        "ORDER BY ordinal_position",
        [schema, table],
    ).fetchall()
    return ", ".join(f'"{r[0]}"' for r in rows)


def _differences(con: duckdb.DuckDBPyConnection, table: str, schema: str = "main") -> int:
    """Rows of ``table`` in one database (``main``/``spark``) and not the other, both ways."""
    cols = _columns(con, table, schema)
    prefix = "" if schema == "main" else "serving."
    sql = (
        f"SELECT (SELECT count(*) FROM (SELECT {cols} FROM {prefix}{table} EXCEPT ALL "
        f"SELECT {cols} FROM other.{table})) + (SELECT count(*) FROM (SELECT {cols} FROM "
        f"other.{table} EXCEPT ALL SELECT {cols} FROM {prefix}{table}))"
    )
    row = con.execute(sql).fetchone()
    assert row is not None
    return int(row[0])


def _assert_same_warehouses(local: Path, on_spark: Path) -> int:
    with duckdb.connect(str(local / "warehouse.duckdb"), read_only=True) as con:
        con.execute(f"ATTACH '{on_spark / 'warehouse.duckdb'}' AS other (READ_ONLY)")
        for table in ("allocations", "line_keys", "deliveries", "tag_keys"):
            assert _differences(con, table) == 0, table
        usage = [
            con.execute(f"SELECT SUM(usage_amount) FROM {t}allocations").fetchone()[0]  # type: ignore[index]
            for t in ("", "other.")
        ]
        assert math.isclose(usage[0], usage[1], rel_tol=1e-12)
        engines = con.execute("SELECT DISTINCT engine FROM other.deliveries").fetchall()
        assert engines == [("spark",)]
        # the daily lines sum the export's lines: same money and line count per delivery
        lines = (
            "SELECT delivery_id, SUM(COALESCE(source_lines, 1)), SUM(unblended_cost), "
            "SUM(amortized_cost), SUM(net_amortized_cost), SUM(list_cost) FROM {}line_items "
            "GROUP BY 1 ORDER BY 1"
        )
        assert (
            con.execute(lines.format("")).fetchall()
            == con.execute(lines.format("other.")).fetchall()
        )
        fewer = con.execute(
            "SELECT (SELECT count(*) FROM other.line_items) < (SELECT count(*) FROM line_items)"
        ).fetchone()
        assert fewer == (True,)  # one row per day and description came home
        row = con.execute("SELECT count(*) FROM allocations").fetchone()
    assert row is not None
    return int(row[0])


def _assert_same_snapshots(local: Settings, on_spark: Settings) -> None:
    for settings in (local, on_spark):
        with open_warehouse(settings.data_dir) as wh:
            refresh(wh, settings, full=True)
    with duckdb.connect(str(local.serving_path), read_only=True) as con:
        con.execute(f"ATTACH '{on_spark.serving_path}' AS other (READ_ONLY)")
        for table in SAME_AFTER_REFRESH:
            assert _differences(con, table) == 0, table
        kpis = con.execute("SELECT count(*) FROM scorecard_kpis").fetchone()
        assert kpis is not None and kpis[0] > 0


def test_a_cur2_export_attributed_on_spark_is_what_sync_gives(spark: Any, tmp_path: Path) -> None:
    exports = _sample(tmp_path / "exports", "cur2")
    rules = load_rules(DEMO_RULES, load_owners(DEMO_OWNERS))
    local = _local(tmp_path / "local", exports, rules)
    on_spark = Settings(data_dir=tmp_path / "spark")
    run = attribute_on_spark(on_spark, rules, spark, str(exports))
    assert [(d.period.isoformat(), d.status) for d in run.loaded] == [("2025-03-01", "new")]
    assert run.loaded[0].lines > run.loaded[0].rows > 0
    rows = _assert_same_warehouses(local.data_dir, on_spark.data_dir)
    assert rows == run.rows > 1000
    _assert_same_snapshots(local, on_spark)


@pytest.fixture(scope="module")
def legacy(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, RuleSet, Path]:
    """A legacy Parquet month attributed on Spark with every rule kind, and that export."""
    root = tmp_path_factory.mktemp("legacy")
    exports = _sample(root / "exports", "cur1-parquet")
    rules = parse_rules(EVERY_KIND_RULES, "rules.yaml", owners())
    settings = Settings(data_dir=root / "data")
    attribute_on_spark(settings, rules, spark, str(exports))
    return settings, rules, exports


def test_legacy_parquet_with_every_rule_kind_on_spark_is_what_sync_gives(
    spark: Any, legacy: tuple[Settings, RuleSet, Path], tmp_path: Path
) -> None:
    on_spark, rules, exports = legacy
    local = _local(tmp_path / "local", exports, rules)
    _assert_same_warehouses(local.data_dir, on_spark.data_dir)
    with duckdb.connect(str(on_spark.warehouse_path), read_only=True) as con:
        shared = con.execute(
            "SELECT DISTINCT rule FROM allocations WHERE allocation = 'shared' ORDER BY 1"
        ).fetchall()
    assert [r[0] for r in shared] == ["credits", "nobody-spends", "support"]  # splits on Spark


@pytest.fixture()
def loaded(
    legacy: tuple[Settings, RuleSet, Path], tmp_path: Path
) -> tuple[Settings, RuleSet, Path]:
    """A copy of ``legacy``'s warehouse and export, to break."""
    settings, rules, exports = legacy
    data, copied = tmp_path / "data", tmp_path / "exports"
    shutil.copytree(settings.data_dir, data, ignore=shutil.ignore_patterns("*.lock"))
    shutil.copytree(exports, copied)
    return Settings(data_dir=data), rules, copied


def test_a_second_run_replaces_the_delivery_and_counts_nothing_twice(
    spark: Any, legacy: tuple[Settings, RuleSet, Path], loaded: tuple[Settings, RuleSet, Path]
) -> None:
    settings, rules, _ = loaded
    exports = legacy[2]  # the source it was loaded from (a copy would be another source)
    before = _fingerprint(settings.data_dir, without=("deliveries",))
    again = attribute_on_spark(settings, rules, spark, str(exports))
    assert [d.status for d in again.loaded] == ["replaced"]
    assert _fingerprint(settings.data_dir, without=("deliveries",)) == before
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        ledger = con.execute("SELECT status, engine FROM deliveries").fetchall()
    assert ledger == [("current", "spark")]  # the same delivery id: recorded once


def _fingerprint(data_dir: Path, without: tuple[str, ...] = ()) -> list[Any]:
    """Every table of the warehouse (but ``without``), row for row."""
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        tables = [r[0] for r in con.execute("SHOW TABLES").fetchall() if r[0] not in without]
        rows = {t: con.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables}
    return [(t, sorted(map(repr, r))) for t, r in rows.items()]


def test_the_athena_view_parses_and_its_spark_twin_gives_the_allocations(
    spark: Any, legacy: tuple[Settings, RuleSet, Path]
) -> None:
    settings, rules, exports = legacy
    sql = create_view_sql(exports, "cid_cur.cur", "costlens_allocations", rules)
    tree = sqlglot.parse_one(sql, read="trino")
    assert isinstance(tree, exp.Create) and tree.find(exp.Placeholder) is None
    assert "FROM cid_cur.cur" in sql and "MAP_FROM_ENTRIES(" in sql
    twin = attribution_over_table(exports, "cur", rules, "spark")
    files = [str(p) for p in exports.rglob("*.parquet") if "status" not in p.parent.name]
    spark.read.option("mergeSchema", "true").parquet(*files).createOrReplaceTempView("cur")
    rows = spark.sql(twin.sql, args=twin.params).toArrow()
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        con.register("twin", rows)
        names = [r[0] for r in con.execute("DESCRIBE allocations").fetchall()]
        cols = ", ".join(c for c in names if c not in ("line_key", "usage_amount"))
        differ = con.execute(
            f"SELECT (SELECT count(*) FROM (SELECT {cols} FROM allocations EXCEPT ALL "
            f"SELECT {cols} FROM twin)) + (SELECT count(*) FROM (SELECT {cols} FROM twin "
            f"EXCEPT ALL SELECT {cols} FROM allocations))"
        ).fetchone()
    assert rows.num_rows > 1000 and differ == (0,)


def _rewrite(exports: Path, select: str) -> Path:
    """Replace the export's one data file by ``select`` over it (``{data}``); returns it."""
    (data,) = [p for p in exports.rglob("*.parquet") if "status" not in p.parts[-2]]
    with duckdb.connect() as con:
        sql = select.format(data=f"read_parquet('{data}')")
        con.execute(f"COPY ({sql}) TO '{data}.new' (FORMAT parquet)")
    os.replace(f"{data}.new", data)
    return data


def test_a_cost_that_is_not_a_number_is_one_error_and_changes_nothing(
    spark: Any, loaded: tuple[Settings, RuleSet, Path]
) -> None:
    settings, rules, exports = loaded
    before = _fingerprint(settings.data_dir)
    data = _rewrite(
        exports,
        "SELECT * REPLACE (CASE WHEN row_number() OVER () = 5 THEN 'twelve' ELSE "
        "CAST(line_item_unblended_cost AS VARCHAR) END AS line_item_unblended_cost) FROM {data}",
    )
    with pytest.raises(CostlensError) as caught:
        attribute_on_spark(settings, rules, spark, str(exports))
    err = caught.value
    assert "line_item_unblended_cost" in str(err.where)
    assert data.name in str(err.where)
    assert "'twelve'" in err.message and "row 5" in str(err.where)
    assert _fingerprint(settings.data_dir) == before


def test_a_missing_column_is_one_error_and_changes_nothing(
    spark: Any, loaded: tuple[Settings, RuleSet, Path]
) -> None:
    settings, rules, exports = loaded
    before = _fingerprint(settings.data_dir)
    data = _rewrite(exports, "SELECT * EXCLUDE (line_item_usage_start_date) FROM {data}")
    with pytest.raises(CostlensError) as caught:
        attribute_on_spark(settings, rules, spark, str(exports))
    assert "'line_item_usage_start_date' is missing" in caught.value.message
    assert data.name in str(caught.value.where)
    assert _fingerprint(settings.data_dir) == before


def test_an_s3_source_is_listed_here_and_left_to_the_clusters_connector(
    spark: Any,
    loaded: tuple[Settings, RuleSet, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """This machine lists the bucket and reads the manifests (moto on loopback); the files are
    the cluster's to read through its S3 connector, which this machine's Spark lacks (no Maven
    here): one error naming the file and the fix, nothing written."""
    settings, rules, exports = loaded
    before = _fingerprint(settings.data_dir)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        for name, value in (
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
        ):
            monkeypatch.setenv(name, value)  # fmt: skip
        s3 = boto3.client("s3", endpoint_url=f"http://{host}:{port}", region_name="us-east-1")
        s3.create_bucket(Bucket="billing")
        for path in sorted(p for p in exports.rglob("*") if p.is_file()):
            key = f"cur/{path.relative_to(exports).as_posix()}"
            s3.put_object(Bucket="billing", Key=key, Body=path.read_bytes())
        source = SourceSettings(name="payer", kind="s3", bucket="billing", prefix="cur")
        on_s3 = Settings(data_dir=settings.data_dir, sources=[source])
        with pytest.raises(CostlensError) as caught:
            attribute_on_spark(on_s3, rules, spark, s3_client=s3)
    finally:
        server.stop()
    err = caught.value
    assert str(err.where).startswith("s3://billing/cur/costlens-cur1-parquet/2025")
    assert str(err.where).endswith(".snappy.parquet")
    assert err.message == (
        "Spark cannot read the file: Class org.apache.hadoop.fs.s3a.S3AFileSystem not found"
    )
    assert "hadoop-aws" in str(err.fix)
    assert _fingerprint(settings.data_dir) == before


def test_a_period_the_export_lacks_reads_no_file_and_changes_nothing(
    spark: Any, loaded: tuple[Settings, RuleSet, Path]
) -> None:
    settings, rules, exports = loaded
    before = _fingerprint(settings.data_dir)
    data = _rewrite(exports, "SELECT * EXCLUDE (line_item_usage_start_date) FROM {data}")
    with pytest.raises(CostlensError) as caught:  # the broken March file is never read
        attribute_on_spark(settings, rules, spark, str(exports), periods=[date(2025, 2, 1)])
    assert caught.value.message == "no delivery to attribute"
    assert "of the --period months" in str(caught.value.fix)
    assert data.is_file() and _fingerprint(settings.data_dir) == before


def test_spark_reads_the_columns_duckdb_reads(spark: Any, legacy: Any, tmp_path: Path) -> None:
    """On S3 the columns come from Spark's schema: the same normalization SQL as from DuckDB's."""
    exports = [legacy[2], _sample(tmp_path / "cur2", "cur2")]
    for path in (p for e in exports for p in e.rglob("*.parquet") if "status" not in str(p)):
        with duckdb.connect() as con:
            duck = describe_columns(con, path, "parquet", str(path))
        from_spark = spark_columns(spark.read.parquet(str(path)).schema)
        fmt = detect_format(duck, path)
        assert fmt == detect_format(from_spark, path)
        assert FORMATS[fmt].build_sql(from_spark, "parquet") == FORMATS[fmt].build_sql(
            duck, "parquet"
        )


def test_the_hourly_grain_is_refused_before_anything_runs(spark: Any, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", anomalies=AnomalySettings(grain="hour"))
    rules = parse_rules(EVERY_KIND_RULES, "rules.yaml", owners())
    with pytest.raises(CostlensError, match="grain"):
        attribute_on_spark(settings, rules, spark, str(tmp_path))
    assert not (tmp_path / "data" / "warehouse.duckdb").exists()


def _cli(args: list[str], env: dict[str, str], *, block_pyspark: bool = False) -> Any:
    prelude = "import sys; sys.modules['pyspark'] = None; " if block_pyspark else ""
    code = prelude + "import runpy; runpy.run_module('costlens', run_name='__main__')"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )


def test_a_bad_spark_remote_or_no_pyspark_is_one_error_line_and_changes_nothing(
    loaded: tuple[Settings, RuleSet, Path],
) -> None:
    settings, _, exports = loaded
    before = _fingerprint(settings.data_dir)
    port = free_port()
    env = {
        "COSTLENS_DATA_DIR": str(settings.data_dir),
        "COSTLENS_RULES": str(DEMO_RULES),
        "COSTLENS_OWNERS": str(DEMO_OWNERS),
        "COSTLENS_ENGINE__SPARK_REMOTE": f"sc://127.0.0.1:{port}",
    }
    proc = _cli(["attribute", "--engine", "spark", str(exports)], env)
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert f"cannot reach Spark Connect at 127.0.0.1:{port}" in line
    env.pop("COSTLENS_ENGINE__SPARK_REMOTE")
    proc = _cli(["attribute", "--engine", "spark", str(exports)], env, block_pyspark=True)
    assert proc.returncode == 1
    (line,) = proc.stderr.strip().splitlines()
    assert "PySpark is not installed" in line and "costlens[spark]" in line
    proc = _cli(["attribute", "--engine", "flink"], env)
    assert proc.returncode == 1 and "unknown engine 'flink'" in proc.stderr
    proc = _cli(["attribute", str(exports)], env)
    assert proc.returncode == 1 and "SOURCE is for --engine spark" in proc.stderr
    assert _fingerprint(settings.data_dir) == before
