"""The sample generator's CUR 2.0 output: layout, manifests, money identities, labels, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from costlens.cli import app
from costlens.sample import generate_sample
from costlens.sample.generate import SampleResult

END = date(2024, 3, 1)
EXPORT = "costlens-cur2"


@pytest.fixture(scope="module")
def cur2(tmp_path_factory: pytest.TempPathFactory) -> SampleResult:
    out = tmp_path_factory.mktemp("cur2")
    return generate_sample(out, format="cur2", months=2, seed=3, scale=0.02, end_month=END)


def _data(result: SampleResult) -> str:
    root = result.labels_path.parent / EXPORT / "data"
    return f"read_parquet('{root}/*/*.parquet', hive_partitioning = false)"


def test_layout_and_manifests_list_exactly_the_files_written(cur2: SampleResult) -> None:
    root = cur2.labels_path.parent / EXPORT
    assert cur2.periods == [date(2024, 2, 1), date(2024, 3, 1)]
    for period in ("2024-02", "2024-03"):
        manifest_path = root / "metadata" / f"BILLING_PERIOD={period}" / f"{EXPORT}-Manifest.json"
        manifest = json.loads(manifest_path.read_text())
        on_disk = sorted(
            p.relative_to(cur2.labels_path.parent).as_posix()
            for p in (root / "data" / f"BILLING_PERIOD={period}").iterdir()
        )
        assert (
            sorted(manifest["dataFiles"])
            == on_disk
            == [f"{EXPORT}/data/BILLING_PERIOD={period}/{EXPORT}-00001.snappy.parquet"]
        )
        assert manifest["billingPeriod"]["start"] == f"{period}-01T00:00:00.000Z"
        assert manifest["executionId"] in cur2.deliveries
        names = {c["name"] for c in manifest["columns"]}
        assert {"line_item_unblended_cost", "resource_tags", "product", "cost_category"} <= names
    assert set(cur2.files) == {p for p in root.rglob("*") if p.is_file()}


def test_parses_with_duckdb_with_exact_decimal_costs_and_map_tags(cur2: SampleResult) -> None:
    con = duckdb.connect()
    types = dict(
        con.execute(
            f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM {_data(cur2)})"
        ).fetchall()
    )
    assert types["line_item_unblended_cost"] == "DECIMAL(18,10)"
    assert types["savings_plan_savings_plan_effective_cost"] == "DECIMAL(18,10)"
    assert types["resource_tags"] == "MAP(VARCHAR, VARCHAR)"
    assert types["bill_billing_period_start_date"] == "TIMESTAMP"
    rows = con.execute(f"SELECT count(*) FROM {_data(cur2)}").fetchone()
    assert rows is not None and rows[0] == cur2.line_items
    keys = {
        k
        for (k,) in con.execute(
            f"SELECT DISTINCT unnest(map_keys(resource_tags)) FROM {_data(cur2)}"
        ).fetchall()
    }
    assert {"user_team", "user_app"} <= keys


# DESIGN.md's amortized-cost CASE, written independently of the generator.
AMORTIZED = """
CASE line_item_line_item_type
    WHEN 'SavingsPlanCoveredUsage' THEN savings_plan_savings_plan_effective_cost
    WHEN 'SavingsPlanRecurringFee' THEN savings_plan_total_commitment_to_date
                                        - savings_plan_used_commitment
    WHEN 'SavingsPlanNegation' THEN 0
    WHEN 'SavingsPlanUpfrontFee' THEN 0
    WHEN 'DiscountedUsage' THEN reservation_effective_cost
    WHEN 'RIFee' THEN reservation_unused_amortized_upfront_fee_for_billing_period
                      + reservation_unused_recurring_fee
    ELSE CASE WHEN line_item_line_item_type = 'Fee' AND reservation_reservation_a_r_n <> ''
              THEN 0 ELSE line_item_unblended_cost END
