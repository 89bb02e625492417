from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from costlens.errors import WarehouseBusyError, WarehouseError
from costlens.schema import LINE_ITEMS, column_names
from costlens.warehouse import SCHEMA_VERSION, open_warehouse


def test_creates_tables_with_canonical_schema(data_dir: Path) -> None:
    with open_warehouse(data_dir) as wh:
        cols = wh.con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_name = 'line_items' ORDER BY ordinal_position"
        ).fetchall()
        assert tuple(c for c, _ in cols) == column_names(LINE_ITEMS)
        assert dict(cols)["unblended_cost"] == "DECIMAL(18,10)"
        assert dict(cols)["tags"] == "MAP(VARCHAR, VARCHAR)"
        assert wh.schema_version == SCHEMA_VERSION
    assert (data_dir / "warehouse.duckdb").is_file()


def test_reopen_keeps_data(data_dir: Path) -> None:
    with open_warehouse(data_dir) as wh:
        wh.con.execute("INSERT INTO line_items (account_id, unblended_cost) VALUES ('1', 1.5)")
    with open_warehouse(data_dir) as wh:
        assert wh.con.execute("SELECT SUM(unblended_cost) FROM line_items").fetchone() == (
            pytest.approx(1.5),
        )


def test_transaction_rolls_back(data_dir: Path) -> None:
    with open_warehouse(data_dir) as wh:
        with pytest.raises(RuntimeError), wh.transaction() as con:
            con.execute("INSERT INTO line_items (account_id) VALUES ('1')")
            raise RuntimeError("boom")
        assert wh.con.execute("SELECT COUNT(*) FROM line_items").fetchone() == (0,)


def test_second_writer_gets_clear_error_naming_holder(data_dir: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from costlens.warehouse import "
            "open_warehouse; w = open_warehouse(Path(sys.argv[1])); print('ready', flush=True); "
            "time.sleep(30)",
            str(data_dir),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        with pytest.raises(WarehouseBusyError) as err:
            open_warehouse(data_dir)
        assert f"in use by PID {holder.pid}" in str(err.value)
        assert "warehouse.duckdb" in str(err.value)
    finally:
        holder.kill()
        holder.wait()
    with open_warehouse(data_dir):  # the lock died with its holder
        pass


def test_newer_schema_is_refused(data_dir: Path) -> None:
    with open_warehouse(data_dir) as wh:
        wh.con.execute("UPDATE costlens_meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(WarehouseError, match="schema version 999 is newer"):
        open_warehouse(data_dir)


def test_not_a_duckdb_file(data_dir: Path) -> None:
    (data_dir / "warehouse.duckdb").write_text("not a database")
    with pytest.raises(WarehouseError, match="cannot open the warehouse"):
        open_warehouse(data_dir)


def test_read_only_requires_existing(data_dir: Path) -> None:
    with pytest.raises(WarehouseError, match="no warehouse yet"):
        open_warehouse(data_dir, read_only=True)


def test_decimal_sums_are_exact(data_dir: Path) -> None:
    with open_warehouse(data_dir) as wh:
        wh.con.executemany(
            "INSERT INTO line_items (unblended_cost) VALUES (?)",
            [["0.1"]] * 10 + [["0.0000000001"]],
        )
        total = wh.con.execute("SELECT SUM(unblended_cost)::VARCHAR FROM line_items").fetchone()
        assert total == ("1.0000000001",)
    assert isinstance(duckdb.__version__, str)
