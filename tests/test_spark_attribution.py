"""The compiled rules on a real Spark (PySpark, local mode): the same allocations as DuckDB.

The line items and line keys a DuckDB warehouse holds are written to Parquet and read by Spark
as the views ``line_items`` and ``line_keys``; the Spark dialect of the same compiled rules must
then give DuckDB's allocations row for row, money to the last of its 10 decimals (only
``usage_amount``, a DOUBLE summed in each engine's own order, is compared to 1e-12). The demo's
rules on a generated export run on Spark in ``test_spark_engine``, through ``attribute --engine
spark``.
"""

from __future__ import annotations

import math
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
from attribution_fixtures import EVERY_KIND_RULES, insert, line, owners
from helpers import assert_reconciles

from costlens.attribution import attribute, parse_rules
from costlens.attribution.globs import glob_problem, glob_regex
from costlens.errors import EngineError
from costlens.warehouse import open_warehouse

pyspark = pytest.importorskip(
    "pyspark", reason="PySpark is not installed (make test installs it: pip install '.[spark]')"
)
if shutil.which("java") is None:
    pytest.skip(
        "no java on PATH: Spark needs Java 17 (.ci/run installs it)", allow_module_level=True
    )

from costlens.engines.spark import drop_stages, run_attribution, spark_session  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _on_spark(spark: Any, con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    """DuckDB's ``line_items`` and ``line_keys`` as Spark's views of the same names."""
    folder.mkdir(parents=True, exist_ok=True)
    for table in ("line_items", "line_keys"):
        path = folder / f"{table}.parquet"
        con.execute(f"COPY {table} TO '{path}' (FORMAT parquet)")
        spark.read.parquet(str(path)).createOrReplaceTempView(table)


def _rows(names: list[str], rows: list[Any]) -> list[tuple[Any, ...]]:
    """Rows as comparable tuples (line keys as ints, usage left out), sorted."""
    usage, key = names.index("usage_amount"), names.index("line_key")
    out = []
    for row in rows:
        values = list(row)
        values[key] = int(values[key])
        del values[usage]
        out.append(tuple(values))
    return sorted(out, key=repr)


def _assert_same(spark: Any, con: duckdb.DuckDBPyConnection, rules: Any) -> int:
    """Spark's allocations of ``rules`` equal the ``allocations`` table DuckDB wrote."""
    duck = con.execute("SELECT * FROM allocations")
    names = [d[0] for d in duck.description]
    duck_rows = duck.fetchall()
    frame = run_attribution(spark, rules, rule_version=rules.version)
    assert frame.columns == names
    spark_rows = frame.collect()
    staged = {t.name for t in spark.catalog.listTables() if t.name.startswith("_costlens_")}
    drop_stages(spark)
    assert {f"_costlens_{n}" for n in ("daily", "matched", "decided", "resolved")} <= staged
    assert not {t.name for t in spark.catalog.listTables()} & staged
    assert len(spark_rows) == len(duck_rows)
    assert _rows(names, spark_rows) == _rows(names, duck_rows)
    # money to the last decimal; usage (a DOUBLE sum) to rounding
    usage = names.index("usage_amount")
    got = sum(r[usage] or 0.0 for r in spark_rows)
    want = sum(r[usage] or 0.0 for r in duck_rows)
    assert math.isclose(got, want, rel_tol=1e-12)
    money = names.index("amortized_cost")
    assert sum(r[money] for r in spark_rows) == sum(r[money] for r in duck_rows)
    return len(duck_rows)


def _every_kind_lines() -> list[dict[str, Any]]:
    lines = [
        line("r-app", "1.10", {"app": "Payments-API ", "env": "prod "}),
        line("r-alias", "2.20", {"service": "refund-svc", "team": "payments team"}),
        line("r-team", "4.40", {"team": "Payments-Team "}, region="eu-west-1"),
        line("r-ghost", "5.50", {"app": "ghost", "owner": "pay-ops"}, region="eu-west-2"),
        line("r-sandbox", "6.60", account="222", account_name="acme-sandbox"),
        line("arn:aws:eks:x:1:cluster/eks1", "100.0000000001"),
        line("r-support", "10", service="AWSSupportEnterprise"),
        line("r-credit", "-7.0000000003", lit="Credit", cat="Credit", operation="Credit"),
        line("r-transfer", "3", service="AWSDataTransfer", region="eu-central-1"),
        line("r-unicode", "0.0000000007", {"app": "cart", "env": "PROD "}, day=3),
        line("r-quote", "0.33", {"app": "it's", "team": "o'brien \\"}, day=4),
    ]
    rng = random.Random(11)  # more days and keys so splits see many rows and remainders
    for i in range(300):
        tags = rng.choice([{"app": "cart"}, {"service": "payments-api"}, {}, {"team": "pay"}])
        lines.append(
            line(f"r-{i % 37}", f"{rng.randint(-50, 5000)}.{rng.randint(0, 9_999_999_999):010d}",
                 tags, day=1 + i % 28, region=rng.choice(["us-east-1", "eu-west-1"]))
        )  # fmt: skip
    return lines


def test_every_rule_kind_and_split_gives_duckdbs_allocations_on_spark(
    spark: Any, data_dir: Path, tmp_path: Path
) -> None:
    rules = parse_rules(EVERY_KIND_RULES, "rules.yaml", owners())
    with open_warehouse(data_dir) as wh:
        insert(wh.con, _every_kind_lines())
        attribute(wh, rules)
        assert_reconciles(wh.con, "allocations")
        kinds = wh.con.execute(
            "SELECT DISTINCT rule FROM allocations WHERE allocation = 'shared' ORDER BY 1"
        ).fetchall()
        assert kinds == [("credits",), ("eks",), ("nobody-spends",), ("support",)]
        quoted = wh.con.execute(
            "SELECT environment FROM allocations WHERE resource_id = 'r-team'"
        ).fetchall()
        assert quoted == [("it's \\ amazonec2",)]  # a value with a quote and a backslash
        _on_spark(spark, wh.con, tmp_path / "spark")
        _assert_same(spark, wh.con, rules)


def test_globs_become_regexes_spark_agrees_with(spark: Any) -> None:
    # DuckDB's GLOB verdicts against Spark's RLIKE of glob_regex, on patterns and values drawn
    # from the characters that mean something in either language.
    rng = random.Random(3)
    alphabet = list("ab-]![\\*?^.$é\n(")
    pairs = []
    while len(pairs) < 3000:
        pattern = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
        if glob_problem(pattern) is None:
            value = "".join(rng.choice(list("ab-]!é.\n^(")) for _ in range(rng.randint(0, 4)))
            pairs.append((pattern, value, glob_regex(pattern)))
    con = duckdb.connect()
    want = [con.execute("SELECT $1 GLOB $2", [v, p]).fetchone()[0] for p, v, _ in pairs]  # type: ignore[index]
    frame = spark.createDataFrame(
        [(i, v, r) for i, (_, v, r) in enumerate(pairs)], "i INT, v STRING, r STRING"
    )
    got = dict(frame.selectExpr("i", "v RLIKE r AS m").collect())
    assert [got[i] for i in range(len(pairs))] == want
    assert 0 < sum(want) < len(want)


def test_no_spark_connect_beside_a_local_session(spark: Any) -> None:
    # PySpark refuses a remote session in a process running a local one: one line saying so
    with pytest.raises(EngineError, match="already runs a local Spark session"):
        spark_session("sc://127.0.0.1:15002")


def test_pyspark_missing_is_an_engine_error_naming_the_fix() -> None:
    code = (
        "import sys; sys.modules['pyspark'] = None\n"
        "from costlens.engines.spark import spark_session\n"
        "spark_session()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, cwd=ROOT
    )
    assert proc.returncode != 0
    assert "PySpark is not installed" in proc.stderr
    assert "costlens[spark]" in proc.stderr
