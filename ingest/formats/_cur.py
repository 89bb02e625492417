"""The mapping shared by every CUR flavour once its columns carry Athena-style names.

CUR 2.0 and legacy Parquet name columns ``line_item_unblended_cost``; legacy CSV headers
(``lineItem/UnblendedCost``) are renamed to the same names first (``cur1_csv``). Only the tags
differ: CUR 2.0 has a ``resource_tags`` map, legacy CUR one ``resource_tags_*`` column per key.
"""

from __future__ import annotations

from pathlib import Path

from costlens.schema import PRODUCT_ATTRIBUTES
from ingest.normalize import (
    Columns,
    Part,
    amortized_cost_sql,
    charge_category_sql,
    column,
    double,
    json_text,
    line_items_select,
    money,
    money_or_null,
    purchase_option_sql,
    quote,
    text,
    timestamp,
)

MARKERS = frozenset(
    {
        "line_item_unblended_cost",
        "line_item_line_item_type",
        "bill_billing_period_start_date",
        "identity_line_item_id",
    }
)
"""Columns one of which every CUR with Athena-style names has (CUR 2.0, legacy Parquet)."""


def is_cur2(columns: Columns, path: Path) -> bool:
    """Whether Athena-style CUR columns are CUR 2.0's: a ``resource_tags`` or ``product`` map,
    else (a CSV of CUR 2.0, all text) no legacy ``resource_tags_*`` column and either CUR 2.0's
    ``BILLING_PERIOD=`` folder or a ``resource_tags`` column."""
    if not set(columns) & MARKERS:
        return False
    if {n for n, t in columns.items() if t.startswith("MAP")} & {"resource_tags", "product"}:
        return True
    if any(n.startswith("resource_tags_") for n in columns):
        return False
    return "/data/BILLING_PERIOD=" in path.as_posix() or "resource_tags" in columns


REQUIRED = (
    "bill_billing_period_start_date",
    "line_item_line_item_type",
    "line_item_unblended_cost",
    "line_item_usage_start_date",
)
"""Columns without which a CUR file cannot be loaded."""


def _storage_class(columns: Columns) -> tuple[str, ...]:
    """``storage_class``: for S3 the product's volume type, as AWS's KPI dashboard reads it
    (``Standard``, ``Standard - Infrequent Access``, ...; its storage class says ``General
    Purpose``), else the storage class. The other ``PRODUCT_ATTRIBUTES`` are named as the CUR
    names them (``product_<name>``, or the key of CUR 2.0's ``product`` map)."""
    volume_type = ", ".join(f"NULLIF({c}, '')" for c in _product(columns, "volume_type"))
    s3 = f"{text(columns, 'line_item_product_code')} IN ('AmazonS3', 'AmazonGlacier')"
    return (f"CASE WHEN {s3} THEN COALESCE({volume_type}) END", *_product(columns, "storage_class"))


def _product(columns: Columns, name: str) -> tuple[str, ...]:
    """A product attribute's candidates (for ``first_text``): its own column (legacy, CUR 2.0
    static), then the key of the ``product`` map (CUR 2.0 Parquet) or of its JSON text (CUR 2.0
    CSV). ``name`` is a fixed identifier."""
    flat = text(columns, f"product_{name}")
    kind = columns.get("product")
    if kind is None:
        return (flat,)
    if kind.startswith("MAP"):
        return (flat, f"map_extract_value(\"product\", '{name}')")
    return (flat, f"json_extract_string({json_text(quote('product'))}, '$.{name}')")


