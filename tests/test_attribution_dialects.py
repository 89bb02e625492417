"""The compiled rules in Spark SQL and Athena: globs as regexes, parsing, literals, the CLI.

Running the Spark dialect on a real Spark is ``test_spark_attribution``; these tests need none.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest
import sqlglot
from app_snapshot import generate_sample
from attribution_fixtures import owners
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp
from test_cli_errors import one_error_line, run
from typer.testing import CliRunner

from costlens.attribution import compile_attribution, parse_rules
from costlens.attribution.dialects import to_dialect
from costlens.attribution.globs import glob_problem, glob_regex
from costlens.cli import app
from costlens.errors import RuleError

ROOT = Path(__file__).resolve().parents[1]
_CON = duckdb.connect()

PATTERN = st.text(st.sampled_from(list("ab-]![\\*?^.$\né(")), max_size=7)
VALUE = st.text(st.sampled_from(list("ab-]!é.\n^(*")), max_size=5)


@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(PATTERN, VALUE)
def test_glob_regex_matches_what_duckdbs_glob_matches(pattern: str, value: str) -> None:
    duck = _CON.execute("SELECT $1 GLOB $2", [value, pattern]).fetchone()[0]  # type: ignore[index]
    if glob_problem(pattern) is not None:
        assert duck is False  # refused by the rules parser: DuckDB would never match it
        return
    regex = _CON.execute("SELECT regexp_matches($1, $2)", [value, glob_regex(pattern)])
    assert regex.fetchone()[0] is duck  # type: ignore[index]


def test_a_glob_that_can_never_match_is_refused_with_its_line() -> None:
    rules = (
        "rules:\n  - name: r\n    match: {resource: {glob: 'i-[0-9'}}\n    set: {owner: payments}\n"
    )
    with pytest.raises(RuleError) as caught:
        parse_rules(rules, "rules.yaml", owners())
    text = str(caught.value)
    assert "rules.yaml:3" in text
    assert "can never match: a `[` without its closing `]`" in text
    assert "`[[]` for a literal `[`" in text


RULES = r"""
dimensions: [environment]
rules:
  - name: app
    match: {tag: {key: app, regex: 'pay', ignore_case: true}}
    set: {microservice: "{tag:app}", environment: "it's \\ {region}"}
  - name: sandbox
    match: {account_name: {glob: "*sand[!x]ox"}}
    set: {owner: checkout}
shared:
  - {name: support, match: {service: AWSSupportEnterprise}, by: even, to: all}
  - {name: credits, match: {line_item_type: Credit}, by: fixed, weights: {payments: 2, checkout: 1}}
"""


def _compiled() -> object:
    return compile_attribution(parse_rules(RULES, "rules.yaml", owners()))


def test_athena_sql_parses_holds_no_parameter_and_keeps_values_exactly() -> None:
    athena = to_dialect(_compiled(), "athena")  # type: ignore[arg-type]
    assert athena.params == {}
    tree = sqlglot.parse_one(athena.sql, read="athena")
    assert not list(tree.find_all(exp.Placeholder))
    strings = {lit.this for lit in tree.find_all(exp.Literal) if lit.is_string}
    assert "it's \\ " in strings  # the quote doubled in the SQL, the backslash as it is
    assert "(?i)pay" in strings  # ignore_case as an inline flag: RE2 and Java alike
    assert "(?s)\\A.*sand[^x]ox\\z" in strings  # the glob, anchored
    upper = athena.sql.upper()
    for duckdb_only in ("MATERIALIZED", "HUGEINT", "INT128", " GLOB ", " DIV ", "//"):
        assert duckdb_only not in upper
    assert "DECIMAL(38, 0)" in athena.sql  # the split's units
    # Trino's map[k] fails on a missing key: every lookup is an element_at, [ only opens arrays
    code = re.sub(r"'(?:[^']|'')*'", "''", athena.sql)  # string literals left out
    assert set(re.findall(r"(\w+)\[", code)) == {"ARRAY"}


def test_spark_sql_parses_and_names_each_parameter_it_uses() -> None:
    spark = to_dialect(_compiled(), "spark")  # type: ignore[arg-type]
    tree = sqlglot.parse_one(spark.sql, read="spark")
    used = {p.name for p in tree.find_all(exp.Placeholder)}
    assert used == set(spark.params)
    assert "[" not in spark.sql  # every list[i] and map[k] is an element_at (1-based)
    assert " RLIKE " in spark.sql
    assert spark.render().splitlines()[-1].startswith("--   :p")


def test_rules_check_prints_each_dialect() -> None:
    runner = CliRunner()
    args = ["rules", "check", "--rules", str(ROOT / "data/rules.yaml")]
    args += ["--owners", str(ROOT / "data/owners.yaml")]
    spark = runner.invoke(app, [*args, "--dialect", "spark", "--json"])
    assert spark.exit_code == 0, spark.output
    sql = json.loads(spark.output)["sql"]
    assert "MAP_FROM_ARRAYS(:p" in sql and "ELEMENT_AT(" in sql
    athena = runner.invoke(app, [*args, "--dialect", "athena"])
    assert athena.exit_code == 0, athena.output
    assert "REGEXP_LIKE(" in athena.output and "'NatGateway" not in athena.output
    assert "(?s)\\ANatGateway.*\\z" in athena.output
    bad = run("rules", "check", "--dialect", "oracle")
    assert bad.returncode == 1
    assert one_error_line(bad) == (
        "costlens: error: --dialect: unknown SQL dialect 'oracle'. "
        "Fix: use one of: duckdb, spark, athena"
    )


def test_athena_view_writes_a_create_view_over_the_cur_table(tmp_path: Path) -> None:
    exports = generate_sample(
        tmp_path / "exports", "--format", "cur2", "--months", "1", "--seed", "3",
        "--scale", "0.002", "--end-month", "2025-03",
    )  # fmt: skip
    out = tmp_path / "view.sql"
    done = run("athena-view", str(exports), "--table", "cid_cur.cur2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    sql = out.read_text()
    tree = sqlglot.parse_one(sql, read="trino")
    assert isinstance(tree, exp.Create) and tree.find(exp.Placeholder) is None
    assert sql.startswith("CREATE OR REPLACE VIEW costlens_allocations AS\nWITH line_items AS")
    assert "FROM cid_cur.cur2" in sql
    # CUR 2.0's tag map: Trino's own functions for what DuckDB does with list lambdas
    assert "ZIP_WITH(" in sql and "MULTIMAP_FROM_ENTRIES(" in sql and "e.key" not in sql
    bad = run("athena-view", str(exports), "--table", "cur; DROP TABLE x")
    assert bad.returncode == 1
    assert "--table: 'cur; DROP TABLE x' is not a table name" in one_error_line(bad)
    focus = generate_sample(
        tmp_path / "focus", "--format", "focus", "--months", "1", "--seed", "3",
        "--scale", "0.002", "--end-month", "2025-03",
    )  # fmt: skip
    refused = run("athena-view", str(focus), "--table", "cur")
    assert refused.returncode == 1
    assert "reads CUR 2.0 and legacy CUR Parquet tables; this file is focus" in one_error_line(
        refused
    )