END
"""


def test_amortization_identity_per_period(cur2: SampleResult) -> None:
    """unblended − amortized = upfront fees paid − upfront amortized in the period
    + (Savings Plan commitment used − Savings Plan effective cost), and the last term is 0."""
    con = duckdb.connect()
    rows = con.execute(f"""
        SELECT bill_billing_period_start_date,
            SUM(line_item_unblended_cost), SUM({AMORTIZED}),
            SUM(CASE WHEN line_item_line_item_type IN ('Fee', 'SavingsPlanUpfrontFee')
                      AND (reservation_reservation_a_r_n <> ''
                           OR line_item_line_item_type = 'SavingsPlanUpfrontFee')
                     THEN line_item_unblended_cost ELSE 0 END),
            SUM(CASE WHEN line_item_line_item_type = 'RIFee'
                     THEN reservation_amortized_upfront_fee_for_billing_period ELSE 0 END)
              + SUM(CASE WHEN line_item_line_item_type = 'SavingsPlanRecurringFee' THEN
                    savings_plan_amortized_upfront_commitment_for_billing_period ELSE 0 END),
            COALESCE(SUM(savings_plan_used_commitment), 0),
            COALESCE(SUM(savings_plan_savings_plan_effective_cost), 0)
        FROM {_data(cur2)} GROUP BY 1 ORDER BY 1""").fetchall()
    assert len(rows) == 2
    for _, unblended, amortized, upfront_paid, upfront_amortized, used, effective in rows:
        assert used == effective
        assert unblended - amortized == upfront_paid - upfront_amortized
    # The reservation is bought at the start of the history: its upfront fee is in February.
    assert rows[0][3] > 0 and rows[1][3] == 0


def test_reservation_and_savings_plan_follow_their_rates(cur2: SampleResult) -> None:
    con = duckdb.connect()
    rifee = con.execute(f"""
        SELECT bill_billing_period_start_date, line_item_usage_amount, line_item_unblended_cost,
               reservation_unused_quantity, reservation_unused_recurring_fee
        FROM {_data(cur2)} WHERE line_item_line_item_type = 'RIFee' ORDER BY 1""").fetchall()
    # February 2024 has 29 days = 696 hours; the reservation's recurring fee is $0.11 an hour.
    (_, units_hours, cost, unused_hours, unused_fee), (_, units_hours_mar, *_) = rifee
    units = units_hours / 696
    assert units == int(units) and units_hours_mar == units * 744
    assert cost == Decimal("0.11") * Decimal(696) * Decimal(int(units))
    assert unused_hours == 696 and unused_fee == Decimal("76.56")
    sp_first = con.execute(f"""
        SELECT min(line_item_usage_start_date) FROM {_data(cur2)}
        WHERE line_item_line_item_type LIKE 'SavingsPlan%'""").fetchone()
    assert sp_first is not None and str(sp_first[0]) == "2024-03-10 00:00:00"


def test_labels_match_the_injected_changes(cur2: SampleResult) -> None:
    labels = json.loads(cur2.labels_path.read_text())["anomalies"]
    assert {a["kind"] for a in labels} == {"spike", "level_shift", "slow_drift", "new_service_ramp"}
    con = duckdb.connect()
    for a in labels:
        if a["kind"] == "new_service_ramp":
            continue
        window, before = con.execute(f"""
            SELECT
              SUM(line_item_unblended_cost) FILTER (WHERE line_item_usage_start_date >= $s
                  AND line_item_usage_start_date < $e)
                / CAST(date_diff('hour', $s::TIMESTAMP, $e::TIMESTAMP) // 24 AS DECIMAL(18,0)),
              SUM(line_item_unblended_cost) FILTER (WHERE line_item_usage_start_date
                  >= $s::TIMESTAMP - INTERVAL 14 DAY AND line_item_usage_start_date < $s)
                / CAST(14 AS DECIMAL(18,0))
            FROM {_data(cur2)} WHERE line_item_resource_id = $r AND line_item_usage_type = $u""",
            {"s": a["start"][:-1], "e": a["end"][:-1], "r": a["resource_id"], "u": a["usage_type"]},
        ).fetchone()  # fmt: skip
        impact = Decimal(a["expected_daily_impact_usd"])
        assert impact > 0
        assert abs((Decimal(window) - Decimal(before)) - impact) <= impact * Decimal("0.3"), (
            a,
            window,
            before,
        )


def test_new_service_ramp_label_is_the_new_resources_cost(cur2: SampleResult) -> None:
    """The ramp's baseline is zero (the service did not exist): its label is the cost of the
    resources first billed at its start, per day of the window, and the cost ramps up."""
    (ramp,) = [
        a
        for a in json.loads(cur2.labels_path.read_text())["anomalies"]
        if a["kind"] == "new_service_ramp"
    ]
    assert (ramp["microservice"], ramp["owner"], ramp["resource_id"]) == (
        "checkout-assistant", "checkout", "",
    )  # fmt: skip
    start, end = ramp["start"][:-1], ramp["end"][:-1]
    con = duckdb.connect()
    total, first_day, last_day, before = con.execute(f"""
        WITH lines AS (SELECT * FROM {_data(cur2)}
                       WHERE line_item_line_item_type IN ('Usage', 'SavingsPlanCoveredUsage')
                         AND line_item_usage_account_id = $account),
        new AS (SELECT line_item_resource_id FROM lines GROUP BY 1
                HAVING min(line_item_usage_start_date) >= $s::TIMESTAMP)
        SELECT SUM(line_item_unblended_cost) FILTER (WHERE line_item_usage_start_date < $e),
               SUM(line_item_unblended_cost) FILTER (
                   WHERE line_item_usage_start_date < $s::TIMESTAMP + INTERVAL 1 DAY),
               SUM(line_item_unblended_cost) FILTER (
                   WHERE line_item_usage_start_date >= $e::TIMESTAMP - INTERVAL 1 DAY),
               count(*) FILTER (WHERE line_item_usage_start_date < $s)
        FROM lines WHERE line_item_resource_id IN (SELECT * FROM new)""",
        {"account": ramp["account"], "s": start, "e": end},
    ).fetchone()  # fmt: skip
    assert before == 0 and total > 0
    seconds = (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    days = Decimal(seconds) / Decimal(86400)
    assert (total / days).quantize(Decimal("0.01")) == Decimal(ramp["expected_daily_impact_usd"])
    # It ramps from 10 % towards full size: the last day costs well over twice the first.
    assert last_day > 2 * first_day


def test_same_seed_same_bytes_and_restate_changes_only_the_last_month(
    cur2: SampleResult, tmp_path: Path
) -> None:
    again = generate_sample(
        tmp_path, format="cur2", months=2, seed=3, scale=0.02, end_month=END, restate=True
    )
    first_root, second_root = cur2.labels_path.parent / EXPORT, tmp_path / EXPORT
    feb = f"data/BILLING_PERIOD=2024-02/{EXPORT}-00001.snappy.parquet"
    mar = f"data/BILLING_PERIOD=2024-03/{EXPORT}-00001.snappy.parquet"
    assert (first_root / feb).read_bytes() == (second_root / feb).read_bytes()
    assert (first_root / mar).read_bytes() != (second_root / mar).read_bytes()
    assert len(again.deliveries) == 3 and again.deliveries[:2] == cur2.deliveries
    manifest = json.loads((second_root / "metadata/BILLING_PERIOD=2024-03" /
                           f"{EXPORT}-Manifest.json").read_text())  # fmt: skip
    assert manifest["executionId"] == again.deliveries[2]
    con = duckdb.connect()
    credits = con.execute(
        "SELECT SUM(line_item_unblended_cost), min(bill_invoice_id) FROM read_parquet($p) "
        "WHERE line_item_line_item_type = 'Credit'",
        {"p": str(second_root / mar)},
    ).fetchone()
    assert credits == (Decimal("-325.0000000000"), "0000032403")


def test_cli_json_and_clear_errors(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["generate-sample", str(tmp_path / "out"), "--months", "1", "--scale", "0.01",
         "--end-month", "2024-01", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["periods"] == ["2024-01-01"] and payload["line_items"] > 0
    assert all(Path(f).is_file() for f in payload["files"])
    for args, message in (
        (["--format", "cur3"], "--format: unknown format 'cur3'"),
        (["--months", "0"], "--months: 0 months of history"),
    ):
        proc = subprocess.run(
            [sys.executable, "-m", "costlens", "generate-sample", str(tmp_path / "x"), *args],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert proc.returncode == 1
        assert message in proc.stderr and "Fix:" in proc.stderr
        assert not (tmp_path / "x").exists()
