"""Legacy CUR in the shapes AWS delivers it: per-period totals equal the files' own sums.

- Parquet in the Athena integration's layout:
  ``<prefix>/<report>/<report>/year=2024/month=11/<report>-00001.snappy.parquet``; the period
  manifests and the status file live elsewhere under ``<report>/`` (or are not there at all
  when only the data folder is ingested). Athena column names, ``resource_tags_user_*`` and
  ``resource_tags_aws_created_by`` columns, a column present in one month only.
- CSV variants of one delivery: a ``.zip`` holding one CSV, a UTF-8 BOM before the header,
  ``resourceTags/user:Team`` and ``resourceTags/user:team`` (mixed case, even in one file),
  ``resourceTags/aws:createdBy``, columns in another order, a ``costCategory/...`` column, and a
  column (``savingsPlan/*``) only some files of the month carry.

Expected totals come from the files themselves (``csv`` + ``decimal`` over the text, pyarrow's
values at their shortest spelling for Parquet doubles), never from costlens.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zipfile
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
from helpers import totals_by_period

from costlens.config import Settings
from ingest import ingest

TEN_PLACES = Decimal("1e-10")
REPORT = "athena-cur"


def _exact(text: str) -> Decimal:
    """A cost as stored: its exact value rounded half away from zero to 10 places."""
    return Decimal(text or "0").quantize(TEN_PLACES, rounding=ROUND_HALF_UP)


def _stored(data_dir: Path) -> dict[tuple[str, str], Decimal]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return totals_by_period(con, "line_items")


def _rows(data_dir: Path, sql: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        return con.execute(sql).fetchall()


# ---------------------------------------------------------------- Athena-layout Parquet


def _athena_table(period: date, lines: list[dict[str, object]], *, with_sp: bool) -> pa.Table:
    start = datetime(period.year, period.month, 1)
    n = len(lines)
    cols: dict[str, pa.Array] = {
        "identity_line_item_id": pa.array([f"id{i}" for i in range(n)]),
        "bill_payer_account_id": pa.array(["999999999999"] * n),
        "bill_billing_period_start_date": pa.array([start] * n, pa.timestamp("ms")),
        "line_item_usage_account_id": pa.array(["111111111111"] * n),
        "line_item_line_item_type": pa.array([str(x["type"]) for x in lines]),
        "line_item_usage_start_date": pa.array([start] * n, pa.timestamp("ms")),
        "line_item_usage_end_date": pa.array([start] * n, pa.timestamp("ms")),
        "line_item_product_code": pa.array(["AmazonEC2"] * n),
        "line_item_usage_type": pa.array(["USE1-BoxUsage:m5.large"] * n),
        "line_item_usage_amount": pa.array([1.0] * n),
        "line_item_unblended_cost": pa.array([x["cost"] for x in lines], pa.float64()),
        "pricing_public_on_demand_cost": pa.array([x["cost"] for x in lines], pa.float64()),
        "product_product_name": pa.array(["Amazon Elastic Compute Cloud"] * n),
        "product_region": pa.array(["us-east-1"] * n),
        "resource_tags_aws_created_by": pa.array([str(x.get("created_by", "")) for x in lines]),
    }
    if with_sp:  # savingsPlan/* columns appear only in months with Savings Plans
        cols["savings_plan_savings_plan_effective_cost"] = pa.array(
            [x.get("sp_effective", 0.0) for x in lines], pa.float64()
        )
    else:  # and this tag key was only activated for November
        cols["resource_tags_user_team"] = pa.array([str(x.get("team", "")) for x in lines])
    return pa.table(cols)


NOV_LINES: list[dict[str, object]] = [
    {"type": "Usage", "cost": 0.0123456789, "team": "core", "created_by": "Root:1"},
    {"type": "Usage", "cost": 1234567.89, "team": "data"},
    {"type": "Tax", "cost": 0.5},
]
DEC_LINES: list[dict[str, object]] = [
    {"type": "SavingsPlanCoveredUsage", "cost": 0.096, "sp_effective": 0.0612345},
    {"type": "SavingsPlanNegation", "cost": -0.096},
    {"type": "Usage", "cost": 250000.01, "created_by": "AssumedRole:x"},
]


def _write_athena_report(root: Path) -> list[Path]:
    """The Athena integration's folders under ``root`` = the bucket's prefix ``exports``."""
    data = []
    for period, lines, sp in (
        (date(2024, 11, 1), NOV_LINES, False),
        (date(2024, 12, 1), DEC_LINES, True),
    ):
        folder = root / REPORT / REPORT / f"year={period.year}" / f"month={period.month}"
        folder.mkdir(parents=True)
        path = folder / f"{REPORT}-00001.snappy.parquet"
        pq.write_table(_athena_table(period, lines, with_sp=sp), path, compression="snappy")
        data.append(path)
        end = date(period.year + period.month // 12, period.month % 12 + 1, 1)
        manifest_dir = root / REPORT / f"{period:%Y%m%d}-{end:%Y%m%d}"
        manifest_dir.mkdir(parents=True)
        key = f"exports/{path.relative_to(root).as_posix()}"
        (manifest_dir / f"{REPORT}-Manifest.json").write_text(
            json.dumps({"assemblyId": f"asm-{period:%m}", "reportKeys": [key]})
        )
    status = root / REPORT / "cost_and_usage_data_status"
    status.mkdir(parents=True)
    pq.write_table(pa.table({"status": ["READY"]}), status / "cost_and_usage_data_status.parquet")
    return data


def _parquet_sums(files: list[Path]) -> dict[tuple[str, str], Decimal]:
    """Per (period, column) sums of the Parquet doubles at their shortest spelling."""
    sums: dict[tuple[str, str], Decimal] = {}
    for path in files:
        table = pq.read_table(path).to_pylist()
        for row in table:
            period = f"{row['bill_billing_period_start_date']:%Y-%m-%d}"
            kind = row["line_item_line_item_type"]
            unblended = _exact(repr(row["line_item_unblended_cost"]))
            if kind == "SavingsPlanCoveredUsage":
                amortized = _exact(repr(row["savings_plan_savings_plan_effective_cost"]))
            elif kind == "SavingsPlanNegation":
                amortized = Decimal(0)
            else:
                amortized = unblended
            for column, value in (
                ("unblended_cost", unblended),
                ("amortized_cost", amortized),
                ("net_amortized_cost", amortized),
                ("list_cost", _exact(repr(row["pricing_public_on_demand_cost"]))),
            ):
                sums[period, column] = sums.get((period, column), Decimal(0)) + value
    return sums


def test_athena_layout_with_manifests_elsewhere(tmp_path: Path, data_dir: Path) -> None:
    files = _write_athena_report(tmp_path)
    report = ingest(Settings(data_dir=data_dir), str(tmp_path))

    want = _parquet_sums(files)
    assert want["2024-11-01", "unblended_cost"] == Decimal("1234568.4023456789")
    assert want["2024-12-01", "amortized_cost"] == Decimal("250000.0712345000")
    assert _stored(data_dir) == want
    assert [(d.report, d.format, str(d.billing_period), d.rows) for d in report.deliveries] == [
        (REPORT, "cur1-parquet", "2024-11-01", 3),
        (REPORT, "cur1-parquet", "2024-12-01", 3),
    ]
    tags = _rows(data_dir, "SELECT unblended_cost, tags FROM line_items ORDER BY 1")
    assert [t for _, t in tags] == [
        {},  # -0.096 (December has no resource_tags_user_team column)
        {"team": "core", "aws_created_by": "Root:1"},  # 0.0123456789
        {},  # 0.096
        {},  # 0.5
        {"aws_created_by": "AssumedRole:x"},  # 250000.01
        {"team": "data"},  # 1234567.89
    ]


def test_athena_data_folder_alone_gives_the_same_totals(tmp_path: Path, data_dir: Path) -> None:
    files = _write_athena_report(tmp_path)
    # only <report>/<report>/ (year=/month= folders): no manifest, periods read from the data
    report = ingest(Settings(data_dir=data_dir), str(tmp_path / REPORT / REPORT))
    assert _stored(data_dir) == _parquet_sums(files)
    assert [(d.format, str(d.billing_period)) for d in report.deliveries] == [
        ("cur1-parquet", "2024-11-01"),
        ("cur1-parquet", "2024-12-01"),
    ]


# ---------------------------------------------------------------- legacy CSV variants

BASE = [
    "identity/LineItemId",
    "bill/PayerAccountId",
    "bill/BillingPeriodStartDate",
    "lineItem/UsageAccountId",
    "lineItem/LineItemType",
    "lineItem/UsageStartDate",
    "lineItem/UsageEndDate",
    "lineItem/ProductCode",
    "lineItem/UsageType",
    "lineItem/UsageAmount",
    "lineItem/UnblendedCost",
    "pricing/publicOnDemandCost",
]


def _csv_text(header: list[str], rows: list[dict[str, str]]) -> str:
    start = "2024-11-01T00:00:00Z"
    base = {
        "bill/PayerAccountId": "999999999999",
        "bill/BillingPeriodStartDate": start,
        "lineItem/UsageAccountId": "111111111111",
        "lineItem/LineItemType": "Usage",
        "lineItem/UsageStartDate": start,
        "lineItem/UsageEndDate": start,
        "lineItem/ProductCode": "AmazonEC2",
        "lineItem/UsageType": "USE1-BoxUsage:m5.large",
        "lineItem/UsageAmount": "1",
    }
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([{**base, **row}.get(h, "") for h in header])
    return buf.getvalue()


# file 1: zip of one CSV, BOM, both spellings of the Team tag in one header, a cost category
HEADER_1 = [
    *BASE,
    "resourceTags/user:Team",
    "resourceTags/aws:createdBy",
    "resourceTags/user:team",
    "costCategory/Environment",
]
ROWS_1 = [
    {
        "identity/LineItemId": "a1",
        "lineItem/UnblendedCost": "0.0000004",
        "resourceTags/user:Team": "core",
    },
    {
        "identity/LineItemId": "a2",
        "lineItem/UnblendedCost": "12.3456789012",
        "resourceTags/user:team": "ops",
        "resourceTags/aws:createdBy": "Root:1",
        "costCategory/Environment": "prod",
    },
    {"identity/LineItemId": "a3", "lineItem/LineItemType": "Tax", "lineItem/UnblendedCost": "0.07"},
]
# file 2: gzip, columns in another order, tag header in another case, savingsPlan/* columns
HEADER_2 = [
    "savingsPlan/SavingsPlanEffectiveCost",
    "lineItem/UnblendedCost",
    "resourceTags/user:TEAM",
    *reversed([h for h in BASE if h != "lineItem/UnblendedCost"]),
    "resourceTags/aws:createdBy",
]
ROWS_2 = [
    {
        "identity/LineItemId": "b1",
        "lineItem/LineItemType": "SavingsPlanCoveredUsage",
        "lineItem/UnblendedCost": "0.192",
        "savingsPlan/SavingsPlanEffectiveCost": "0.1224690",
        "resourceTags/user:TEAM": "data",
    },
    {
        "identity/LineItemId": "b2",
        "lineItem/LineItemType": "SavingsPlanNegation",
        "lineItem/UnblendedCost": "-0.192",
    },
    {
        "identity/LineItemId": "b3",
        "lineItem/LineItemType": "Credit",
        "lineItem/UnblendedCost": "-1.5E-2",
        "pricing/publicOnDemandCost": "",
    },
]
# file 3: plain CSV, the first file's column order, no tag column at all
ROWS_3 = [
    {
        "identity/LineItemId": "c1",
        "lineItem/UnblendedCost": "99999.99",
        "pricing/publicOnDemandCost": "120000",
    }
]


def _write_csv_delivery(root: Path) -> dict[str, str]:
    """Three files of one November delivery under its assembly folder + the period manifest.
    Returns each file's CSV text (as the test's source of truth)."""
    folder = root / "cur" / "20241101-20241201" / "asm-1"
    folder.mkdir(parents=True)
    texts = {
        "cur-00001.csv.zip": _csv_text(HEADER_1, ROWS_1),
        "cur-00002.csv.gz": _csv_text(HEADER_2, ROWS_2),
        "cur-00003.csv": _csv_text(BASE, ROWS_3),
    }
    with zipfile.ZipFile(folder / "cur-00001.csv.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("cur-00001.csv", "\ufeff" + texts["cur-00001.csv.zip"])
    (folder / "cur-00002.csv.gz").write_bytes(gzip.compress(texts["cur-00002.csv.gz"].encode()))
    (folder / "cur-00003.csv").write_text(texts["cur-00003.csv"])
    keys = [f"exports/cur/20241101-20241201/asm-1/{name}" for name in texts]
    (root / "cur" / "20241101-20241201" / "cur-Manifest.json").write_text(
        json.dumps({"assemblyId": "asm-1", "reportKeys": keys})
    )
    return texts


def _csv_sums(texts: dict[str, str]) -> dict[tuple[str, str], Decimal]:
    sums = dict.fromkeys(
        [
            ("2024-11-01", c)
            for c in ("unblended_cost", "amortized_cost", "net_amortized_cost", "list_cost")
        ],
        Decimal(0),
    )
    for text in texts.values():
        for row in csv.DictReader(io.StringIO(text)):
            unblended = _exact(row["lineItem/UnblendedCost"])
            amortized = {
                "SavingsPlanCoveredUsage": _exact(
                    row.get("savingsPlan/SavingsPlanEffectiveCost", "")
                ),
                "SavingsPlanNegation": Decimal(0),
            }.get(row["lineItem/LineItemType"], unblended)
            sums["2024-11-01", "unblended_cost"] += unblended
            sums["2024-11-01", "amortized_cost"] += amortized
            sums["2024-11-01", "net_amortized_cost"] += amortized
            sums["2024-11-01", "list_cost"] += _exact(row["pricing/publicOnDemandCost"])
    return sums


def test_legacy_csv_variants_in_one_delivery(tmp_path: Path, data_dir: Path) -> None:
    texts = _write_csv_delivery(tmp_path)
    report = ingest(Settings(data_dir=data_dir), str(tmp_path))

    want = _csv_sums(texts)
    assert want["2024-11-01", "unblended_cost"] == Decimal("100012.3906793012")
    assert want["2024-11-01", "amortized_cost"] == Decimal("100012.5131483012")
    assert _stored(data_dir) == want
    [result] = report.deliveries
    assert (result.format, result.rows, result.status) == ("cur1-csv", 7, "new")
    assert result.totals == {c: v for (_, c), v in want.items()}

    by_cost = dict(_rows(data_dir, "SELECT CAST(unblended_cost AS VARCHAR), tags FROM line_items"))
    assert by_cost == {
        "0.0000004000": {"team": "core"},
        "12.3456789012": {"team": "ops", "aws_created_by": "Root:1"},
        "0.0700000000": {},
        "0.1920000000": {"team": "data"},
        "-0.1920000000": {},
        "-0.0150000000": {},
        "99999.9900000000": {},
    }


def test_legacy_csv_times_with_an_offset_are_stored_in_utc(tmp_path: Path, data_dir: Path) -> None:
    """AWS writes UTC (``Z``); a time with another offset is converted, not read as UTC, and a
    billing period still starts on the day its start names."""
    starts = {
        "z": ("2024-11-01T00:00:00Z", datetime(2024, 11, 1, 0, 0)),
        "west": ("2024-11-01T23:30:00-08:00", datetime(2024, 11, 2, 7, 30)),
        "east": ("2024-11-02T05:00:00+05:30", datetime(2024, 11, 1, 23, 30)),
        "none": ("2024-11-03 12:00:00", datetime(2024, 11, 3, 12, 0)),
    }
    rows = [
        {
            "identity/LineItemId": key,
            "bill/BillingPeriodStartDate": "2024-11-01T00:00:00+05:30",
            "lineItem/UsageStartDate": text,
            "lineItem/UsageEndDate": text,
            "lineItem/UnblendedCost": "1",
        }
        for key, (text, _) in starts.items()
    ]
    folder = tmp_path / "cur" / "20241101-20241201" / "asm-1"
    folder.mkdir(parents=True)
    (folder / "cur-00001.csv").write_text(_csv_text(BASE, rows))
    (tmp_path / "cur" / "20241101-20241201" / "cur-Manifest.json").write_text(
        json.dumps(
            {
                "assemblyId": "asm-1",
                "reportKeys": ["exports/cur/20241101-20241201/asm-1/cur-00001.csv"],
            }
        )
    )
    ingest(Settings(data_dir=data_dir), str(tmp_path))
    stored = _rows(data_dir, "SELECT billing_period, usage_start FROM line_items ORDER BY 2")
    assert stored == [
        (date(2024, 11, 1), utc) for _, utc in sorted(starts.values(), key=lambda v: v[1])
    ]
