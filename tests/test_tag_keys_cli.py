"""Tag keys that normalize to one name are reported once by `ingest` and by `rules check`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
from test_tag_keys_unicode import CUR1_HEADER, _cur1_csv

REPO = Path(__file__).resolve().parent.parent
WARNING = (
    "tag keys 'user:cost_center' and 'user:cost-center' both normalize to cost_center: kept "
    "apart as cost_center and cost_center_4102 (use these names in rules)"
)


def _costlens(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "COSTLENS_DATA_DIR": str(data_dir),
        "COSTLENS_RULES": str(REPO / "data" / "rules.yaml"),
        "COSTLENS_OWNERS": str(REPO / "data" / "owners.yaml"),
    }
    return subprocess.run(
        [sys.executable, "-m", "costlens", *args],
        env=env, capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip


def test_ingest_and_rules_check_report_a_collision_once(tmp_path: Path, data_dir: Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    csv_file = _cur1_csv(export / "cur.csv", list(range(len(CUR1_HEADER))))
    out = _costlens(data_dir, "ingest", str(csv_file))
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("warning:") == 1
    assert f"ingest: warning: {WARNING}" in out.stdout
    check = _costlens(data_dir, "rules", "check")
    assert check.returncode == 0, check.stderr
    assert check.stdout.count("warning:") == 1
    assert f"warning: {WARNING} (billing periods 2024-11)" in check.stdout
    payload = json.loads(_costlens(data_dir, "rules", "check", "--json").stdout)
    assert payload["deliveries_on_older_tag_rule"] == 0
    assert payload["tag_key_collisions"] == [
        {
            "normalized_key": "cost_center",
            "keys": [
                {"raw_key": "user:cost_center", "tag_key": "cost_center"},
                {"raw_key": "user:cost-center", "tag_key": "cost_center_4102"},
            ],
            "periods": ["2024-11"],
        }
    ]


def test_rules_check_without_a_warehouse_reports_nothing(data_dir: Path) -> None:
    payload = json.loads(_costlens(data_dir, "rules", "check", "--json").stdout)
    assert payload["tag_key_collisions"] == [] and payload["deliveries_on_older_tag_rule"] == 0
    assert not (data_dir / "warehouse.duckdb").exists()


def test_a_rule_on_a_tag_key_outside_ascii_attributes(tmp_path: Path, data_dir: Path) -> None:
    """The compiled query names the tag's column by the key itself, whatever its script."""
    export = tmp_path / "export"
    export.mkdir()
    csv_file = _cur1_csv(export / "cur.csv", list(range(len(CUR1_HEADER))))
    assert _costlens(data_dir, "ingest", str(csv_file)).returncode == 0
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - name: jp\n    match: {tag: コスト}\n    set: {owner: platform}\n",
        encoding="utf-8",
    )
    out = subprocess.run(
        [sys.executable, "-m", "costlens", "attribute", "--json"],
        env={**os.environ, "COSTLENS_DATA_DIR": str(data_dir), "COSTLENS_RULES": str(rules),
             "COSTLENS_OWNERS": str(REPO / "data" / "owners.yaml")},
        capture_output=True, text=True, timeout=120, cwd=REPO,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT owner, SUM(unblended_cost) FROM allocations GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert [(o, str(c)) for o, c in rows] == [
        ("platform", "1.1000000001"),
        ("unallocated", "2.2500000000"),
    ]
