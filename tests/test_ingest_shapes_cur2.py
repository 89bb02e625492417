"""CUR 2.0 in the shapes AWS Data Exports delivers it: per-period totals equal the files' sums.

- gzip CSV (the Data Exports "CSV" option): ``resource_tags``, ``product``, ``cost_category`` and
  ``discount`` are JSON text; two data files per period under one manifest.
- Parquet with the optional column groups left out (no ``savings_plan_*``, no ``reservation_*``,
  no ``line_item_usage_account_name``), costs as ``double`` as AWS writes them.

Expected totals are computed here from the files' own text with ``decimal`` (each value rounded
half away from zero to 10 places, the documented storage rule), never with costlens.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from helpers import totals_by_period

from costlens.config import Settings
from costlens.schema import COST_COLUMNS
from ingest import ingest

TEN_PLACES = Decimal("1e-10")

CSV_HEADER = [
    "bill_bill_type",
    "bill_billing_entity",
    "bill_billing_period_end_date",
    "bill_billing_period_start_date",
    "bill_invoice_id",
    "bill_payer_account_id",
    "bill_payer_account_name",
    "cost_category",
    "discount",
    "discount_total_discount",
    "identity_line_item_id",
    "identity_time_interval",
    "line_item_currency_code",
    "line_item_line_item_type",
    "line_item_net_unblended_cost",
    "line_item_operation",
    "line_item_product_code",
    "line_item_resource_id",
    "line_item_unblended_cost",
    "line_item_usage_account_id",
    "line_item_usage_account_name",
    "line_item_usage_amount",
    "line_item_usage_end_date",
    "line_item_usage_start_date",
    "line_item_usage_type",
    "pricing_public_on_demand_cost",
    "pricing_term",
    "pricing_unit",
    "product",
    "product_instance_type",
    "product_region_code",
    "product_servicecode",
    "reservation_effective_cost",
    "reservation_reservation_a_r_n",
    "resource_tags",
    "savings_plan_savings_plan_effective_cost",
    "savings_plan_total_commitment_to_date",
    "savings_plan_used_commitment",
]

EC2_PRODUCT = json.dumps({"servicename": "Amazon Elastic Compute Cloud", "region": "us-east-1"})
S3_PRODUCT = json.dumps({"servicename": "Amazon Simple Storage Service", "storage_class": "x"})


def _row(period: date, n: int, **values: str) -> dict[str, str]:
    start = f"{period:%Y-%m-%d}T00:00:00.000Z"
    end = f"{_next(period):%Y-%m-%d}T00:00:00.000Z"
    row = dict.fromkeys(CSV_HEADER, "")
    row.update(
        bill_bill_type="Anniversary",
        bill_billing_entity="AWS",
        bill_billing_period_start_date=start,
        bill_billing_period_end_date=end,
        bill_payer_account_id="999999999999",
        bill_payer_account_name="payer",
        cost_category=json.dumps({"team": "platform"}),
        discount="{}",
        identity_line_item_id=f"li{n}",
        identity_time_interval=f"{start}/{start}",
        line_item_currency_code="USD",
        line_item_line_item_type="Usage",
        line_item_operation="RunInstances",
        line_item_product_code="AmazonEC2",
        line_item_usage_account_id="111111111111",
        line_item_usage_account_name="prod",
        line_item_usage_amount="1.0",
        line_item_usage_start_date=start,
        line_item_usage_end_date=start,
        line_item_usage_type="USE1-BoxUsage:m5.large",
        pricing_term="OnDemand",
        pricing_unit="Hrs",
        product=EC2_PRODUCT,
        product_region_code="us-east-1",
        resource_tags="{}",
    )
    row.update(values)
    return row


def _next(period: date) -> date:
    return date(period.year + period.month // 12, period.month % 12 + 1, 1)


NOV, DEC = date(2024, 11, 1), date(2024, 12, 1)

NOV_PART_1 = [
    _row(
        NOV,
        1,
        line_item_unblended_cost="0.0123456789",
        line_item_net_unblended_cost="0.0111111111",
        pricing_public_on_demand_cost="0.0200000000",
        resource_tags=json.dumps({"user_team": "core", "user_CostCenter": "cc-1"}),
    ),
    _row(NOV, 2, line_item_unblended_cost="1.2E-5", line_item_net_unblended_cost="1.0E-5"),
    _row(
        NOV,
        3,
        line_item_unblended_cost="12345.6789",
        line_item_net_unblended_cost="12000.0001",
        resource_tags="",
        product=S3_PRODUCT,
        line_item_product_code="AmazonS3",
        product_region_code="eu-west-1",
    ),
    _row(NOV, 4, line_item_line_item_type="Credit", line_item_unblended_cost="-0.35"),
]
NOV_PART_2 = [
    _row(
        NOV,
        5,
        line_item_line_item_type="SavingsPlanCoveredUsage",
        line_item_unblended_cost="0.096",
        line_item_net_unblended_cost="0.096",
        savings_plan_savings_plan_effective_cost="0.0612345",
        resource_tags=json.dumps({"user_team": "data", "aws_createdBy": "Root:1"}),
    ),
    _row(
        NOV,
        6,
        line_item_line_item_type="SavingsPlanNegation",
        line_item_unblended_cost="-0.096",
        line_item_net_unblended_cost="-0.096",
    ),
    _row(NOV, 7, line_item_line_item_type="Tax", line_item_unblended_cost="0.5"),
]
DEC_PART_1 = [_row(DEC, 8, line_item_unblended_cost="2.5E+3", resource_tags="NULL")]


def _csv_gz(rows: list[dict[str, str]]) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_HEADER, quoting=csv.QUOTE_MINIMAL)
    writer.writeheader()
    writer.writerows(rows)
    return gzip.compress(buf.getvalue().encode())


def _write_csv_export(root: Path, export: str, period: date, parts: list[bytes]) -> None:
    """``<export>/data/BILLING_PERIOD=YYYY-MM/<export>-0000N.csv.gz`` + the period manifest."""
    partition = f"BILLING_PERIOD={period:%Y-%m}"
    data_dir = root / export / "data" / partition
    meta_dir = root / export / "metadata" / partition
    data_dir.mkdir(parents=True)
    meta_dir.mkdir(parents=True)
    keys = []
    for i, body in enumerate(parts, start=1):
        name = f"{export}-{i:05d}.csv.gz"
        (data_dir / name).write_bytes(body)
        keys.append(f"s3://billing/exports/{export}/data/{partition}/{name}")
    manifest = {"executionId": f"exec-{period:%Y%m}", "exportName": export, "dataFiles": keys}
    (meta_dir / f"{export}-Manifest.json").write_text(json.dumps(manifest))


def _exact(text: str) -> Decimal:
    """A cost as stored: the text's exact value rounded half away from zero to 10 places."""
    return Decimal(text or "0").quantize(TEN_PLACES, rounding=ROUND_HALF_UP)


