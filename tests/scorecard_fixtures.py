"""One set of CUR line items for the scorecard tests, written as CUR 2.0 Parquet, legacy CUR CSV
and legacy CUR Parquet (no tests here).

A ``KpiLine`` carries every column the KPIs read. The writers follow AWS's layouts as
``tests/test_ingest_support.py`` does, so ``ingest`` discovers them from their manifests:

- CUR 2.0: ``<export>/data/BILLING_PERIOD=YYYY-MM/<export>-00001.snappy.parquet`` and
  ``<export>/metadata/BILLING_PERIOD=YYYY-MM/<export>-Manifest.json``; product attributes in the
  ``product`` map (``volume_api_name``, ``volume_type``, ...), tags in ``resource_tags``
  (``user_app``);
- legacy CUR: ``<report>/yyyymmdd-yyyymmdd/<assemblyId>/<report>-00001.csv.gz`` (``category/Name``
  headers, ``resourceTags/user:app``) or ``.snappy.parquet`` (Athena names,
  ``product_volume_api_name``, ``resource_tags_user_app``), with the period manifest
  ``<report>/yyyymmdd-yyyymmdd/<report>-Manifest.json`` listing ``reportKeys``.

Costs are exact decimal strings; CSV writes them as given, Parquet as DOUBLE (as AWS does).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

PAYER = "999999999999"
FORMATS = ("cur2", "cur1-csv", "cur1-parquet")


@dataclass(frozen=True)
class KpiLine:
    """One CUR line item with the columns the scorecards read (costs as exact strings)."""

    period: date
    resource_id: str
    unblended: str
    account: str = "111111111111"
    product_code: str = "AmazonEC2"
    usage_type: str = "USE1-BoxUsage:m5.large"
    operation: str = "RunInstances"
    line_item_type: str = "Usage"
    instance_type: str = ""
    sp_effective_cost: str = "0"
    sp_total_commitment: str = "0"
    sp_used_commitment: str = "0"
    ri_effective_cost: str = "0"
    ri_unused_upfront: str = "0"
    ri_unused_recurring: str = "0"
    public_cost: str = "0"
    usage_amount: str = "1"
    pricing_unit: str = "Hrs"
    volume_api_name: str = ""
    volume_type: str = ""
    """For S3, the storage class as CID reads it (``Standard``, ...)."""
    database_engine: str = ""
    license_model: str = ""
    operating_system: str = ""
    physical_processor: str = ""
    reservation_arn: str = ""
    savings_plan_arn: str = ""
    savings_plan_offering_type: str = ""
    pricing_term: str = "OnDemand"
    region: str = "us-east-1"
    day: int = 1
    tags: dict[str, str] = field(default_factory=dict)
    """User tag keys as written in ``resourceTags/user:<key>``."""

    @property
    def start(self) -> datetime:
        return datetime(self.period.year, self.period.month, self.day)


_TEXT, _MONEY, _NUMBER, _TIME = "text", "money", "number", "time"

# (legacy CSV header, Athena / CUR 2.0 column (None: CUR 2.0 keeps it in `product`),
#  product-map key for CUR 2.0, kind, value)
_Get = Callable[[KpiLine, int], Any]
COLUMNS: tuple[tuple[str, str, str | None, str, _Get], ...] = (
    ("identity/LineItemId", "identity_line_item_id", None, _TEXT, lambda x, i: f"li-{i:05d}"),
    ("bill/PayerAccountId", "bill_payer_account_id", None, _TEXT, lambda x, i: PAYER),
    ("bill/BillingPeriodStartDate", "bill_billing_period_start_date", None, _TIME,
     lambda x, i: datetime(x.period.year, x.period.month, 1)),
    ("bill/InvoiceId", "bill_invoice_id", None, _TEXT, lambda x, i: ""),
    ("lineItem/UsageAccountId", "line_item_usage_account_id", None, _TEXT, lambda x, i: x.account),
    ("lineItem/LineItemType", "line_item_line_item_type", None, _TEXT,
     lambda x, i: x.line_item_type),
    ("lineItem/UsageStartDate", "line_item_usage_start_date", None, _TIME, lambda x, i: x.start),
    ("lineItem/UsageEndDate", "line_item_usage_end_date", None, _TIME, lambda x, i: x.start),
    ("lineItem/ProductCode", "line_item_product_code", None, _TEXT, lambda x, i: x.product_code),
    ("lineItem/UsageType", "line_item_usage_type", None, _TEXT, lambda x, i: x.usage_type),
    ("lineItem/Operation", "line_item_operation", None, _TEXT, lambda x, i: x.operation),
    ("lineItem/ResourceId", "line_item_resource_id", None, _TEXT, lambda x, i: x.resource_id),
    ("lineItem/UsageAmount", "line_item_usage_amount", None, _NUMBER,
     lambda x, i: x.usage_amount),
    ("lineItem/UnblendedCost", "line_item_unblended_cost", None, _MONEY,
     lambda x, i: x.unblended),
    ("pricing/publicOnDemandCost", "pricing_public_on_demand_cost", None, _MONEY,
     lambda x, i: x.public_cost),
    ("pricing/term", "pricing_term", None, _TEXT, lambda x, i: x.pricing_term),
    ("pricing/unit", "pricing_unit", None, _TEXT, lambda x, i: x.pricing_unit),
    ("product/servicecode", "product_servicecode", "servicecode", _TEXT,
     lambda x, i: x.product_code),
    ("product/regionCode", "product_region_code", "region_code", _TEXT, lambda x, i: x.region),
    ("product/instanceType", "product_instance_type", "instance_type", _TEXT,
     lambda x, i: x.instance_type),
    ("product/volumeApiName", "product_volume_api_name", "volume_api_name", _TEXT,
     lambda x, i: x.volume_api_name),
    ("product/volumeType", "product_volume_type", "volume_type", _TEXT,
     lambda x, i: x.volume_type),
    ("product/databaseEngine", "product_database_engine", "database_engine", _TEXT,
     lambda x, i: x.database_engine),
    ("product/licenseModel", "product_license_model", "license_model", _TEXT,
     lambda x, i: x.license_model),
    ("product/operatingSystem", "product_operating_system", "operating_system", _TEXT,
     lambda x, i: x.operating_system),
    ("product/physicalProcessor", "product_physical_processor", "physical_processor", _TEXT,
     lambda x, i: x.physical_processor),
    ("savingsPlan/SavingsPlanEffectiveCost", "savings_plan_savings_plan_effective_cost", None,
     _MONEY, lambda x, i: x.sp_effective_cost),
    ("savingsPlan/TotalCommitmentToDate", "savings_plan_total_commitment_to_date", None, _MONEY,
     lambda x, i: x.sp_total_commitment),
    ("savingsPlan/UsedCommitment", "savings_plan_used_commitment", None, _MONEY,
     lambda x, i: x.sp_used_commitment),
    ("savingsPlan/SavingsPlanARN", "savings_plan_savings_plan_a_r_n", None, _TEXT,
     lambda x, i: x.savings_plan_arn),
    ("savingsPlan/OfferingType", "savings_plan_offering_type", None, _TEXT,
     lambda x, i: x.savings_plan_offering_type),
    ("reservation/EffectiveCost", "reservation_effective_cost", None, _MONEY,
     lambda x, i: x.ri_effective_cost),
    ("reservation/UnusedAmortizedUpfrontFeeForBillingPeriod",
     "reservation_unused_amortized_upfront_fee_for_billing_period", None, _MONEY,
     lambda x, i: x.ri_unused_upfront),
    ("reservation/UnusedRecurringFee", "reservation_unused_recurring_fee", None, _MONEY,
     lambda x, i: x.ri_unused_recurring),
    ("reservation/ReservationARN", "reservation_reservation_a_r_n", None, _TEXT,
     lambda x, i: x.reservation_arn),
)  # fmt: skip
"""Every column written, in the three spellings."""


def _month_end(period: date) -> date:
    return date(period.year + period.month // 12, period.month % 12 + 1, 1)


def _tag_keys(lines: Iterable[KpiLine]) -> list[str]:
    return sorted({k for x in lines for k in x.tags})


def _arrow(kind: str, values: list[Any]) -> pa.Array:
    if kind in (_MONEY, _NUMBER):
        return pa.array([float(v) for v in values], pa.float64())
    if kind == _TIME:
        return pa.array(values, pa.timestamp("ms"))
    return pa.array(values, pa.string())


def cur2_table(lines: list[KpiLine]) -> pa.Table:
    """CUR 2.0: flat columns, product attributes in the ``product`` map, tags in
    ``resource_tags`` (``user_<key>``)."""
    cols: dict[str, pa.Array] = {}
    product: list[list[tuple[str, str]]] = [
        [("servicename", "Amazon " + x.product_code)] for x in lines
    ]
    for _, name, key, kind, get in COLUMNS:
        values = [get(x, i) for i, x in enumerate(lines)]
        if key is None:
            cols[name] = _arrow(kind, values)
        else:
            for entries, value in zip(product, values, strict=True):
                if value != "":
                    entries.append((key, value))
    cols["line_item_usage_account_name"] = pa.array([f"acct-{x.account}" for x in lines])
    cols["product"] = pa.array(product, pa.map_(pa.string(), pa.string()))
    cols["resource_tags"] = pa.array(
        [[(f"user_{k}", v) for k, v in x.tags.items()] for x in lines],
        pa.map_(pa.string(), pa.string()),
    )
    return pa.table(cols)


def cur1_parquet_table(lines: list[KpiLine]) -> pa.Table:
    """Legacy CUR Parquet: Athena names, one ``resource_tags_user_<key>`` column per key."""
    cols = {
        name: _arrow(kind, [get(x, i) for i, x in enumerate(lines)])
        for _, name, _, kind, get in COLUMNS
    }
    for key in _tag_keys(lines):
        cols[f"resource_tags_user_{key}"] = pa.array([x.tags.get(key, "") for x in lines])
    return pa.table(cols)


def cur1_csv_bytes(lines: list[KpiLine]) -> bytes:
    """Legacy CUR gzip CSV: ``category/Name`` headers, ``resourceTags/user:<key>``."""
    keys = _tag_keys(lines)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([c[0] for c in COLUMNS] + [f"resourceTags/user:{k}" for k in keys])
    for i, x in enumerate(lines):
        row = []
        for _, _, _, kind, get in COLUMNS:
            value = get(x, i)
            row.append(f"{value:%Y-%m-%dT%H:%M:%SZ}" if kind == _TIME else str(value))
        writer.writerow(row + [x.tags.get(k, "") for k in keys])
    return gzip.compress(buf.getvalue().encode())


def write_cur2(root: Path, period: date, lines: list[KpiLine], export: str = "kpi-cur2") -> None:
    """One CUR 2.0 delivery of ``period`` under ``root``."""
    part = f"BILLING_PERIOD={period:%Y-%m}"
    data_dir, meta_dir = root / export / "data" / part, root / export / "metadata" / part
    data_dir.mkdir(parents=True, exist_ok=True)
    meta_dir.mkdir(parents=True, exist_ok=True)
    data = data_dir / f"{export}-00001.snappy.parquet"
    pq.write_table(cur2_table(lines), data, compression="snappy")
    manifest = {
        "executionId": f"exec-{period:%Y%m}",
        "exportName": export,
        "bucket": "billing",
        "billingPeriod": {
            "start": f"{period:%Y-%m-%d}T00:00:00.000Z",
            "end": f"{_month_end(period):%Y-%m-%d}T00:00:00.000Z",
        },
        "dataFiles": [f"s3://billing/{export}/data/{part}/{data.name}"],
    }
    (meta_dir / f"{export}-Manifest.json").write_text(json.dumps(manifest))


def write_cur1(
    root: Path, period: date, lines: list[KpiLine], *, parquet: bool, report: str = "kpi-cur1"
) -> None:
    """One legacy CUR delivery (CREATE_NEW: in ``<assemblyId>/``) with its period manifest."""
    period_dir = root / report / f"{period:%Y%m%d}-{_month_end(period):%Y%m%d}"
    assembly = f"asm-{period:%Y%m}"
    data_dir = period_dir / assembly
    data_dir.mkdir(parents=True, exist_ok=True)
    if parquet:
        data = data_dir / f"{report}-00001.snappy.parquet"
        pq.write_table(cur1_parquet_table(lines), data, compression="snappy")
    else:
        data = data_dir / f"{report}-00001.csv.gz"
        data.write_bytes(cur1_csv_bytes(lines))
    manifest = {
        "assemblyId": assembly,
        "reportName": report,
        "bucket": "billing",
        "compression": "Parquet" if parquet else "GZIP",
        "contentType": "application/x-parquet" if parquet else "text/csv",
        "billingPeriod": {
            "start": f"{period:%Y%m%d}T000000.000Z",
            "end": f"{_month_end(period):%Y%m%d}T000000.000Z",
        },
        "reportKeys": [data.relative_to(root).as_posix()],
    }
    (period_dir / f"{report}-Manifest.json").write_text(json.dumps(manifest))
    if parquet:
        status = root / report / "cost_and_usage_data_status"
        status.mkdir(parents=True, exist_ok=True)
        pq.write_table(
            pa.table({"status": ["READY"]}), status / "cost_and_usage_data_status.parquet"
        )


def write_export(root: Path, fmt: str, lines: list[KpiLine]) -> Path:
    """Every billing period of ``lines`` as one delivery each in ``fmt``; returns ``root``."""
    periods = sorted({x.period for x in lines})
    for period in periods:
        mine = [x for x in lines if x.period == period]
        if fmt == "cur2":
            write_cur2(root, period, mine)
        elif fmt in ("cur1-csv", "cur1-parquet"):
            write_cur1(root, period, mine, parquet=fmt == "cur1-parquet")
        else:
            raise ValueError(fmt)
    return root
