"""Tag keys that normalize to one name are reported once by `ingest` and by `rules check`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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