def _amortized(row: dict[str, str]) -> Decimal:
    """DESIGN.md's amortization for the line types used here, by hand."""
    kind = row["line_item_line_item_type"]
    if kind == "SavingsPlanCoveredUsage":
        return _exact(row["savings_plan_savings_plan_effective_cost"])
    if kind == "SavingsPlanNegation":
        return Decimal(0)
    return _exact(row["line_item_unblended_cost"])


def _sums_from_text(files: list[Path]) -> dict[tuple[str, str], Decimal]:
    """Per (period, cost column) sums read from the gzip CSV text with ``csv`` + ``decimal``."""
    sums: dict[tuple[str, str], Decimal] = {}
    for path in files:
        with gzip.open(path, "rt", newline="") as fh:
            for row in csv.DictReader(fh):
                period = row["bill_billing_period_start_date"][:10]
                net_source = row["line_item_net_unblended_cost"] or row["line_item_unblended_cost"]
                net = _amortized({**row, "line_item_unblended_cost": net_source})
                for column, value in (
                    ("unblended_cost", _exact(row["line_item_unblended_cost"])),
                    ("amortized_cost", _amortized(row)),
                    ("net_amortized_cost", net),
                    ("list_cost", _exact(row["pricing_public_on_demand_cost"])),
                ):
                    sums[period, column] = sums.get((period, column), Decimal(0)) + value
    return sums


def _stored_sums(data_dir: Path) -> dict[tuple[str, str], Decimal]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return totals_by_period(con, "line_items")


