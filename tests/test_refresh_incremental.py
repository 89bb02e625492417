"""Incremental refresh: re-using unchanged billing periods gives exactly the full rebuild's
snapshot, and a restated month, a new rule-set version or stale allocations rebuild the right
periods."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
from helpers import create_allocations

from costlens import queries as q
from costlens.config import Settings, load_settings
from costlens.refresh import RefreshReport, refresh
from costlens.refresh.build import STEPS
from costlens.serving import SERVING_FILE, snapshot_stamp
from costlens.warehouse import open_warehouse

JAN, FEB, MAR = dt.date(2024, 1, 1), dt.date(2024, 2, 1), dt.date(2024, 3, 1)

# 80 days over three billing periods; a step in one microservice in March (an anomaly).
_ROWS = """
INSERT INTO allocations SELECT
  DATE '2024-01-01' + CAST(i % 80 AS INTEGER) AS d, date_trunc('month', d),
  '999', 'acct-' || (i % 3), ['AmazonEC2', 'AmazonS3', 'AmazonRDS'][1 + i % 3],
  CASE WHEN i % 9 = 0 THEN NULL ELSE 'eu-west-' || (1 + i % 2) END,
  'ut-' || (i % 5), 'i-' || (i % 40), 'Usage', 'Usage', ['OnDemand', 'Spot'][1 + i % 2],
  'ms-' || (i % 4), CASE WHEN i % 17 = 0 THEN 'unallocated' ELSE 'owner-' || (i % 4 // 2) END,
  ['prod', 'dev'][1 + i % 2], ['direct', 'shared'][1 + i % 2], 'r' || (i % 3),
  CAST((i % 97) * CAST($scale AS DECIMAL(18,10)) AS DECIMAL(18,10)),
  CAST((i % 89) * 3.0000000007 * (CASE WHEN i % 4 = 1 AND i % 80 >= 70 THEN 5 ELSE 1 END)
       AS DECIMAL(18,10)),
  CAST((i % 83) * 0.0200000003 AS DECIMAL(18,10)),
  CAST((i % 79) * 0.0500000001 AS DECIMAL(18,10)),
  (i % 13) * 0.5, 'v1'
FROM range(4000) t(i) WHERE list_contains($periods, date_trunc('month', d))
"""

_LEDGER = """
INSERT INTO deliveries
SELECT $id, 'cur', 'export', 'cur2', billing_period, $id, '[]', count(*),
       SUM(unblended_cost), SUM(amortized_cost), SUM(net_amortized_cost), SUM(list_cost),
       'current', TIMESTAMP '2024-04-01 00:00:00', 'duckdb'
FROM allocations WHERE billing_period = $period GROUP BY billing_period
"""

# Tables whose every row must be the same whether periods were re-used or rebuilt.
_COMPARED = (
    "daily", "rollup_daily", "rollup_monthly", "allocation_coverage", "untagged_resources",
    "anomalies", "anomaly_root_causes", "anomaly_days", "forecasts", "budgets",
    "snapshot_deliveries",
)  # fmt: skip


def _settings(data_dir: Path) -> Settings:
    return load_settings(
        None, data_dir=data_dir, rules=data_dir / "rules.yaml", owners=data_dir / "owners.yaml"
    )


def _deliver(
    con: duckdb.DuckDBPyConnection, period: dt.date, delivery: str, scale: str = "0.1000000001"
) -> None:
    """Replace ``period`` in allocations and the ledger, as ingest + attribute do."""
    con.execute("DELETE FROM allocations WHERE billing_period = $p", {"p": period})
    con.execute(_ROWS, {"scale": scale, "periods": [period]})
    con.execute(
        "UPDATE deliveries SET status = 'superseded' WHERE billing_period = $p", {"p": period}
    )
    con.execute(_LEDGER, {"id": delivery, "period": period})


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    with open_warehouse(data) as wh:
        create_allocations(wh.con, ("environment",))
        wh.con.execute("ALTER TABLE allocations ADD COLUMN rule_version VARCHAR")
        for period in (JAN, FEB, MAR):
            _deliver(wh.con, period, f"d-{period}")
    return data


def _tables(data_dir: Path) -> dict[str, list[tuple[Any, ...]]]:
    con = duckdb.connect(str(data_dir / "serving.duckdb"), read_only=True)
    try:
        return {
            t: sorted(con.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in _COMPARED
        }
    finally:
        con.close()


def _rebuilt(data_dir: Path) -> set[dt.date]:
    con = duckdb.connect(str(data_dir / "serving.duckdb"), read_only=True)
    try:
        rows = con.execute("SELECT billing_period FROM snapshot_periods WHERE rebuilt").fetchall()
    finally:
        con.close()
    return {r[0] for r in rows}


def _snapshot_value(data_dir: Path, sql: str) -> Any:
    con = duckdb.connect(str(data_dir / "serving.duckdb"), read_only=True)
    try:
        return con.execute(sql).fetchall()[0][0]
    finally:
        con.close()


def _refresh(data_dir: Path, *, full: bool = False) -> RefreshReport:
    with open_warehouse(data_dir) as wh:
        return refresh(wh, _settings(data_dir), full=full)


def _same_as_full(data_dir: Path) -> None:
    incremental = _tables(data_dir)
    _refresh(data_dir, full=True)
    full = _tables(data_dir)
    assert incremental["daily"], "the cube is empty: the comparison would prove nothing"
    for table in _COMPARED:
        assert incremental[table] == full[table], table


def _touch_warehouse(data_dir: Path) -> None:
    """A commit that changes no data (as a sync whose ingest found nothing new may make)."""
    with open_warehouse(data_dir) as wh:
        wh.con.execute("CREATE TABLE touched AS SELECT 1 AS x")
        wh.con.execute("DROP TABLE touched")


def test_unchanged_refresh_keeps_the_published_snapshot(data_dir: Path) -> None:
    first = _refresh(data_dir)
    assert (first.rebuilt_periods, first.reused_periods, first.unchanged) == (3, 0, False)
    published = snapshot_stamp(data_dir / SERVING_FILE)
    second = _refresh(data_dir)  # the warehouse files are as the first refresh left them
    assert (second.rebuilt_periods, second.reused_periods, second.unchanged) == (0, 3, True)
    assert snapshot_stamp(data_dir / SERVING_FILE) == published  # not even re-published
    varying = ("seconds", "rebuilt_periods", "reused_periods", "unchanged", "step_seconds")
    same = {k: v for k, v in first.as_dict().items() if k not in varying}
    assert {k: v for k, v in second.as_dict().items() if k not in varying} == same
    assert second.built_at == first.built_at and isinstance(second.built_at, dt.datetime)
    assert second.step_seconds == {}  # nothing built
    parts = ["prepare", "rollups", "anomalies", "anomalies.root_causes"]
    parts += [s.name for s in STEPS[2:]] + ["publish"]
    assert list(first.step_seconds) == parts
    _touch_warehouse(data_dir)  # the files changed: the periods' fingerprints are compared
    third = _refresh(data_dir)
    assert (third.rebuilt_periods, third.reused_periods, third.unchanged) == (0, 3, True)
    assert snapshot_stamp(data_dir / SERVING_FILE) == published
    assert {k: v for k, v in third.as_dict().items() if k not in varying} == same
    assert third.anomalies >= 1
    _same_as_full(data_dir)


def test_a_changed_owners_file_rebuilds_an_unchanged_warehouse(data_dir: Path) -> None:
    _refresh(data_dir)
    (data_dir / "owners.yaml").write_text(
        "owners:\n  - id: owner-0\n    display_name: Owner Zero\n"
        "    email: zero@example.com\n    monthly_budget: 1234.5\n"
    )
    report = _refresh(data_dir)
    assert not report.unchanged
    assert _snapshot_value(data_dir, "SELECT budget FROM budgets WHERE owner = 'owner-0'") == (
        Decimal("1234.50")
    )


def test_a_new_anomaly_mark_rebuilds_the_snapshot(
    data_dir: Path,
) -> None:
    from costlens.anomalies.feedback import mark_anomaly

    first = _refresh(data_dir)
    settings = _settings(data_dir)
    event = _snapshot_value(
        data_dir, "SELECT min(anomaly_id) FROM anomalies WHERE incident_id = anomaly_id"
    )
    mark_anomaly(settings.state_database_url, event, "planned", note="load test", by="ana")
    marked = _refresh(data_dir)  # the state database was written: its marks are compared
    assert not marked.unchanged
    assert marked.open_anomalies == first.open_anomalies - 1
    assert _snapshot_value(
        data_dir, f"SELECT feedback FROM anomalies WHERE anomaly_id = '{event}'"
    ) == "planned"  # fmt: skip
    again = _refresh(data_dir)
    assert (again.unchanged, again.open_anomalies) == (True, marked.open_anomalies)


def test_stored_order_is_the_order_queries_ask_for(data_dir: Path) -> None:
    """Queries drop ORDER BY on a snapshot of this layout: the rows must already be in it."""
    _refresh(data_dir)
    with q.open_snapshot(data_dir) as snap:
        assert snap.presorted
        events = q.anomalies(snap, include_marked=True, incidents=False)
        assert len(events) >= 2, "too few events to show an order"
        calls = {
            "anomalies": lambda: q.anomalies(snap, include_marked=True, incidents=False),
            "root_cause": lambda: q.anomaly_root_cause(snap, events["anomaly_id"][0]),
            "days": lambda: q.anomaly_days(snap, events["anomaly_id"][1]),
            "forecasts": lambda: q.forecasts(snap),
            "forecasts_unblended": lambda: q.forecasts(snap, cost_type="unblended"),
            "health": lambda: q.allocation_health(snap),
            "health_amortized": lambda: q.allocation_health(snap, cost_type="amortized"),
            "untagged": lambda: q.untagged_resources(snap, limit=5),
        }
        stored = {name: call() for name, call in calls.items()}
        snap.presorted = False  # the same questions with their ORDER BY (and SQL shares)
        for name, call in calls.items():
            ordered = call()
            assert len(ordered) >= 2, name
            pd.testing.assert_frame_equal(stored[name], ordered, check_exact=True, obj=name)


def test_redelivered_month_rebuilds_only_that_month(data_dir: Path) -> None:
    _refresh(data_dir)
    with open_warehouse(data_dir) as wh:
        _deliver(wh.con, MAR, "d-mar-2", scale="0.1100000003")
    report = _refresh(data_dir)
    assert (report.rebuilt_periods, report.reused_periods) == (1, 2)
    assert _rebuilt(data_dir) == {MAR}
    with open_warehouse(data_dir, read_only=True) as wh:
        want = wh.con.execute(
            "SELECT SUM(unblended_cost) FROM allocations WHERE billing_period = $p", {"p": MAR}
        ).fetchall()
    assert _snapshot_value(
        data_dir, "SELECT SUM(unblended_cost) FROM daily WHERE billing_period = DATE '2024-03-01'"
    ) == want[0][0]  # fmt: skip
    _same_as_full(data_dir)


def test_restated_closed_month_rebuilds_it(data_dir: Path) -> None:
    _refresh(data_dir)
    with open_warehouse(data_dir) as wh:
        _deliver(wh.con, JAN, "d-jan-restated", scale="0.0900000007")
    _refresh(data_dir)
    assert _rebuilt(data_dir) == {JAN}
    _same_as_full(data_dir)


_ADJUSTMENT = """
INSERT INTO adjustments (adjustment_id, billing_period, owner, microservice, payer_account_id,
  invoice_id, account_id, service_code, unblended_cost, amortized_cost, net_amortized_cost,
  list_cost, delivery_id, recorded_at)
VALUES ('adj-1', $p, 'owner-0', 'ms-0', '999', '', 'acct-0', 'AmazonEC2', 12.34, 0, 0, 0,
  'd-jan-restated', TIMESTAMP '2024-04-02 00:00:00')
"""


def test_restated_closed_month_is_rebuilt_once_then_reused(data_dir: Path) -> None:
    # A closed January restated by +$12.34: its allocations stay frozen, the ledger holds the
    # restated totals and the difference is an adjustment (as costlens.closing records it).
    _refresh(data_dir)
    with open_warehouse(data_dir) as wh:
        wh.con.execute(
            "UPDATE deliveries SET status = 'superseded' WHERE billing_period = $p", {"p": JAN}
        )
        wh.con.execute(_LEDGER, {"id": "d-jan-restated", "period": JAN})
        wh.con.execute(
            "UPDATE deliveries SET total_unblended_cost = total_unblended_cost + 12.34"
            " WHERE delivery_id = 'd-jan-restated'"
        )
        wh.con.execute(_ADJUSTMENT, {"p": JAN})
    _refresh(data_dir)
    assert _rebuilt(data_dir) == {JAN}  # a new delivery: rebuilt once
    with open_warehouse(data_dir) as wh:
        _deliver(wh.con, MAR, "d-mar-2", scale="0.1100000003")
    _refresh(data_dir)
    assert _rebuilt(data_dir) == {MAR}  # frozen + adjustments = ledger: January is re-used
    _same_as_full(data_dir)


def test_new_rule_set_version_rebuilds_the_periods_it_rewrote(data_dir: Path) -> None:
    _refresh(data_dir)
    with open_warehouse(data_dir) as wh:
        # Re-attributed February with new rules: other owners, same totals.
        wh.con.execute(
            "UPDATE allocations SET rule_version = 'v2', owner = 'owner-9' "
            "WHERE billing_period = $p AND microservice = 'ms-1'",
            {"p": FEB},
        )
        wh.con.execute("UPDATE allocations SET rule_version = 'v2' WHERE billing_period = $p",
                       {"p": FEB})  # fmt: skip
    report = _refresh(data_dir)
    assert _rebuilt(data_dir) == {FEB}
    assert report.rule_set_version == "v1,v2"
    assert _snapshot_value(data_dir, "SELECT count(*) FROM daily WHERE owner = 'owner-9'") > 0
    _same_as_full(data_dir)
    with open_warehouse(data_dir) as wh:
        wh.con.execute("UPDATE allocations SET rule_version = 'v3'")
    _refresh(data_dir)
    assert _rebuilt(data_dir) == {JAN, FEB, MAR}


def test_allocations_that_disagree_with_the_ledger_are_rebuilt(data_dir: Path) -> None:
    _refresh(data_dir)
    with open_warehouse(data_dir) as wh:
        # Same deliveries, version and rows, different money (a refresh ran between ingest and
        # attribute): the previous cube no longer ties to the ledger, so it is not trusted.
        wh.con.execute(
            "UPDATE deliveries SET total_unblended_cost = total_unblended_cost + 0.0000000001 "
            "WHERE billing_period = $p AND status = 'current'",
            {"p": FEB},
        )
    _refresh(data_dir)
    assert _rebuilt(data_dir) == {FEB}


def test_periods_without_a_ledger_are_always_rebuilt(data_dir: Path) -> None:
    with open_warehouse(data_dir) as wh:
        wh.con.execute("DELETE FROM deliveries WHERE billing_period = $p", {"p": MAR})
    _refresh(data_dir)
    _touch_warehouse(data_dir)
    second = _refresh(data_dir)
    assert _rebuilt(data_dir) == {MAR}
    assert (second.rebuilt_periods, second.reused_periods) == (1, 2)
    _same_as_full(data_dir)


def test_cli_refresh_full_rebuilds_every_period(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from typer.testing import CliRunner

    from costlens.cli import app

    monkeypatch.setenv("COSTLENS_DATA_DIR", str(data_dir))
    monkeypatch.setenv("COSTLENS_RULES", str(data_dir / "rules.yaml"))
    monkeypatch.setenv("COSTLENS_OWNERS", str(data_dir / "owners.yaml"))
    runs = []
    for args in (["refresh", "--json"], ["refresh", "--json"], ["refresh", "--json", "--full"]):
        result = CliRunner().invoke(app, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        summary = json.loads(result.output)
        runs.append((summary["rebuilt_periods"], summary["reused_periods"]))
    assert runs == [(3, 0), (0, 3), (3, 0)]
    assert _rebuilt(data_dir) == {JAN, FEB, MAR}
