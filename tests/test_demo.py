"""`costlens demo --no-serve` in a temporary folder: the whole pipeline on generated data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from helpers import assert_reconciles

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_demo_no_serve_builds_everything(tmp_path: Path) -> None:
    demo_dir = tmp_path / "demo"
    cmd = [sys.executable, "-m", "costlens", "demo", "--dir", str(demo_dir), "--no-serve"]
    small = ["--months", "2", "--scale", "0.05", "--json"]
    out = subprocess.run([*cmd, *small], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["generated"]["line_items"] > 0
    loaded = summary["ingest"]["deliveries"]
    assert [d["status"] for d in loaded] == ["new", "new"]

    for name in ("warehouse.duckdb", "serving.duckdb", "state.db"):
        assert (demo_dir / name).is_file(), name
    con = duckdb.connect(str(demo_dir / "warehouse.duckdb"), read_only=True)
    try:
        assert_reconciles(con, "allocations")
        (items,) = con.execute("SELECT COUNT(*) FROM line_items").fetchone() or (0,)
        assert items == summary["generated"]["line_items"]
        ledger = con.execute(
            "SELECT SUM(total_unblended_cost) FROM deliveries WHERE status = 'current'"
        ).fetchone()
        total = con.execute("SELECT SUM(unblended_cost) FROM line_items").fetchone()
        assert ledger is not None and total is not None and Decimal(ledger[0]) == total[0]
    finally:
        con.close()

    # A second run reuses the sample and loads nothing new.
    again = subprocess.run([*cmd, "--json"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert again.returncode == 0, again.stderr
    second = json.loads(again.stdout)
    assert second["generated"] is None
    assert {d["status"] for d in second["ingest"]["deliveries"]} == {"unchanged"}
    # COSTLENS_TODAY (conftest) is 2025-07-16: the default is the last complete month.
    assert second["periods"] == ["2025-05-01", "2025-06-01"]

    # A bad value changes nothing, even where it would make the demo anew.
    for bad, message in (
        (["--end-month", "2025-13"], "--end-month: not a month: '2025-13'"),
        (["--months", "0"], "--months: 0 months of history"),
    ):
        out = subprocess.run([*cmd, *bad], capture_output=True, text=True, cwd=REPO, timeout=300)
        assert out.returncode == 1 and out.stderr.count("\n") == 1, out.stderr
        assert out.stderr.startswith(f"costlens: error: {message}. Fix: "), out.stderr
    assert (demo_dir / "warehouse.duckdb").is_file()

    # Another calendar is a new demo, warehouse and all: no month of the old one is left.
    other = [*cmd, "--end-month", "2024-02", "--json"]
    moved = subprocess.run(other, capture_output=True, text=True, cwd=REPO, timeout=300)
    assert moved.returncode == 0, moved.stderr
    third = json.loads(moved.stdout)
    assert third["generated"] is not None and third["periods"] == ["2024-01-01", "2024-02-01"]
    con = duckdb.connect(str(demo_dir / "warehouse.duckdb"), read_only=True)
    try:
        periods = con.execute("SELECT DISTINCT billing_period FROM line_items ORDER BY 1")
        assert [str(p) for (p,) in periods.fetchall()] == ["2024-01-01", "2024-02-01"]
    finally:
        con.close()


def test_the_demo_dashboard_uses_the_demo_state_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anomaly marks made in the demo stay in the demo, whatever state_url costlens.toml names."""
    from costlens.commands.dashboard import dashboard_env
    from costlens.commands.demo import demo_settings
    from costlens.config import load_settings

    config = tmp_path / "costlens.toml"
    config.write_text(f'state_url = "sqlite:///{tmp_path / "team-state.db"}"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("COSTLENS_STATE_URL", raising=False)
    env = dashboard_env(demo_settings(load_settings(config), tmp_path / "demo"))
    assert env["COSTLENS_STATE_URL"] == f"sqlite:///{tmp_path / 'demo' / 'state.db'}"
    monkeypatch.setattr("os.environ", env)
    assert load_settings().state_database_url == env["COSTLENS_STATE_URL"]  # as Streamlit reads


@pytest.mark.slow
def test_the_default_demo_shows_every_budget_status(tmp_path: Path) -> None:
    """The sample budgets (data/owners.yaml) are sized so that the demo's Owners page shows
    over, at risk and on track, on a calendar other than the one they were sized on (a 28-day
    February against a 30-day November)."""
    from costlens import queries

    demo_dir = tmp_path / "demo"
    cmd = [sys.executable, "-m", "costlens", "demo", "--dir", str(demo_dir), "--no-serve"]
    proc = subprocess.run(
        [*cmd, "--end-month", "2025-02", "--json"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    with queries.open_snapshot(demo_dir) as snap:
        budgets = queries.budgets(snap)
    statuses = dict(zip(budgets["owner"], budgets["status"], strict=True))
    assert set(statuses.values()) == {"over", "at risk", "on track"}, statuses
    assert statuses["checkout"] == "over"


def test_the_demo_run_outside_the_checkout_uses_the_sample_companys_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from costlens.commands.demo import company_files
    from costlens.config import load_settings

    monkeypatch.chdir(tmp_path)  # no data/ here
    cfg = load_settings(None)
    assert not cfg.rules.is_file()
    used = company_files(cfg)
    assert (used.rules, used.owners) == (REPO / "data/rules.yaml", REPO / "data/owners.yaml")
    mine = tmp_path / "mine.yaml"
    mine.write_text("rules: []\n")
    assert company_files(cfg.model_copy(update={"rules": mine})).rules == mine


def test_a_missing_rules_file_stops_the_demo_before_it_makes_anything(tmp_path: Path) -> None:
    demo_dir = tmp_path / "demo"
    cmd = [sys.executable, "-m", "costlens", "demo", "--dir", str(demo_dir), "--no-serve"]
    env = {**os.environ, "COSTLENS_RULES": str(tmp_path / "none.yaml")}
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert out.stderr.startswith(
        f"costlens: error: settings rules: {tmp_path / 'none.yaml'}: no such rules file for the "
        "demo. Fix: "
    ), out.stderr
    assert not demo_dir.exists()