def test_cur2_gzip_csv_with_json_columns_totals_to_the_last_decimal(
    tmp_path: Path, data_dir: Path
) -> None:
    root = tmp_path / "exports"
    _write_csv_export(root, "cur2-csv", NOV, [_csv_gz(NOV_PART_1), _csv_gz(NOV_PART_2)])
    _write_csv_export(root, "cur2-csv", DEC, [_csv_gz(DEC_PART_1)])
    report = ingest(Settings(data_dir=data_dir), str(root))

    want = _sums_from_text(sorted(root.rglob("*.csv.gz")))
    assert want["2024-11-01", "unblended_cost"] == Decimal("12345.8412576789")
    assert _stored_sums(data_dir) == want
    assert [(d.format, str(d.billing_period), d.rows, d.status) for d in report.deliveries] == [
        ("cur2", "2024-11-01", 7, "new"),
        ("cur2", "2024-12-01", 1, "new"),
    ]
    for d in report.deliveries:  # the ledger records the same exact totals
        assert d.totals == {c: want[str(d.billing_period), c] for c in COST_COLUMNS}

    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT usage_type, service_name, region, tags, purchase_option FROM line_items"
            " WHERE line_item_type IN ('Usage', 'SavingsPlanCoveredUsage')"
            " ORDER BY unblended_cost"
        ).fetchall()
    ec2 = ("USE1-BoxUsage:m5.large", "Amazon Elastic Compute Cloud", "us-east-1")
    assert rows == [
        (*ec2, {}, "OnDemand"),  # 1.2E-5
        (*ec2, {"team": "core", "cost_center": "cc-1"}, "OnDemand"),
        (*ec2, {"team": "data", "aws_created_by": "Root:1"}, "SavingsPlan"),
        (*ec2, {}, "OnDemand"),  # 2.5E+3 in December, resource_tags written as NULL
        ("USE1-BoxUsage:m5.large", "Amazon Simple Storage Service", "eu-west-1", {}, "OnDemand"),
    ]


def _parquet_without_optional_groups(period: date, costs: list[float]) -> pa.Table:
    """CUR 2.0 Parquet as exported with only the required columns ticked."""
    start = datetime(period.year, period.month, 1)
    n = len(costs)
    tags = [[("user_team", "core")], [], [("user_team", ""), ("user_Team", "ops")]]
    return pa.table(
        {
            "bill_billing_period_start_date": pa.array([start] * n, pa.timestamp("ms")),
            "bill_payer_account_id": ["999999999999"] * n,
            "line_item_usage_account_id": ["111111111111"] * n,
            "line_item_line_item_type": ["Usage"] * (n - 1) + ["Fee"],
            "line_item_usage_start_date": pa.array([start] * n, pa.timestamp("ms")),
            "line_item_usage_end_date": pa.array([start] * n, pa.timestamp("ms")),
            "line_item_product_code": ["AmazonEC2"] * n,
            "line_item_usage_type": ["USE1-BoxUsage:m5.large"] * n,
            "line_item_unblended_cost": pa.array(costs, pa.float64()),
            "pricing_public_on_demand_cost": pa.array(costs, pa.float64()),
            "resource_tags": pa.array(
                [tags[i % 3] for i in range(n)], pa.map_(pa.string(), pa.string())
            ),
            "product": pa.array(
                [[("servicename", "Amazon Elastic Compute Cloud")]] * n,
                pa.map_(pa.string(), pa.string()),
            ),
        }
    )


def test_cur2_parquet_without_optional_columns(tmp_path: Path, data_dir: Path) -> None:
    # Large doubles are where a direct DOUBLE -> DECIMAL cast goes wrong in the last places
    # (1234567.89 would be stored as 1234567.8899999998).
    costs = [1234567.89, 9379764.970605, 0.0000012345, 0.1, 0.2, 3794661.4686304047]
    folder = tmp_path / "cur2" / "data" / "BILLING_PERIOD=2024-11"
    folder.mkdir(parents=True)
    pq.write_table(_parquet_without_optional_groups(NOV, costs), folder / "cur2-00001.parquet")
    report = ingest(Settings(data_dir=data_dir), str(tmp_path / "cur2"))

    # Each double is taken at its shortest decimal spelling, as Python's repr writes it.
    want = sum((_exact(repr(c)) for c in costs), Decimal(0))
    assert want == Decimal("14408994.6292366392")
    [result] = report.deliveries
    assert (result.format, result.rows) == ("cur2", 6)
    # no savings_plan_* / reservation_* columns: amortized is unblended; a Fee with no
    # reservation ARN column is a plain fee
    assert result.totals == {c: want for c in COST_COLUMNS}
    assert _stored_sums(data_dir) == {("2024-11-01", c): want for c in COST_COLUMNS}
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT unblended_cost, account_name, tags FROM line_items ORDER BY unblended_cost"
        ).fetchall()
    # no line_item_usage_account_name column: '' (absent and empty are both '')
    assert rows[-1][:2] == (Decimal("9379764.9706050000"), "")
    ops, core = {"team": "ops"}, {"team": "core"}  # user_team '' loses to user_Team 'ops'
    assert [r[2] for r in rows] == [ops, core, {}, core, ops, {}]
