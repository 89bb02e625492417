"""Line keys (costlens.line_keys): numbered at load, one description per key, collisions re-keyed,
stale keys pruned on a restatement, old warehouses keyed by the migration."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from attribution_fixtures import insert, line, owners
from test_ingest_support import Line, write_cur2_export

from costlens.attribution import attribute, parse_rules
from costlens.attribution.preview import preview_rules
from costlens.config import Settings
from costlens.errors import RuleError
from costlens.line_keys import KEY_COLUMNS, key_sql, key_unkeyed_lines, unkeyed_lines
from costlens.schema import KPI_ATTRIBUTES, LINE_ITEMS, create_table_sql
from costlens.warehouse import SCHEMA_VERSION, open_warehouse
from ingest import ingest

NOV = date(2024, 11, 1)
RULES_YAML = """\
rules:
  - {name: app, match: {tag: app}, set: {microservice: "{tag:app}"}}
"""
_COLUMNS = ", ".join(f'"{c}"' for c in KEY_COLUMNS)

# Every line's key maps to exactly its own description in line_keys.
_MISMATCHES_SQL = f"""
SELECT count(*) FROM line_items i LEFT JOIN line_keys k ON i.line_key = k.line_key
WHERE k.line_key IS NULL OR NOT ({
    " AND ".join(f'i."{c}" IS NOT DISTINCT FROM k."{c}"' for c in KEY_COLUMNS)
})
"""


def _lines() -> list[Line]:
    return [
        Line(unblended_cost="1.10", resource_id="i-1", tags={"user_app": "cart"}),
        Line(unblended_cost="2.20", resource_id="i-1", tags={"user_app": "cart"}),
        Line(unblended_cost="3.30", resource_id="i-2", tags={"user_app": "payments"}),
        Line(unblended_cost="0.40", resource_id="i-3"),
    ]


def _ingest(tmp_path: Path, data_dir: Path, lines: list[Line], execution: str) -> None:
    exports = tmp_path / "exports"
    write_cur2_export(exports, "cur2", NOV, lines, execution)
    ingest(Settings(data_dir=data_dir), str(exports))


def _keys(data_dir: Path) -> tuple[int, int, int, int]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        row = con.execute(
            "SELECT (SELECT count(*) FROM line_keys), "
            "(SELECT count(DISTINCT line_key) FROM line_items), "
            f"(SELECT count(*) FROM (SELECT DISTINCT {_COLUMNS} FROM line_items)), "
            f"({_MISMATCHES_SQL})"
        ).fetchone()
    assert row is not None
    return row


def test_ingest_keys_each_description_once(tmp_path: Path, data_dir: Path) -> None:
    _ingest(tmp_path, data_dir, _lines(), "exec-1")
    # 3 descriptions (i-1 twice): 3 keys, every line maps to its own description
    assert _keys(data_dir) == (3, 3, 3, 0)
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        stored_equals_recomputed = con.execute(
            f"SELECT bool_and(line_key = {key_sql()}) FROM line_items"
        ).fetchone()
    assert stored_equals_recomputed == (True,)


def test_restatement_prunes_keys_no_line_holds(tmp_path: Path, data_dir: Path) -> None:
    _ingest(tmp_path, data_dir, _lines(), "exec-1")
    restated = [Line(unblended_cost="9.00", resource_id="i-9", tags={"user_app": "cart"})]
    _ingest(tmp_path, data_dir, restated, "exec-2")
    assert _keys(data_dir) == (1, 1, 1, 0)


def test_a_colliding_key_is_re_keyed_with_the_next_salt(tmp_path: Path, data_dir: Path) -> None:
    # Register, under the key the first line will get, a description that is not the line's
    # (another billing period): a 64-bit collision, made on purpose.
    first = _lines()[0]
    _ingest(tmp_path / "a", data_dir, [first], "exec-0")
    with open_warehouse(data_dir) as wh:
        wh.con.execute("UPDATE line_keys SET billing_period = DATE '1999-01-01'")
        wh.con.execute("DELETE FROM line_items")
        wh.con.execute("DELETE FROM deliveries")
    _ingest(tmp_path / "b", data_dir, _lines(), "exec-1")
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        salted = con.execute(
            f"SELECT bool_and(line_key = {key_sql(1)}), bool_or(line_key = {key_sql(0)}) "
            "FROM line_items"
        ).fetchone()
        mismatches = con.execute(_MISMATCHES_SQL).fetchone()
    assert salted == (True, False)  # every line re-keyed with salt 1
    assert mismatches == (0,)


def test_attribute_keys_lines_written_by_other_means_and_preview_refuses_them() -> None:
    con = duckdb.connect()
    con.execute(create_table_sql("line_items", LINE_ITEMS))
    insert(con, [line("a", "1.50", {"app": "cart"}), line("b", "2.50", {"app": "payments-api"})])
    rules = parse_rules(RULES_YAML, "rules.yaml", owners())
    assert unkeyed_lines(con) == 2
    with pytest.raises(RuleError, match="2 line item"):
        preview_rules(con, rules, rules)
    result = attribute(con, rules)
    assert result.notes == ["keyed 2 line item(s) not loaded by costlens ingest"]
    assert result.totals["unblended_cost"] == Decimal("4.00")
    assert unkeyed_lines(con) == 0
    assert key_unkeyed_lines(con) == 0  # nothing left to key
    owners_by_cost = con.execute(
        "SELECT owner, SUM(unblended_cost) FROM allocations GROUP BY 1 ORDER BY 1"
    ).fetchall()
    assert owners_by_cost == [("checkout", Decimal("1.50")), ("payments", Decimal("2.50"))]


def test_migration_keys_lines_of_a_version_1_warehouse(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:  # what costlens 1 created
        con.execute("CREATE TABLE costlens_meta (key VARCHAR PRIMARY KEY, value VARCHAR)")
        con.execute("INSERT INTO costlens_meta VALUES ('schema_version', '1')")
        con.execute(create_table_sql("line_items", LINE_ITEMS))
        for name in ("line_key", *KPI_ATTRIBUTES, "source_lines"):  # added by versions 2, 3, 6
            con.execute(f"ALTER TABLE line_items DROP COLUMN {name}")
        con.execute(
            "INSERT INTO line_items (billing_period, account_id, unblended_cost) "
            "VALUES (DATE '2024-11-01', '1', 1.5), (DATE '2024-11-01', '1', 2.5), "
            "(DATE '2024-11-01', '2', 0.5)"
        )
    with open_warehouse(data_dir) as wh:
        assert wh.schema_version == SCHEMA_VERSION
        assert wh.con.execute("SELECT count(*) FROM line_keys").fetchone() == (2,)
        assert wh.con.execute(_MISMATCHES_SQL).fetchone() == (0,)