def _amortized(columns: Columns, *, net: bool) -> str:
    def cost(gross: str, net_name: str | None = None) -> str:
        # A line's empty net value (no discount computed for it) means its gross value.
        if net and net_name is not None and net_name in columns:
            return f"COALESCE({money_or_null(columns, net_name)}, {money(columns, gross)})"
        return money(columns, gross)

    return amortized_cost_sql(
        line_item_type=column(columns, "line_item_line_item_type"),
        unblended_cost=cost("line_item_unblended_cost", "line_item_net_unblended_cost"),
        sp_effective_cost=cost(
            "savings_plan_savings_plan_effective_cost",
            "savings_plan_net_savings_plan_effective_cost",
        ),
        sp_total_commitment_to_date=money(columns, "savings_plan_total_commitment_to_date"),
        sp_used_commitment=money(columns, "savings_plan_used_commitment"),
        reservation_effective_cost=cost(
            "reservation_effective_cost", "reservation_net_effective_cost"
        ),
        reservation_unused_upfront=cost(
            "reservation_unused_amortized_upfront_fee_for_billing_period",
            "reservation_net_unused_amortized_upfront_fee_for_billing_period",
        ),
        reservation_unused_recurring=cost(
            "reservation_unused_recurring_fee", "reservation_net_unused_recurring_fee"
        ),
        reservation_arn=column(columns, "reservation_reservation_a_r_n"),
    )


def select_list(columns: Columns, tags_sql: str) -> str:
    """The SELECT list producing ``line_items`` (without ``delivery_id``) from CUR columns.

    Text columns follow ``first_text`` (empty, NULL and absent are all ''); the tuples are
    fallbacks, the same as FOCUS's: the service code falls back to the service name and the
    service name to the code, the region code to the region.
    """
    line_item_type = column(columns, "line_item_line_item_type")
    has_net = "line_item_net_unblended_cost" in columns
    codes = (text(columns, "line_item_product_code"), *_product(columns, "servicecode"))
    names = (*_product(columns, "servicename"), *_product(columns, "product_name"))
    reservation_arn = text(columns, "reservation_reservation_a_r_n")
    savings_plan_arn = text(columns, "savings_plan_savings_plan_a_r_n")
    parts: dict[str, Part] = {
        "billing_period": "CAST(date_trunc('month', "
        f"{timestamp(columns, 'bill_billing_period_start_date', as_written=True)}) AS DATE)",
        "usage_start": timestamp(columns, "line_item_usage_start_date"),
        "usage_end": timestamp(columns, "line_item_usage_end_date"),
        "payer_account_id": text(columns, "bill_payer_account_id"),
        "account_id": text(columns, "line_item_usage_account_id"),
        "account_name": text(columns, "line_item_usage_account_name"),
        "invoice_id": text(columns, "bill_invoice_id"),
        "line_item_type": text(columns, "line_item_line_item_type"),
        "charge_category": charge_category_sql(line_item_type),
        "service_code": (*codes, *names),
        "service_name": (*names, *codes),
        "region": (*_product(columns, "region_code"), *_product(columns, "region")),
        "usage_type": text(columns, "line_item_usage_type"),
        "operation": text(columns, "line_item_operation"),
        "resource_id": text(columns, "line_item_resource_id"),
        "instance_type": _product(columns, "instance_type"),
        **{
            name: _storage_class(columns) if name == "storage_class" else _product(columns, name)
            for name in PRODUCT_ATTRIBUTES
        },
        "commitment_discount_id": (reservation_arn, savings_plan_arn),
        "commitment_discount_type": (
            f"CASE WHEN {reservation_arn} <> '' THEN 'Reservation'"
            f" WHEN {savings_plan_arn} <> '' THEN 'Savings Plan' END",
        ),
        "commitment_offering_type": (
            text(columns, "savings_plan_offering_type"),
            f"CASE WHEN {reservation_arn} <> '' THEN {text(columns, 'pricing_offering_class')} END",
        ),
        "purchase_option": purchase_option_sql(
            line_item_type,
            f"{column(columns, 'pricing_term')} = 'Spot'"
            f" OR {column(columns, 'line_item_usage_type')} LIKE '%SpotUsage%'",
        ),
        "usage_amount": double(columns, "line_item_usage_amount"),
        "pricing_unit": text(columns, "pricing_unit"),
        "unblended_cost": money(columns, "line_item_unblended_cost"),
        "amortized_cost": _amortized(columns, net=False),
        "net_amortized_cost": _amortized(columns, net=True) if has_net else "amortized_cost",
        "list_cost": money(columns, "pricing_public_on_demand_cost"),
        "tags": tags_sql,
    }
    return line_items_select(parts)
