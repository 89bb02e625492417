"""``costlens sync`` re-attributes only what changed: a restated month, a new month, or
everything when the rules change; and the result is what a full attribution gives."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from helpers import assert_reconciles

from costlens.sync import periods_to_attribute
from costlens.warehouse import open_warehouse

REPO = Path(__file__).resolve().parent.parent
JAN, FEB = date(2024, 1, 1), date(2024, 2, 1)


def test_periods_to_attribute(data_dir: Path) -> None:
    with open_warehouse(data_dir) as wh:
        con = wh.con
        con.execute("INSERT INTO line_items (billing_period) VALUES (?), (?)", [JAN, FEB])
        assert periods_to_attribute(con, "v1", set()) is None  # no allocations yet
        con.execute(
            "CREATE TABLE allocations (billing_period DATE, rule_version VARCHAR, "
            "unblended_cost DECIMAL(18,10), amortized_cost DECIMAL(18,10), "
            "net_amortized_cost DECIMAL(18,10), list_cost DECIMAL(18,10))"
        )
        con.execute("INSERT INTO allocations VALUES (?, 'v1', NULL, NULL, NULL, NULL)", [JAN])
        assert periods_to_attribute(con, "v1", set()) == [FEB]  # loaded, never attributed
        assert periods_to_attribute(con, "v1", {JAN}) == [JAN, FEB]
        con.execute("INSERT INTO allocations VALUES (?, 'v1', NULL, NULL, NULL, NULL)", [FEB])
        assert periods_to_attribute(con, "v1", set()) == []
        assert periods_to_attribute(con, "v2", set()) is None  # other rules: everything
        # January was re-delivered, but the sync stopped before attributing it: its allocations
        # no longer sum to its ledger totals, so the next sync attributes it though nothing is new.
        con.execute(
            "INSERT INTO deliveries (delivery_id, source, report, format, billing_period, "
            "row_count, total_unblended_cost, total_amortized_cost, total_net_amortized_cost, "
            "total_list_cost, status) VALUES ('d', 's', 'r', 'cur2', ?, 1, 0, 5, 0, 0, 'current')",
            [JAN],
        )
        assert periods_to_attribute(con, "v1", set()) == [JAN]


def _costlens(env: dict[str, str], *args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "costlens", *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def _allocations(data_dir: Path, period: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(
            "SELECT * EXCLUDE (rule_version) FROM allocations "
            "WHERE billing_period = CAST(? AS DATE) ORDER BY ALL",
            [period],
        ).fetchall()


@pytest.mark.slow
def test_sync_attributes_only_what_changed(tmp_path: Path) -> None:
    exports, data_dir = tmp_path / "exports", tmp_path / "data"
    rules = tmp_path / "rules.yaml"
    shutil.copy(REPO / "data" / "rules.yaml", rules)
    env = {
        **os.environ,
        "COSTLENS_DATA_DIR": str(data_dir),
        "COSTLENS_RULES": str(rules),
        "COSTLENS_OWNERS": str(REPO / "data" / "owners.yaml"),
    }
    sample = ("generate-sample", str(exports), "--months", "2", "--seed", "4", "--scale", "0.02")
    sample = (*sample, "--end-month", "2024-02")
    _costlens(env, *sample)
    first = _costlens(env, "sync", str(exports))
    assert first["attribute"]["periods"] == ["2024-01-01", "2024-02-01"]
    january = _allocations(data_dir, "2024-01-01")

    again = _costlens(env, "sync", str(exports))
    assert again["attribute"] == {**again["attribute"], "skipped": True, "periods": []}

    _costlens(env, *sample, "--restate")  # a later delivery of February only
    restated = _costlens(env, "sync", str(exports))
    statuses = {d["billing_period"]: d["status"] for d in restated["ingest"]["deliveries"]}
    assert statuses == {"2024-01-01": "unchanged", "2024-02-01": "replaced"}
    assert restated["attribute"]["periods"] == ["2024-02-01"]
    assert _allocations(data_dir, "2024-01-01") == january
    incremental_february = _allocations(data_dir, "2024-02-01")

    rules.write_text(rules.read_text() + "\n# reviewed\n")  # new rule-set version
    changed = _costlens(env, "sync", str(exports))
    assert changed["attribute"]["periods"] == ["2024-01-01", "2024-02-01"]
    assert _allocations(data_dir, "2024-02-01") == incremental_february  # same as a full run
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        assert_reconciles(con, "allocations")
