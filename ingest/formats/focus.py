"""FOCUS 1.0 (CSV or Parquet), as AWS's Data Exports or any FOCUS producer writes it.

The FOCUS sample writes nulls as ``NULL`` and ``Tags`` as a JSON object string with messy keys;
both are handled. ``line_item_type`` is derived from ChargeCategory, the commitment type and the
charge frequency; FOCUS has no instance type column.
"""

from __future__ import annotations

from pathlib import Path

from costlens.schema import PRODUCT_ATTRIBUTES
from ingest.formats._cur import MARKERS as _CUR_MARKERS
from ingest.formats.readers import FileKind, reader_sql
from ingest.normalize import (
    Columns,
    Part,
    column,
    double,
    line_items_select,
    money,
    purchase_option_sql,
    text,
    timestamp,
)
from ingest.tag_maps import NO_TAGS, Tags, tags_from_json_sql, tags_from_map_sql

NAME = "focus"
REQUIRED = ("BilledCost", "BillingPeriodStart", "ChargePeriodStart", "ChargeCategory")
RESERVATION_TYPES = ("Reservation", "Reserved Instance")
"""``CommitmentDiscountType`` values of a reservation: Microsoft's spelling and AWS's."""


def recognizes(columns: Columns, path: Path) -> bool:
    """FOCUS: its cost and period columns, and no CUR column."""
    return bool(set(columns) & {"BilledCost", "ChargePeriodStart", "BillingPeriodStart"}) and not (
        any("/" in n for n in columns) or set(columns) & _CUR_MARKERS
    )


def missing_columns(columns: Columns) -> list[str]:
    """Required columns absent from ``columns``."""
    return [c for c in REQUIRED if c not in columns]


def tag_source(columns: Columns, kind: FileKind) -> Tags:
    """The ``tags`` column and where its keys come from (``ingest.tag_maps``)."""
    tags_type = columns.get("Tags")
    if tags_type is None:
        return NO_TAGS
    reader = reader_sql(kind, focus=True)
    if tags_type.startswith("MAP"):
        return tags_from_map_sql('"Tags"', reader)
    return tags_from_json_sql('"Tags"', reader)


def _reserved(commitment: str) -> str:
    return f"{commitment} IN ({', '.join(repr(t) for t in RESERVATION_TYPES)})"


def _line_item_type(category: str, commitment: str, frequency: str) -> str:
    """The CUR line item type of a FOCUS charge: RI and Savings Plan usage and fees (a one-time
    purchase is an upfront fee), else the ChargeCategory."""
    reserved = _reserved(commitment)
    return (
        f"CASE WHEN {category} = 'Usage' AND {reserved} THEN 'DiscountedUsage'"
        f" WHEN {category} = 'Usage' AND {commitment} = 'Savings Plan'"
        " THEN 'SavingsPlanCoveredUsage'"
        f" WHEN {category} = 'Purchase' AND {frequency} = 'One-Time'"
        f" AND {commitment} = 'Savings Plan' THEN 'SavingsPlanUpfrontFee'"
        f" WHEN {category} = 'Purchase' AND {frequency} = 'One-Time' THEN 'Fee'"
        f" WHEN {category} = 'Purchase' AND {reserved} THEN 'RIFee'"
        f" WHEN {category} = 'Purchase' AND {commitment} = 'Savings Plan'"
        " THEN 'SavingsPlanRecurringFee'"
        f" WHEN {category} = 'Purchase' THEN 'Fee'"
        f" ELSE {category} END"
    )


def build_sql(columns: Columns, kind: FileKind) -> str:
    """``SELECT`` of ``line_items`` columns from FOCUS files in ``$files``.

    Text columns follow ``first_text`` (empty, NULL and absent are all ''), with the fallbacks
    of the CUR formats: the service code falls back to the service name and back.
    """
    commitment = text(columns, "CommitmentDiscountType")
    line_item_type = _line_item_type(
        column(columns, "ChargeCategory"),
        column(columns, "CommitmentDiscountType"),
        column(columns, "ChargeFrequency"),
    )
    spot = f"{column(columns, 'PricingCategory')} = 'Dynamic'"
    tags = tag_source(columns, kind)
    effective = money(columns, "EffectiveCost" if "EffectiveCost" in columns else "BilledCost")
    code, name = text(columns, "x_ServiceCode"), text(columns, "ServiceName")
    parts: dict[str, Part] = {
        "billing_period": "CAST(date_trunc('month', "
        f"{timestamp(columns, 'BillingPeriodStart', as_written=True)}) AS DATE)",
        "usage_start": timestamp(columns, "ChargePeriodStart"),
        "usage_end": timestamp(columns, "ChargePeriodEnd"),
        "payer_account_id": text(columns, "BillingAccountId"),
        "account_id": text(columns, "SubAccountId"),
        "account_name": text(columns, "SubAccountName"),
        "invoice_id": text(columns, "InvoiceId"),
        "line_item_type": line_item_type,
        "charge_category": (text(columns, "ChargeCategory"), "'Adjustment'"),
        "service_code": (code, name),
        "service_name": (name, code),
        "region": text(columns, "RegionId"),
        "usage_type": text(columns, "x_UsageType"),
        "operation": text(columns, "x_Operation"),
        "resource_id": text(columns, "ResourceId"),
        "instance_type": (),
        **{name: () for name in PRODUCT_ATTRIBUTES},  # FOCUS has no product attributes
        "commitment_discount_id": text(columns, "CommitmentDiscountId"),
        "commitment_discount_type": (
            f"CASE WHEN {_reserved(commitment)} THEN 'Reservation' ELSE {commitment} END",
        ),
        "commitment_offering_type": (),
        "purchase_option": purchase_option_sql(line_item_type, spot),
        "usage_amount": double(columns, "ConsumedQuantity"),
        "pricing_unit": text(columns, "PricingUnit"),
        "unblended_cost": money(columns, "BilledCost"),
        "amortized_cost": effective,
        "net_amortized_cost": effective,
        "list_cost": money(columns, "ListCost"),
        "tags": tags.expr,
    }
    select = line_items_select(parts)
    return f"SELECT\n  {select}\nFROM {tags.select_from(reader_sql(kind, focus=True))}"
