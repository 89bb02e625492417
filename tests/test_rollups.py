"""Rollups: the cube and the per-dimension tables sum to allocations exactly."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from helpers import create_allocations

from costlens.errors import QueryError, WarehouseError
from costlens.refresh.rollups import build_rollups, extra_dimensions
from costlens.schema import COST_COLUMNS, DIMENSIONS, ROLLUP_DIMENSIONS, cost_column
from costlens.sql import quote

# Costs with ten decimals that a float would not add exactly, credits, NULL dimensions.
_GENERATED = """
INSERT INTO allocations SELECT
  DATE '2024-01-25' + CAST(i % 20 AS INTEGER),
  date_trunc('month', DATE '2024-01-25' + CAST(i % 20 AS INTEGER)),
  '999', 'acct-' || (i % 3), ['AmazonEC2', 'AmazonS3', 'AWSSupport'][1 + i % 3],
  CASE WHEN i % 7 = 0 THEN NULL ELSE 'us-east-' || (1 + i % 2) END,
  'ut-' || (i % 5), 'i-' || (i % 40), CASE WHEN i % 11 = 0 THEN 'Credit' ELSE 'Usage' END,
  CASE WHEN i % 11 = 0 THEN 'Credit' ELSE 'Usage' END, ['OnDemand', 'Spot'][1 + i % 2],
  'ms-' || (i % 4), 'owner-' || (i % 4 // 2), ['prod', 'dev'][1 + i % 2],
  ['direct', 'shared'][1 + i % 2], 'r' || (i % 3),
  CAST((CASE WHEN i % 11 = 0 THEN -1 ELSE 1 END) * (i % 97) * 0.1000000001 AS DECIMAL(18,10)),
  CAST((i % 89) * 0.0300000007 AS DECIMAL(18,10)),
  CAST((i % 83) * 0.0200000003 AS DECIMAL(18,10)),
  CAST((i % 79) * 0.0500000001 AS DECIMAL(18,10)),
  (i % 13) * 0.5
FROM range(3000) t(i)
"""


@pytest.fixture
def cube(tmp_path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    create_allocations(con, ("environment",))
    con.execute(_GENERATED)
    con.execute(f"ATTACH '{tmp_path / 'snap.duckdb'}' AS snap")
    build_rollups(con, "snap", extra_dimensions(con))
    return con


def _sums(con: duckdb.DuckDBPyConnection, sql: str) -> dict[tuple[str, ...], tuple[Decimal, ...]]:
    return {tuple(str(k) for k in r[:-4]): tuple(r[-4:]) for r in con.execute(sql).fetchall()}


def test_extra_dimensions_are_the_rules_declared_text_columns(
    cube: duckdb.DuckDBPyConnection,
) -> None:
    assert extra_dimensions(cube) == ("environment",)


@pytest.mark.parametrize("dimension", ROLLUP_DIMENSIONS)
def test_daily_rollup_equals_allocations_per_value_and_day(
    cube: duckdb.DuckDBPyConnection, dimension: str
) -> None:
    money = ", ".join(f"SUM({c})" for c in COST_COLUMNS)
    want = _sums(
        cube,
        f"SELECT COALESCE({dimension}, ''), usage_date, {money} FROM allocations GROUP BY 1, 2",
    )
    got = _sums(
        cube,
        f"SELECT value, usage_date, {', '.join(COST_COLUMNS)} FROM snap.rollup_daily "
        f"WHERE dimension = '{dimension}'",
    )
    assert got == want


@pytest.mark.parametrize("dimension", ROLLUP_DIMENSIONS)
def test_monthly_rollup_equals_allocations_per_billing_period(
    cube: duckdb.DuckDBPyConnection, dimension: str
) -> None:
    money = ", ".join(f"SUM({c})" for c in COST_COLUMNS)
    want = _sums(
        cube,
        f"SELECT COALESCE({dimension}, ''), billing_period, {money} FROM allocations GROUP BY 1, 2",
    )
    got = _sums(
        cube,
        f"SELECT value, billing_period, {', '.join(COST_COLUMNS)} FROM snap.rollup_monthly "
        f"WHERE dimension = '{dimension}'",
    )
    assert got == want


def test_cube_keeps_every_dimension_and_the_line_count(cube: duckdb.DuckDBPyConnection) -> None:
    cols = [r[0] for r in cube.execute("DESCRIBE snap.daily").fetchall()]
    assert set(DIMENSIONS) | {"environment"} <= set(cols)
    assert cube.execute("SELECT SUM(line_items) FROM snap.daily").fetchall() == [(3000,)]
    # The missing region is kept as '' (not NULL) so it can be filtered and grouped.
    assert cube.execute("SELECT COUNT(*) FROM snap.daily WHERE region IS NULL").fetchall() == [(0,)]


def test_sums_are_exact_where_floats_are_not(tmp_path: Path) -> None:
    con = duckdb.connect()
    create_allocations(con)
    for cost in ("0.1000000001", "0.2000000002", "-0.0000000003"):
        con.execute(
            "INSERT INTO allocations VALUES (DATE '2024-03-01', DATE '2024-03-01', 'p', 'a', "
            "'AmazonEC2', 'us-east-1', 'u', '', 'Usage', 'Usage', 'OnDemand', 'm', 'o', "
            "'direct', 'r', ?, ?, ?, ?, 1)",
            [cost] * 4,
        )
    con.execute(f"ATTACH '{tmp_path / 's.duckdb'}' AS s")
    assert build_rollups(con, "s") == 1
    row = con.execute(
        "SELECT unblended_cost FROM s.rollup_monthly WHERE dimension = 'owner'"
    ).fetchall()
    # 0.1000000001 + 0.2000000002 - 0.0000000003 = 0.3 (0.1 + 0.2 in float is 0.30000000000000004)
    assert row == [(Decimal("0.3000000000"),)]


def test_no_allocations_says_run_attribute() -> None:
    con = duckdb.connect()
    with pytest.raises(WarehouseError, match=r"no allocations table.*costlens attribute"):
        extra_dimensions(con)


def test_unknown_cost_type_lists_the_valid_ones() -> None:
    assert cost_column("net_amortized") == "net_amortized_cost"
    with pytest.raises(QueryError, match="use one of: unblended, amortized, net_amortized"):
        cost_column("blended")


def test_quote_refuses_anything_but_a_plain_name() -> None:
    with pytest.raises(QueryError, match="not a valid column name"):
        quote('owner" OR 1=1 --')
