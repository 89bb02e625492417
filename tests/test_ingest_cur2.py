"""CUR 2.0 exports in AWS's layout: normalization, amortization, restatement, ledger."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
from test_ingest_support import Line, total, write_cur2_export

from costlens.config import Settings
from ingest import ingest

NOV = date(2024, 11, 1)
DEC = date(2024, 12, 1)

# Amortized cost per DESIGN.md's CASE, worked out by hand for each line below.
AMORTIZATION_CASES = [
    (Line("Usage", "10.00"), "10.00"),
    (Line("SavingsPlanCoveredUsage", "5.00", sp_effective_cost="3.00"), "3.00"),
    (Line("SavingsPlanNegation", "-5.00"), "0"),
    (
        Line("SavingsPlanRecurringFee", "7.00", sp_total_commitment="7.00", sp_used_commitment="6"),
        "1.00",
    ),
    (Line("DiscountedUsage", "4.00", ri_effective_cost="2.50"), "2.50"),
    (Line("RIFee", "20.00", ri_unused_upfront="1.25", ri_unused_recurring="0.75"), "2.00"),
    (Line("Fee", "100.00", reservation_arn="arn:aws:ec2:us-east-1:1:reserved-instances/x"), "0"),
    (Line("Tax", "0.50"), "0.50"),
    (Line("Usage", "0.25", pricing_term="Spot", usage_type="USE1-SpotUsage:c5.large"), "0.25"),
]


def _rows(data_dir: Path, sql: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_amortization_charge_category_purchase_option(tmp_path: Path, data_dir: Path) -> None:
    lines = [line for line, _ in AMORTIZATION_CASES]
    write_cur2_export(tmp_path, "cur2", NOV, lines, "exec-1")
    ingest(Settings(data_dir=data_dir), str(tmp_path))
    got = _rows(
        data_dir,
        "SELECT line_item_type, unblended_cost, amortized_cost, charge_category, purchase_option"
        " FROM line_items",
    )
    by_type = {(r[0], r[1]): r[2:] for r in got}
    assert len(got) == len(AMORTIZATION_CASES)
    for line, amortized in AMORTIZATION_CASES:
        row = by_type[(line.line_item_type, Decimal(line.unblended_cost))]
        assert row[0] == Decimal(amortized), line
    categories = {(r[0], r[3], r[4]) for r in got}
    assert categories == {
        ("Usage", "Usage", "OnDemand"),
        ("Usage", "Usage", "Spot"),
        ("SavingsPlanCoveredUsage", "Usage", "SavingsPlan"),
        ("SavingsPlanNegation", "Usage", "SavingsPlan"),
        ("SavingsPlanRecurringFee", "Purchase", "SavingsPlan"),
        ("DiscountedUsage", "Usage", "Reserved"),
        ("RIFee", "Purchase", "Reserved"),
        ("Fee", "Purchase", "OnDemand"),
        ("Tax", "Tax", "OnDemand"),
    }
    [(unblended, amortized_sum)] = _rows(
        data_dir, "SELECT SUM(unblended_cost), SUM(amortized_cost) FROM line_items"
    )
    assert unblended == Decimal("141.75")
    assert amortized_sum == Decimal("19.25")


def test_tags_map_keys_are_normalized(tmp_path: Path, data_dir: Path) -> None:
    lines = [
        Line(tags={"user_CostCenter": "cc-1", "aws_createdBy": "alice", "user_team": ""}),
        Line(tags={}),
    ]
    write_cur2_export(tmp_path, "cur2", NOV, lines, "exec-1")
    ingest(Settings(data_dir=data_dir), str(tmp_path))
    tags = _rows(
        data_dir,
        "SELECT map_keys(tags), map_values(tags) FROM line_items ORDER BY cardinality(tags)",
    )
    assert tags == [([], []), (["cost_center", "aws_created_by"], ["cc-1", "alice"])]
    [(service, region, name)] = _rows(
        data_dir, "SELECT DISTINCT service_name, region, account_name FROM line_items"
    )
    assert (service, region, name) == (
        "Amazon Elastic Compute Cloud",
        "us-east-1",
        "acct-111111111111",
    )


def test_restatement_replaces_only_that_period(tmp_path: Path, data_dir: Path) -> None:
    settings = Settings(data_dir=data_dir)
    nov = [Line(unblended_cost="1.10"), Line(unblended_cost="2.20")]
    dec = [Line(unblended_cost="5.00")]
    write_cur2_export(tmp_path, "cur2", NOV, nov, "exec-nov-1")
    write_cur2_export(tmp_path, "cur2", DEC, dec, "exec-dec-1")
    first = ingest(settings, str(tmp_path))
    assert [(str(d.billing_period), d.status) for d in first.deliveries] == [
        ("2024-11-01", "new"),
        ("2024-12-01", "new"),
    ]
    restated = [Line(unblended_cost="1.10"), Line(unblended_cost="2.25"), Line("Credit", "-0.35")]
    write_cur2_export(tmp_path, "cur2", NOV, restated, "exec-nov-2")
    second = ingest(settings, str(tmp_path))
    assert [(str(d.billing_period), d.status) for d in second.deliveries] == [
        ("2024-11-01", "replaced"),
        ("2024-12-01", "unchanged"),
    ]
    assert second.deliveries[0].totals["unblended_cost"] == total(restated) == Decimal("3.00")
    sums = dict(
        _rows(data_dir, "SELECT billing_period, SUM(unblended_cost) FROM line_items GROUP BY 1")
    )
    assert sums == {NOV: Decimal("3.00"), DEC: Decimal("5.00")}
    ledger = _rows(
        data_dir,
        "SELECT billing_period, assembly_id, status, row_count, total_unblended_cost"
        " FROM deliveries ORDER BY billing_period, status",
    )
    assert ledger == [
        (NOV, "exec-nov-2", "current", 3, Decimal("3.00")),
        (NOV, "exec-nov-1", "superseded", 2, Decimal("3.30")),
        (DEC, "exec-dec-1", "current", 1, Decimal("5.00")),
    ]
