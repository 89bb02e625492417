"""Period close: a closed month's allocations are frozen; a restatement of it becomes an
adjustment (frozen allocations + adjustments = line items, exactly); reopen needs a reason."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from helpers import assert_reconciles, totals_by_period

from costlens.commands.analytics import describe_attribution
from costlens.schema import COST_COLUMNS
from costlens.state import period_events

REPO = Path(__file__).resolve().parent.parent
FEB = date(2024, 2, 1)
pytestmark = pytest.mark.slow


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "costlens", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _ok(env: dict[str, str], *args: str) -> dict[str, Any]:
    proc = _run(env, *args, "--json")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def _sums(data_dir: Path, sql: str) -> dict[tuple[str, str], Decimal]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        con.execute(f"CREATE TEMP TABLE t AS {sql}")
        return totals_by_period(con, "t")


def _rows(data_dir: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.fixture
def world(tmp_path: Path) -> tuple[dict[str, str], Path, Path, tuple[str, ...]]:
    exports, data_dir = tmp_path / "exports", tmp_path / "data"
    rules = tmp_path / "rules.yaml"
    shutil.copy(REPO / "data" / "rules.yaml", rules)
    env = {
        **os.environ,
        "COSTLENS_DATA_DIR": str(data_dir),
        "COSTLENS_RULES": str(rules),
        "COSTLENS_OWNERS": str(REPO / "data" / "owners.yaml"),
        "COSTLENS_USER": "finance-anna",
        "PYTHONWARNINGS": "ignore",
    }
    sample = ("generate-sample", str(exports), "--months", "2", "--seed", "4", "--scale", "0.02")
    sample = (*sample, "--end-month", "2024-02")
    _ok(env, *sample)
    _ok(env, "sync", str(exports))
    return env, data_dir, rules, sample


FROZEN = "SELECT * FROM allocations WHERE billing_period = DATE '2024-02-01'"


def test_close_then_restatement_becomes_an_exact_adjustment(
    world: tuple[dict[str, str], Path, Path, tuple[str, ...]],
) -> None:
    env, data_dir, rules, sample = world
    lines_before = _sums(data_dir, "SELECT * FROM line_items")
    frozen_rows = _rows(data_dir, FROZEN + " ORDER BY ALL")
    closed = _ok(env, "close", "2024-02")["closed"]
    assert closed["closed_by"] == "finance-anna"
    assert {c: Decimal(v) for c, v in closed["totals"].items()} == {
        c: lines_before[("2024-02-01", c)] for c in COST_COLUMNS
    }

    again = _run(env, "close", "2024-02")
    assert again.returncode != 0 and "already closed" in again.stderr

    _ok(env, *sample, "--restate")  # a later delivery of the closed February
    synced = _ok(env, "sync", str(exports_of(sample)))
    assert synced["attribute"]["periods"] == []
    assert synced["attribute"]["adjustments"], synced["attribute"]
    assert _rows(data_dir, FROZEN + " ORDER BY ALL") == frozen_rows  # frozen, exactly
    said = describe_attribution(synced["attribute"])
    assert said.startswith("closed 2024-02 restated: ") and "adjustment row" in said, said

    lines = _sums(data_dir, "SELECT * FROM line_items")
    adjustments = _sums(data_dir, "SELECT * FROM adjustments")
    for c in COST_COLUMNS:
        restated = lines[("2024-02-01", c)] - lines_before[("2024-02-01", c)]
        assert adjustments.get(("2024-02-01", c), Decimal(0)) == restated
    assert lines[("2024-02-01", "unblended_cost")] != lines_before[("2024-02-01", "unblended_cost")]
    both = _sums(data_dir, "SELECT * FROM allocations UNION ALL BY NAME SELECT * FROM adjustments")
    assert both == lines  # frozen allocations + adjustments = line items, per period and column
    [(deliveries,)] = _rows(data_dir, "SELECT DISTINCT delivery_id FROM adjustments")
    current = _rows(
        data_dir,
        "SELECT delivery_id FROM deliveries WHERE status = 'current' AND billing_period = "
        "DATE '2024-02-01'",
    )
    assert deliveries == ",".join(sorted(d for (d,) in current))

    # The next export shows the adjustment and still reconciles, per invoice and cost type.
    out = data_dir.parent / "feb.xlsx"
    exported = _ok(env, "export", "--period", "2024-02", "--out", str(out))
    assert exported["reconciled"] is True
    assert {Decimal(v) for v in exported["largest_difference"].values()} == {Decimal(0)}
    restated = (
        lines[("2024-02-01", "unblended_cost")] - lines_before[("2024-02-01", "unblended_cost")]
    )
    assert exported["adjustments"] > 0 and Decimal(exported["adjustments_total"]) == restated
    total = Decimal(exported["total"])  # the closed figures, and apart what restated them
    assert total == lines_before[("2024-02-01", "unblended_cost")]
    assert total + Decimal(exported["adjustments_total"]) == lines[("2024-02-01", "unblended_cost")]

    # A sync with nothing new records nothing twice.
    assert not _ok(env, "sync", str(exports_of(sample)))["attribute"].get("adjustments")

    # A rules change re-attributes the open January only; February stays frozen.
    rules.write_text(rules.read_text() + "\n# reviewed\n")
    changed = _ok(env, "sync", str(exports_of(sample)))
    assert changed["attribute"]["periods"] == ["2024-01-01"]
    assert changed["attribute"]["closed"] == ["2024-02-01"]
    assert _rows(data_dir, FROZEN + " ORDER BY ALL") == frozen_rows

    # Frozen rows keep their line keys for the scorecards and exports.
    orphans = _rows(
        data_dir,
        "SELECT count(*) FROM allocations a ANTI JOIN line_keys k USING (line_key) "
        "WHERE a.billing_period = DATE '2024-02-01'",
    )
    assert orphans == [(0,)]

    # Reopen: a reason is required, and nothing changes without one.
    for args in (("reopen", "2024-02"), ("reopen", "2024-02", "--reason", "  ")):
        proc = _run(env, *args)
        assert proc.returncode != 0
        assert len(proc.stderr.strip().splitlines()) == 1 and "reason" in proc.stderr
    assert _rows(data_dir, "SELECT count(*) FROM closed_periods") == [(1,)]
    assert _rows(data_dir, FROZEN + " ORDER BY ALL") == frozen_rows

    reopened = _ok(env, "reopen", "2024-02", "--reason", "AWS SLA credit")
    assert reopened["dropped_adjustments"] and reopened["attribute"]["periods"] == ["2024-02-01"]
    assert _rows(data_dir, "SELECT count(*) FROM adjustments") == [(0,)]
    assert _rows(data_dir, "SELECT count(*) FROM closed_periods") == [(0,)]
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        assert_reconciles(con, "allocations")

    events = period_events(f"sqlite:///{data_dir / 'state.db'}", FEB)
    assert [(e.action, e.reason, e.actor) for e in events] == [
        ("close", "", "finance-anna"),
        ("reopen", "AWS SLA credit", "finance-anna"),
    ]
    assert json.loads(events[0].totals) == closed["totals"]


def exports_of(sample: tuple[str, ...]) -> str:
    return sample[1]


def test_close_errors(world: tuple[dict[str, str], Path, Path, tuple[str, ...]]) -> None:
    env, data_dir, _, _ = world
    for month, text in (
        ("2023-12", "2023-12 is not loaded"),
        ("2024-13", "not a month"),
    ):
        proc = _run(env, "close", month)
        assert proc.returncode != 0
        assert text in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    proc = _run(env, "reopen", "2024-01", "--reason", "x")
    assert proc.returncode != 0 and "2024-01 is not closed" in proc.stderr
    assert _rows(data_dir, "SELECT count(*) FROM closed_periods") == [(0,)]
    assert period_events(f"sqlite:///{data_dir / 'state.db'}") == []


def test_rebuild_with_a_new_dimension_keeps_the_frozen_rows(
    world: tuple[dict[str, str], Path, Path, tuple[str, ...]],
) -> None:
    from costlens.attribution import attribute, load_owners, load_rules
    from costlens.attribution.engine import check_conservation
    from costlens.warehouse import open_warehouse

    env, data_dir, rules_path, _ = world
    _ok(env, "close", "2024-02")
    frozen = _rows(data_dir, FROZEN + " ORDER BY ALL")
    text = rules_path.read_text()
    declared = "dimensions: [environment, cost_center]"
    assert declared in text, "the sample rules declare their extra dimensions"
    rules_path.write_text(
        text.replace(declared, "dimensions: [environment, cost_center, closing_probe]")
    )
    rules = load_rules(rules_path, load_owners(Path(env["COSTLENS_OWNERS"])))
    with open_warehouse(data_dir) as wh:
        result = attribute(wh, rules)
        check_conservation(wh.con)
    assert result.rebuilt and result.closed == (FEB,) and result.periods == (date(2024, 1, 1),)
    after = _rows(data_dir, FROZEN.replace("*", "* EXCLUDE (closing_probe)") + " ORDER BY ALL")
    assert after == frozen
    assert _rows(data_dir, FROZEN.replace("*", "DISTINCT closing_probe")) == [("",)]


def test_record_adjustments_in_process_with_a_pinned_clock(
    world: tuple[dict[str, str], Path, Path, tuple[str, ...]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from datetime import UTC, datetime

    from costlens.attribution import attribute, load_owners, load_rules
    from costlens.closing import close_period, closed_periods, record_adjustments
    from costlens.warehouse import open_warehouse

    env, data_dir, rules_path, _ = world
    pinned = datetime(2024, 3, 9, 12, 0, tzinfo=UTC)
    monkeypatch.setattr("costlens.closing.utc_now", lambda: pinned)
    rules = load_rules(rules_path, load_owners(Path(env["COSTLENS_OWNERS"])))
    cent = Decimal("0.0000000001")
    with open_warehouse(data_dir) as wh:
        with wh.transaction() as con:  # February is final: its lines carry an invoice id
            for table in ("line_items", "line_keys"):
                con.execute(
                    f"UPDATE {table} SET invoice_id = 'INV-FEB' WHERE billing_period = ?", [FEB]
                )
            closed = close_period(con, FEB, "anna")
        assert closed.closed_at == pinned and closed_periods(wh.con)[FEB] == closed
        with wh.transaction() as con:  # a restatement written by hand: one line, 1e-10 more
            con.execute(
                "UPDATE line_items SET unblended_cost = unblended_cost + ? WHERE rowid = "
                "(SELECT min(rowid) FROM line_items WHERE billing_period = ?)",
                [cent, FEB],
            )
            recorded = record_adjustments(con, rules, rules.version)
        assert sum((a.costs["unblended_cost"] for a in recorded), Decimal(0)) == cent
        assert all(a.recorded_at == pinned for a in recorded)
        assert all(a.costs["amortized_cost"] == 0 for a in recorded)
        assert {a.invoice_id for a in recorded} == {"INV-FEB"}  # the invoice reconciles alone
        with wh.transaction() as con:
            assert record_adjustments(con, rules, rules.version) == []  # balanced now
        result = attribute(wh, rules)  # checks frozen + adjustments = line items
        assert result.closed == (FEB,) and FEB not in result.periods
