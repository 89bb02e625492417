"""The refresh is a tuple of steps, and each declares the snapshot tables it writes: a table
nobody declares, a declared table without its DDL in ``costlens.serving.tables`` or without its
row in ``docs/analytics.md`` fails here."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import duckdb
import pytest
from app_snapshot import build_demo_data

from costlens.refresh.build import STEPS
from costlens.serving import tables as serving_tables

REPO = Path(__file__).resolve().parent.parent
ENVELOPE = {"snapshot_periods", "snapshot_info"}
"""Written by ``refresh`` itself around the steps."""
BUILT_BY_QUERY = {"daily", "rollup_daily", "rollup_monthly"}
"""Created from the cube's query (``CREATE TABLE ... AS``), so they have no fixed DDL."""


def test_steps_are_in_data_flow_order_and_declare_distinct_tables() -> None:
    assert [s.name for s in STEPS] == [
        "rollups",
        "anomalies",
        "forecasts",
        "scorecards",
        "finance",
        "coverage",
    ]
    declared = [t for s in STEPS for t in s.tables]
    assert len(declared) == len(set(declared))
    assert all(set(s.keeps) <= set(s.tables) for s in STEPS)


def test_every_declared_table_has_its_ddl_and_its_documentation() -> None:
    ddl = inspect.getsource(serving_tables)
    doc = (REPO / "docs" / "analytics.md").read_text()
    for step in STEPS:
        for table in step.tables:
            if table not in BUILT_BY_QUERY:
                assert re.search(rf"CREATE TABLE (IF NOT EXISTS )?snapshot\.{table}\b", ddl), table
            assert f"`{table}`" in doc, f"docs/analytics.md does not describe {table}"


@pytest.mark.slow
def test_a_built_snapshot_holds_exactly_the_declared_tables(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    data = build_demo_data(tmp_path_factory.mktemp("dashboard"))
    con = duckdb.connect(str(data.data_dir / "serving.duckdb"), read_only=True)
    try:
        found = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    finally:
        con.close()
    assert found == {t for s in STEPS for t in s.tables} | ENVELOPE


def test_a_large_amount_after_many_small_ones_is_written_exactly() -> None:
    """DuckDB types a column of Decimals from its first rows: a root cause of -$14,039.83 after
    a thousand small ones failed the refresh of a 2M-line month (DECIMAL(14,10) out of range)."""
    from decimal import Decimal

    import duckdb
    import pandas as pd

    from costlens.refresh.context import SNAPSHOT, insert_frame

    con = duckdb.connect()
    con.execute(f"ATTACH ':memory:' AS {SNAPSHOT}")
    con.execute(f"CREATE TABLE {SNAPSHOT}.t (k INTEGER, v DECIMAL(38,10), w DOUBLE)")
    values = [None] + [Decimal("1.2345678901")] * 4998 + [Decimal("-14039.8305908537")]
    frame = pd.DataFrame({"k": range(len(values)), "v": values, "w": 1.5})
    insert_frame(con, "t", frame)
    rows = con.execute(f"SELECT v FROM {SNAPSHOT}.t ORDER BY k").fetchall()
    assert [r[0] for r in rows] == values
    assert con.execute(f"SELECT SUM(v) FROM {SNAPSHOT}.t").fetchone()[0] == sum(
        values[1:], Decimal(0)
    )
