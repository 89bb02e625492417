"""FOCUS 1.0 (CSV or Parquet), as AWS's Data Exports or any FOCUS producer writes it.

The FOCUS sample writes nulls as ``NULL`` and ``Tags`` as a JSON object string with messy keys;
both are handled. ``line_item_type`` is derived from ChargeCategory and the commitment type.
"""

from __future__ import annotations

from ingest.formats.readers import FileKind, reader_sql
from ingest.normalize import (
    Columns,
    column,
    double,
    money,
    text,
    timestamp,
)
from ingest.tag_maps import NO_TAGS, Tags, tags_from_json_sql, tags_from_map_sql

NAME = "focus"
REQUIRED = ("BilledCost", "BillingPeriodStart", "ChargePeriodStart", "ChargeCategory")


def missing_columns(columns: Columns) -> list[str]:
    """Required columns absent from ``columns``."""
    return [c for c in REQUIRED if c not in columns]


def _tags(columns: Columns) -> Tags:
    kind = columns.get("Tags")
    if kind is None:
        return NO_TAGS
    if kind.startswith("MAP"):
        return tags_from_map_sql('"Tags"')
    return tags_from_json_sql('"Tags"')


def build_sql(columns: Columns, kind: FileKind) -> str:
    """``SELECT`` of ``line_items`` columns from FOCUS files in ``$files``."""
    category = column(columns, "ChargeCategory")
    commitment = column(columns, "CommitmentDiscountType")
    pricing = column(columns, "PricingCategory")
    line_item_type = (
        f"CASE WHEN {category} = 'Usage' AND {commitment} = 'Reservation' THEN 'DiscountedUsage'"
        f" WHEN {category} = 'Usage' AND {commitment} = 'Savings Plan'"
        " THEN 'SavingsPlanCoveredUsage'"
        f" WHEN {category} = 'Purchase' AND {commitment} = 'Reservation' THEN 'RIFee'"
        f" WHEN {category} = 'Purchase' AND {commitment} = 'Savings Plan'"
        " THEN 'SavingsPlanRecurringFee'"
        f" WHEN {category} = 'Purchase' THEN 'Fee'"
        f" ELSE {category} END"
    )
    purchase_option = (
        f"CASE WHEN {commitment} = 'Reservation' THEN 'Reserved'"
        f" WHEN {commitment} = 'Savings Plan' THEN 'SavingsPlan'"
        f" WHEN {pricing} = 'Dynamic' THEN 'Spot' ELSE 'OnDemand' END"
    )
    tags = _tags(columns)
    effective = money(columns, "EffectiveCost" if "EffectiveCost" in columns else "BilledCost")
    parts = {
        "billing_period": "CAST(date_trunc('month', "
        f"{timestamp(columns, 'BillingPeriodStart', as_written=True)}) AS DATE)",
        "usage_start": timestamp(columns, "ChargePeriodStart"),
        "usage_end": timestamp(columns, "ChargePeriodEnd"),
        "payer_account_id": text(columns, "BillingAccountId"),
        "account_id": text(columns, "SubAccountId"),
        "account_name": text(columns, "SubAccountName"),
        "invoice_id": text(columns, "InvoiceId", "''"),
        "line_item_type": line_item_type,
        "charge_category": f"COALESCE({category}, 'Adjustment')",
        "service_code": f"COALESCE({text(columns, 'x_ServiceCode')}, "
        f"{text(columns, 'ServiceName')})",
        "service_name": text(columns, "ServiceName"),
        "region": text(columns, "RegionId", "''"),
        "usage_type": text(columns, "x_UsageType", "''"),
        "operation": text(columns, "x_Operation", "''"),
        "resource_id": text(columns, "ResourceId", "''"),
        "instance_type": "CAST(NULL AS VARCHAR)",
        "purchase_option": purchase_option,
        "usage_amount": double(columns, "ConsumedQuantity"),
        "pricing_unit": text(columns, "PricingUnit"),
        "unblended_cost": money(columns, "BilledCost"),
        "amortized_cost": effective,
        "net_amortized_cost": effective,
        "list_cost": money(columns, "ListCost"),
        "tags": tags.expr,
    }
    select = ",\n  ".join(f"{expr} AS {name}" for name, expr in parts.items())
    return f"SELECT\n  {select}\nFROM {tags.select_from(reader_sql(kind, focus=True))}"
