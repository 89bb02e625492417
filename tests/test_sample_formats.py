"""The four sample formats of one seed carry the same money; legacy CUR layout and columns."""

from __future__ import annotations

import gzip
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from costlens.sample import generate_sample
from costlens.sample.generate import SampleResult

END = date(2024, 3, 1)
ARGS = {"months": 2, "seed": 5, "scale": 0.02, "end_month": END}


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, SampleResult]:
    root = tmp_path_factory.mktemp("formats")
    return {
        fmt: generate_sample(root / fmt, format=fmt, **ARGS)  # type: ignore[arg-type]
        for fmt in ("cur2", "cur1-csv", "cur1-parquet", "focus")
    }


def _files(result: SampleResult, suffix: str) -> list[str]:
    return [str(p) for p in result.files if p.name.endswith(suffix)]


CATEGORY = """CASE WHEN t IN ('Usage', 'DiscountedUsage', 'SavingsPlanCoveredUsage',
    'SavingsPlanNegation') THEN 'Usage' WHEN t IN ('Fee', 'RIFee', 'SavingsPlanRecurringFee')
    THEN 'Purchase' WHEN t = 'Tax' THEN 'Tax' WHEN t = 'Credit' THEN 'Credit'
    ELSE 'Adjustment' END"""


def _by_type(con: duckdb.DuckDBPyConnection, sql: str) -> dict[tuple[str, str], Decimal]:
    return {(str(p)[:10], t): Decimal(v) for p, t, v in con.execute(sql).fetchall()}


@pytest.mark.slow
def test_same_money_per_month_and_line_item_type_in_every_format(
    samples: dict[str, SampleResult],
) -> None:
    con = duckdb.connect()
    cur2 = _by_type(
        con,
        f"""
        SELECT bill_billing_period_start_date, line_item_line_item_type,
               SUM(line_item_unblended_cost)
        FROM read_parquet({_files(samples["cur2"], ".parquet")}) GROUP BY ALL""",
    )
    csv = _by_type(
        con,
        f"""
        SELECT "bill/BillingPeriodStartDate", "lineItem/LineItemType",
               SUM(CAST("lineItem/UnblendedCost" AS DECIMAL(18,10)))
        FROM read_csv({_files(samples["cur1-csv"], ".csv.gz")}, all_varchar = true,
                      union_by_name = true)
        GROUP BY ALL""",
    )
    parquet = _by_type(
        con,
        f"""
        SELECT bill_billing_period_start_date, line_item_line_item_type,
               SUM(line_item_unblended_cost)
        FROM read_parquet({_files(samples["cur1-parquet"], "0001.snappy.parquet")},
                          union_by_name = true) GROUP BY ALL""",
    )
    assert len(cur2) >= 12
    assert cur2 == parquet
    assert {(p, t): v for (p, t), v in csv.items()} == cur2
    by_category: dict[tuple[str, str], Decimal] = {}
    for (p, t), v in cur2.items():
        key = (p, con.execute(f"SELECT {CATEGORY} FROM (SELECT $t AS t)", {"t": t}).fetchone()[0])  # type: ignore[index]
        by_category[key] = by_category.get(key, Decimal(0)) + v
    focus = _by_type(
        con,
        f"""
        SELECT BillingPeriodStart, ChargeCategory, SUM(BilledCost)
        FROM read_parquet({_files(samples["focus"], ".parquet")}) GROUP BY ALL""",
    )
    assert focus == by_category
    effective = con.execute(f"""
        SELECT SUM(EffectiveCost), SUM(ListCost)
        FROM read_parquet({_files(samples["focus"], ".parquet")})""").fetchone()
    cur2_list = con.execute(f"""
        SELECT SUM(pricing_public_on_demand_cost)
        FROM read_parquet({_files(samples["cur2"], ".parquet")})""").fetchone()
    assert effective is not None and cur2_list is not None and effective[1] == cur2_list[0]


def test_legacy_csv_header_values_and_savings_plan_columns_by_month(
    samples: dict[str, SampleResult],
) -> None:
    feb, mar = _files(samples["cur1-csv"], ".csv.gz")
    with gzip.open(feb, "rt") as f:
        feb_header, feb_row = f.readline().rstrip("\n").split(","), f.readline()
    with gzip.open(mar, "rt") as f:
        mar_header = f.readline().rstrip("\n").split(",")
    assert feb_header[:3] == ["identity/LineItemId", "identity/TimeInterval", "bill/InvoiceId"]
    assert "lineItem/UnblendedCost" in feb_header and "resourceTags/user:team" in feb_header
    # Savings Plans start on 10 March: no savingsPlan/* columns in February.
    assert not [c for c in feb_header if c.startswith("savingsPlan/")]
    assert "savingsPlan/SavingsPlanEffectiveCost" in mar_header
    assert "2024-02-01T00:00:00.000Z" in feb_row


@pytest.mark.slow
def test_legacy_manifests_point_at_the_right_assembly(
    samples: dict[str, SampleResult], tmp_path: Path
) -> None:
    result = generate_sample(tmp_path, format="cur1-csv", restate=True, **ARGS)  # type: ignore[arg-type]
    period = tmp_path / "costlens-cur1" / "20240301-20240401"
    manifest = json.loads((period / "costlens-cur1-Manifest.json").read_text())
    assert manifest["assemblyId"] == result.deliveries[-1] != result.deliveries[-2]
    assemblies = sorted(p.name for p in period.iterdir() if p.is_dir())
    assert assemblies == sorted(result.deliveries[-2:])
    assert manifest["reportKeys"] == [
        f"costlens-cur1/20240301-20240401/{result.deliveries[-1]}/costlens-cur1-00001.csv.gz"
    ]
    assert manifest["billingPeriod"] == {
        "start": "20240301T000000.000Z",
        "end": "20240401T000000.000Z",
    }
    # OVERWRITE mode: data directly in the period folder, replaced by the restatement.
    over = generate_sample(tmp_path / "o", format="cur1-csv", restate=True, overwrite=True, **ARGS)  # type: ignore[arg-type]
    period = tmp_path / "o" / "costlens-cur1" / "20240301-20240401"
    assert sorted(p.name for p in period.iterdir()) == [
        "costlens-cur1-00001.csv.gz", "costlens-cur1-Manifest.json"
    ]  # fmt: skip
    assert over.line_items == result.line_items


def test_legacy_parquet_has_athena_names_and_status(samples: dict[str, SampleResult]) -> None:
    con = duckdb.connect()
    first = _files(samples["cur1-parquet"], "0001.snappy.parquet")[0]
    names = [
        r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{first}')").fetchall()
    ]
    assert {
        "line_item_unblended_cost",
        "resource_tags_user_team",
        "reservation_reservation_a_r_n",
    } <= set(names)
    empty = con.execute(
        f"SELECT count(*) FROM read_parquet('{first}') WHERE resource_tags_user_team IS NULL"
    ).fetchone()
    assert empty == (0,)
    status = _files(samples["cur1-parquet"], "cost_and_usage_data_status.parquet")[0]
    assert con.execute(f"SELECT status FROM read_parquet('{status}')").fetchall() == [("READY",)]
