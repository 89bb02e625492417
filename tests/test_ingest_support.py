"""Builders of small exports in AWS's documented layouts, for the ingest tests (no tests here).

CUR 2.0: ``<export>/data/BILLING_PERIOD=YYYY-MM/<export>-00001.snappy.parquet`` and
``<export>/metadata/BILLING_PERIOD=YYYY-MM/<export>-Manifest.json`` (``executionId``,
``dataFiles``). Legacy CUR: ``<report>/yyyymmdd-yyyymmdd/[<assemblyId>/]<report>-00001.csv.gz``
with the period manifest ``<report>/yyyymmdd-yyyymmdd/<report>-Manifest.json`` (``assemblyId``,
``reportKeys``). Costs are given as decimal strings and written as the exports write them.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


@dataclass
class Line:
    """One CUR line item (costs as exact decimal strings)."""

    line_item_type: str = "Usage"
    unblended_cost: str = "1.00"
    product_code: str = "AmazonEC2"
    usage_type: str = "USE1-BoxUsage:m5.large"
    resource_id: str = "i-0001"
    account_id: str = "111111111111"
    tags: dict[str, str] = field(default_factory=dict)
    sp_effective_cost: str = "0"
    sp_total_commitment: str = "0"
    sp_used_commitment: str = "0"
    ri_effective_cost: str = "0"
    ri_unused_upfront: str = "0"
    ri_unused_recurring: str = "0"
    reservation_arn: str = ""
    pricing_term: str = "OnDemand"
    public_cost: str = "0"


def _month_end(period: date) -> date:
    return date(period.year + period.month // 12, period.month % 12 + 1, 1)


def cur2_table(period: date, lines: list[Line], payer: str | None = "999999999999") -> pa.Table:
    """A CUR 2.0 Parquet table (costs as DOUBLE, tags and product as maps) of ``payer``."""
    start = datetime(period.year, period.month, 1)
    money = pa.float64()
    cols: dict[str, pa.Array] = {
        "bill_billing_period_start_date": pa.array([start] * len(lines), pa.timestamp("ms")),
        "bill_payer_account_id": pa.array([payer] * len(lines), pa.string()),
        "bill_invoice_id": pa.array([""] * len(lines)),
        "line_item_usage_account_id": pa.array([x.account_id for x in lines]),
        "line_item_usage_account_name": pa.array([f"acct-{x.account_id}" for x in lines]),
        "line_item_line_item_type": pa.array([x.line_item_type for x in lines]),
        "line_item_usage_start_date": pa.array([start] * len(lines), pa.timestamp("ms")),
        "line_item_usage_end_date": pa.array([start] * len(lines), pa.timestamp("ms")),
        "line_item_product_code": pa.array([x.product_code for x in lines]),
        "line_item_usage_type": pa.array([x.usage_type for x in lines]),
        "line_item_operation": pa.array(["RunInstances"] * len(lines)),
        "line_item_resource_id": pa.array([x.resource_id for x in lines]),
        "line_item_usage_amount": pa.array([1.0] * len(lines)),
        "line_item_unblended_cost": pa.array([float(x.unblended_cost) for x in lines], money),
        "pricing_public_on_demand_cost": pa.array([float(x.public_cost) for x in lines], money),
        "pricing_term": pa.array([x.pricing_term for x in lines]),
        "pricing_unit": pa.array(["Hrs"] * len(lines)),
        "product_region_code": pa.array(["us-east-1"] * len(lines)),
        "product_instance_type": pa.array(["m5.large"] * len(lines)),
        "savings_plan_savings_plan_effective_cost": pa.array(
            [float(x.sp_effective_cost) for x in lines], money
        ),
        "savings_plan_total_commitment_to_date": pa.array(
            [float(x.sp_total_commitment) for x in lines], money
        ),
        "savings_plan_used_commitment": pa.array(
            [float(x.sp_used_commitment) for x in lines], money
        ),
        "reservation_effective_cost": pa.array([float(x.ri_effective_cost) for x in lines], money),
        "reservation_unused_amortized_upfront_fee_for_billing_period": pa.array(
            [float(x.ri_unused_upfront) for x in lines], money
        ),
        "reservation_unused_recurring_fee": pa.array(
            [float(x.ri_unused_recurring) for x in lines], money
        ),
        "reservation_reservation_a_r_n": pa.array([x.reservation_arn for x in lines]),
        "resource_tags": pa.array(
            [list(x.tags.items()) for x in lines], pa.map_(pa.string(), pa.string())
        ),
        "product": pa.array(
            [[("servicename", "Amazon Elastic Compute Cloud")] for _ in lines],
            pa.map_(pa.string(), pa.string()),
        ),
    }
    return pa.table(cols)


def write_cur2_export(
    root: Path,
    export: str,
    period: date,
    lines: list[Line],
    execution_id: str,
    *,
    bucket: str = "billing",
    prefix: str = "exports",
    payer: str | None = "999999999999",
) -> list[Path]:
    """One CUR 2.0 delivery of ``period`` under ``root`` (= bucket root + prefix)."""
    part = f"BILLING_PERIOD={period:%Y-%m}"
    data_dir = root / export / "data" / part
    meta_dir = root / export / "metadata" / part
    data_dir.mkdir(parents=True, exist_ok=True)
    meta_dir.mkdir(parents=True, exist_ok=True)
    for old in data_dir.glob("*.parquet"):
        old.unlink()
    data = data_dir / f"{export}-00001.snappy.parquet"
    pq.write_table(cur2_table(period, lines, payer), data, compression="snappy")
    key = f"{prefix}/{export}/data/{part}/{data.name}".lstrip("/")
    manifest = meta_dir / f"{export}-Manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "executionId": execution_id,
                "exportName": export,
                "bucket": bucket,
                "billingPeriod": {
                    "start": f"{period:%Y-%m-%d}T00:00:00.000Z",
                    "end": f"{_month_end(period):%Y-%m-%d}T00:00:00.000Z",
                },
                "dataFiles": [f"s3://{bucket}/{key}"],
            }
        )
    )
    return [data, manifest]


CUR1_HEADER = [
    "identity/LineItemId",
    "bill/PayerAccountId",
    "bill/BillingPeriodStartDate",
    "bill/InvoiceId",
    "lineItem/UsageAccountId",
    "lineItem/LineItemType",
    "lineItem/UsageStartDate",
    "lineItem/UsageEndDate",
    "lineItem/ProductCode",
    "lineItem/UsageType",
    "lineItem/ResourceId",
    "lineItem/UsageAmount",
    "lineItem/UnblendedCost",
    "pricing/publicOnDemandCost",
    "resourceTags/user:CostCenter",
    "resourceTags/aws:createdBy",
]


def cur1_csv_bytes(period: date, lines: list[Line], header: list[str] | None = None) -> bytes:
    """A gzip legacy CUR CSV (``category/Name`` headers), costs written as given."""
    header = header or CUR1_HEADER
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    start = f"{period:%Y-%m-%d}T00:00:00.000Z"
    for i, x in enumerate(lines):
        values = {
            "identity/LineItemId": f"id{i}",
            "bill/PayerAccountId": "999999999999",
            "bill/BillingPeriodStartDate": start,
            "bill/InvoiceId": "",
            "lineItem/UsageAccountId": x.account_id,
            "lineItem/LineItemType": x.line_item_type,
            "lineItem/UsageStartDate": start,
            "lineItem/UsageEndDate": start,
            "lineItem/ProductCode": x.product_code,
            "lineItem/UsageType": x.usage_type,
            "lineItem/ResourceId": x.resource_id,
            "lineItem/UsageAmount": "1.0",
            "lineItem/UnblendedCost": x.unblended_cost,
            "pricing/publicOnDemandCost": x.public_cost,
            "resourceTags/user:CostCenter": x.tags.get("user:CostCenter", ""),
            "resourceTags/aws:createdBy": x.tags.get("aws:createdBy", ""),
        }
        writer.writerow([values.get(h, "") for h in header])
    return gzip.compress(buf.getvalue().encode())


def write_cur1_report(
    root: Path,
    report: str,
    period: date,
    lines: list[Line],
    assembly_id: str,
    *,
    overwrite: bool = False,
    bucket: str = "billing",
    prefix: str = "exports",
) -> Path:
    """A legacy CUR CSV delivery (CREATE_NEW: in ``<assemblyId>/``; OVERWRITE: in the period
    folder) with its period-level manifest; returns the manifest path."""
    period_dir = root / report / f"{period:%Y%m%d}-{_month_end(period):%Y%m%d}"
    data_dir = period_dir if overwrite else period_dir / assembly_id
    data_dir.mkdir(parents=True, exist_ok=True)
    data = data_dir / f"{report}-00001.csv.gz"
    data.write_bytes(cur1_csv_bytes(period, lines))
    rel = data.relative_to(root).as_posix()
    key = f"{prefix}/{rel}".lstrip("/")
    manifest = period_dir / f"{report}-Manifest.json"
    manifest.write_text(
        json.dumps(
            {
                "assemblyId": assembly_id,
                "reportName": report,
                "bucket": bucket,
                "compression": "GZIP",
                "contentType": "text/csv",
                "billingPeriod": {
                    "start": f"{period:%Y%m%d}T000000.000Z",
                    "end": f"{_month_end(period):%Y%m%d}T000000.000Z",
                },
                "reportKeys": [key],
            }
        )
    )
    return manifest


def total(lines: list[Line]) -> Decimal:
    """Exact sum of the lines' unblended cost."""
    return sum((Decimal(x.unblended_cost) for x in lines), Decimal(0))
